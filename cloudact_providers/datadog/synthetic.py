"""Synthetic Datadog cost answers: what the loopback server serves and the tests and benchmarks read.

``month_elements`` builds the ``data[]`` of a cost answer for one month, in Datadog's JSON shape
(``cost_by_org`` elements, charges nested, USD as JSON numbers with cents), per organization of one
parent account: per product a ``committed`` and an ``on_demand`` charge and their ``total`` (which
Datadog's answers carry too, and which FOCUS leaves out). An estimate is the same month scaled down
(month to date), so a test can tell it from the final answer. ``generate`` and ``sample`` write what
the connector writes: JSON lines, one record per charge (``formats.charge_records``).

Deterministic: the same arguments give the same answer and the same bytes.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from cloudact_providers.datadog.formats import ESTIMATED, HISTORICAL, charge_records

_CENT = Decimal("0.01")


@dataclass(frozen=True)
class Org:
    """A Datadog organization: its name, public id and site region."""

    name: str
    public_id: str
    region: str = "us"


ACCOUNT = Org("Acme Corp", "f6a1c2d3e4b5a697")
"""The parent organization billed (``account_*`` on every element)."""
ORGS = (
    ACCOUNT,
    Org("Acme Payments", "0b1c2d3e4f5a6b7c"),
    Org("Acme Analytics EU", "9e8d7c6b5a4f3e2d", "eu"),
    Org("Acme Labs", "1a2b3c4d5e6f7a8b"),
)
PRODUCTS = (
    ("infra_host", Decimal("1500")),
    ("apm_host", Decimal("900")),
    ("logs_indexed", Decimal("420")),
    ("ingested_spans", Decimal("130")),
    ("containers", Decimal("85")),
    ("rum", Decimal("60")),
    ("cws", Decimal("240")),
    ("synthetics_api_tests", Decimal("45")),
    ("observability_pipelines", Decimal("30")),  # not in the reference: named as Datadog names it
)
"""Products billed, with a month's typical cost (USD) for the first organization."""


def month_elements(
    month: date, *, orgs: int = 2, products: int = 4, estimate: bool = False, seed: int = 0
) -> list[dict[str, Any]]:
    """The ``data[]`` of Datadog's cost answer for ``month`` (``view=sub-org``): one element per organization.

    Args:
        month: the first day of the month.
        orgs: organizations of the account (1..4; the first is the parent itself).
        products: products each organization uses (1..9).
        estimate: a month-to-date estimate: each cost about 40% of the final one.
        seed: varies the costs.
    """
    if not 1 <= orgs <= len(ORGS) or not 1 <= products <= len(PRODUCTS):
        raise ValueError(f"orgs must be 1..{len(ORGS)} and products 1..{len(PRODUCTS)}")
    rng = random.Random(f"{month:%Y-%m}/{seed}/{'estimate' if estimate else 'final'}")
    share = Decimal("0.4") if estimate else Decimal(1)
    elements = []
    for number, org in enumerate(ORGS[:orgs]):
        charges: list[dict[str, Any]] = []
        for product, typical in PRODUCTS[:products]:
            base = typical / (number + 1) * share
            committed = (base * Decimal(rng.randint(50, 90)) / 100).quantize(_CENT)
            on_demand = (base * Decimal(rng.randint(0, 40)) / 100).quantize(_CENT)
            for charge_type, cost in (("committed", committed), ("on_demand", on_demand)):
                charges.append({"product_name": product, "charge_type": charge_type, "cost": float(cost)})
            charges.append({"product_name": product, "charge_type": "total", "cost": float(committed + on_demand)})
        total = sum((Decimal(str(c["cost"])) for c in charges if c["charge_type"] != "total"), Decimal(0))
        elements.append(
            {
                "id": f"{org.public_id}-{month:%Y%m}",
                "type": "cost_by_org",
                "attributes": {
                    "account_name": ACCOUNT.name,
                    "account_public_id": ACCOUNT.public_id,
                    "org_name": org.name,
                    "public_id": org.public_id,
                    "region": org.region,
                    "date": f"{month:%Y-%m}-01T00:00:00Z",
                    "total_cost": float(total),
                    "charges": charges,
                },
            }
        )
    return elements


def write_records(path: Path, answers: Iterable[tuple[list[dict[str, Any]], str]]) -> Path:
    """Writes the JSON lines the connector writes for ``answers`` (elements and the endpoint that answered)."""
    with path.open("w", encoding="utf-8") as out:
        for elements, source in answers:
            for element in elements:
                for record in charge_records(element, source):
                    out.write(json.dumps(record, separators=(",", ":")) + "\n")
    return path


def generate(directory: Path, rows: int) -> Path:
    """A cost file of at least ``rows`` charges FOCUS keeps (``total`` charges come on top): final
    months from January 2025 on, four organizations each."""
    directory.mkdir(parents=True, exist_ok=True)
    answers: list[tuple[list[dict[str, Any]], str]] = []
    kept, index = 0, 0
    while kept < rows:
        month = date(2025 + index // 12, index % 12 + 1, 1)
        elements = month_elements(month, orgs=len(ORGS), products=len(PRODUCTS), seed=index)
        answers.append((elements, HISTORICAL))
        kept += sum(1 for e in elements for c in e["attributes"]["charges"] if c["charge_type"] != "total")
        index += 1
    return write_records(directory / f"datadog-cost-{rows}.jsonl", answers)


def sample(directory: Path) -> list[Path]:
    """The conformance sample: a final month and the estimate of the next, for three organizations
    (two regions) and every product, one of them outside the reference table."""
    directory.mkdir(parents=True, exist_ok=True)
    answers = [
        (month_elements(date(2026, 1, 1), orgs=3, products=len(PRODUCTS)), HISTORICAL),
        (month_elements(date(2026, 2, 1), orgs=3, products=len(PRODUCTS), estimate=True), ESTIMATED),
    ]
    return [write_records(directory / "datadog-cost-sample.jsonl", answers)]
