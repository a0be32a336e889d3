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
from cloudact_providers.openai.formats import build_raw_select
from cloudact_providers.openai.loopback import OpenAIBills, openai_api
from cloudact_providers.openai.synthetic import MONTH, ORGANIZATION_ID, ORGANIZATION_NAME, bills

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
    """The rows (good and quarantined) ``build_raw_select`` makes of one downloaded read."""
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    for name, value in {
        "ingestion_date": "2026-12-01",
        "x_pipeline_id": "openai/cost/billing",
        "x_credential_id": "c",
        "x_run_id": "r",
        "x_ingested_at": "2026-12-01 00:00:00+00",
        "x_pipeline_run_date": "2026-12-01",
    }.items():
        con.execute(f"SET VARIABLE {name} = '{value}'")
    cursor = con.execute(build_raw_select(con, path, source_object="openai-read"))
    names = [d[0] for d in cursor.description or []]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


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
