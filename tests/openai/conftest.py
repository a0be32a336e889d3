"""OpenAI helpers: the loopback Costs and Usage API with generated bills, a credential for it, and the
raw and FOCUS rows of a downloaded read."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest

from cloudact_cli.convert import convert_files
from cloudact_providers.connector import ResolvedCredential
from cloudact_providers.loopback import Running, serving
from cloudact_providers.openai.loopback import OpenAIBills, openai_api
from cloudact_providers.openai.synthetic import MONTH, ORGANIZATION_ID, ORGANIZATION_NAME, bills
from tests.rawrows import raw_rows as shared_raw_rows

ADMIN_KEY = "sk-admin-Test0Key0c4f1e9b2a7d"


@pytest.fixture
def served() -> OpenAIBills:
    """A month of three projects' bills, answered for ``ADMIN_KEY``."""
    return OpenAIBills(bills(MONTH), ADMIN_KEY)


@pytest.fixture
def running(served: OpenAIBills) -> Iterator[Running]:
    with serving(openai_api(served)) as server:
        yield server


def credential(running: Running, key: str = ADMIN_KEY, **config: str) -> ResolvedCredential:
    """A credential for the loopback API (fast retries unless the test says otherwise)."""
    base = {
        "organization_id": ORGANIZATION_ID,
        "organization_name": ORGANIZATION_NAME,
        "endpoint": running.url,
        "max_retries": "2",
    }
    return ResolvedCredential("cred-openai", "openai", {**base, **config}, {"admin_api_key": key})


def raw_rows(path: Path) -> list[dict[str, Any]]:
    """The rows ``build_raw_select`` makes of one file (a fixed lineage)."""
    return shared_raw_rows("openai", path, "openai-read")


def focus_rows(files: list[Path], directory: Path) -> list[dict[str, Any]]:
    """The FOCUS rows ``cloudact convert --provider openai`` makes of ``files`` (none quarantined)."""
    output = directory / "focus.parquet"
    result = convert_files("openai", files, output, threads=2)
    assert result.rows_quarantined == 0, result.quarantine_reasons
    with duckdb.connect() as con:
        con.execute("SET TimeZone = 'UTC'")
        cursor = con.execute(f"SELECT * FROM read_parquet('{output}')")
        names = [d[0] for d in cursor.description or []]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
