"""Synthetic tiny ledgers (the throwaway's ``SyntheticGenerator``), and the ledger its tests validate."""

from __future__ import annotations

from pathlib import Path

SERVICES = (("compute", "12.50"), ("storage", "3.25"), ("support", "1.00"))
"""(service, amount) of each line, in turn; ``support`` is not in the reference CSV on purpose."""


def generate(directory: Path, rows: int) -> Path:
    """A January 2025 ledger of ``rows`` lines, one day after another, the services in turn."""
    path = directory / f"ledger-2025-01-{rows}.tiny"
    lines = ["day;service;amount;currency;account"]
    for n in range(rows):
        service, amount = SERVICES[n % len(SERVICES)]
        lines.append(f"2025-01-{1 + n % 31:02d};{service};{amount};eur;acct-{n % 2}")
    path.write_text("\n".join(lines) + "\n")
    return path


def ledger_sample(directory: Path) -> list[Path]:
    """The conformance sample: twelve lines (a ``SampleWriter``)."""
    return [generate(directory, 12)]
