"""Anthropic helpers: the loopback Admin API with generated bills, a credential for it, and the raw and
FOCUS rows of a downloaded read."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pytest

from cloudact_cli.convert import convert_files
from cloudact_providers.anthropic.loopback import AnthropicBills, anthropic_api
from cloudact_providers.anthropic.synthetic import MONTH, bills
from cloudact_providers.connector import ResolvedCredential
from cloudact_providers.loopback import Running, serving
from tests.rawrows import raw_rows as shared_raw_rows

ADMIN_KEY = "sk-ant-admin01-Test0Key0c4f1e9b2a7d"
NOW = datetime(2026, 12, 5, 3, 0, tzinfo=UTC)
"""The clock of the tests' runs: November 2026 is a past month the analytics API serves."""


@pytest.fixture
def served() -> AnthropicBills:
    """A month of three workspaces' bills, answered for ``ADMIN_KEY``."""
    return AnthropicBills(bills(MONTH), ADMIN_KEY)


@pytest.fixture
def running(served: AnthropicBills) -> Iterator[Running]:
    with serving(anthropic_api(served)) as server:
        yield server


def credential(running: Running, key: str = ADMIN_KEY, **config: str) -> ResolvedCredential:
    """A credential for the loopback API (fast retries unless the test says otherwise)."""
    return ResolvedCredential(
        "cred-anthropic", "anthropic", {"endpoint": running.url, "max_retries": "2", **config}, {"admin_api_key": key}
    )


def raw_rows(path: Path) -> list[dict[str, Any]]:
    """The rows ``build_raw_select`` makes of one file (a fixed lineage)."""
    return shared_raw_rows("anthropic", path, "anthropic-read")


def focus_rows(files: list[Path], directory: Path) -> list[dict[str, Any]]:
    """The FOCUS rows ``cloudact convert --provider anthropic`` makes of ``files`` (none quarantined)."""
    output = directory / "focus.parquet"
    result = convert_files("anthropic", files, output, threads=2)
    assert result.rows_quarantined == 0, result.quarantine_reasons
    with duckdb.connect() as con:
        con.execute("SET TimeZone = 'UTC'")
        cursor = con.execute(f"SELECT * FROM read_parquet('{output}')")
        names = [d[0] for d in cursor.description or []]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
