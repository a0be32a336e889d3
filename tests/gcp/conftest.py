"""GCP helpers: nested export files, raw -> FOCUS without the registry, and bqemulator export tables."""

from __future__ import annotations

import json
import tempfile
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from google.cloud import bigquery

from cloudact_cli.bigquery_emulator import (
    BigQueryEmulator,
    bigquery_emulator,
    bqemulator_available,
    create_billing_export_table,
    load_export_rows,
    throwaway_service_account,
)
from cloudact_providers.gcp.formats import build_raw_select
from cloudact_providers.gcp.synthetic import (
    NESTED_SCHEMA,
    as_standard,
    nested_rows,
    standard_schema,
    write_nested_parquet,
)
from cloudact_shared import duck
from cloudact_shared.lineage import Lineage
from focus_svc import conversion
from tests.conftest import KOKU_GCP
from tests.rawrows import raw_rows as shared_raw_rows

KOKU = KOKU_GCP


def write_nested_jsonl(path: Path) -> Path:
    """BigQuery's JSON extract: timestamps as 'YYYY-MM-DD HH:MM:SS UTC', numbers as JSON numbers."""
    lines = []
    for row in nested_rows():
        row = dict(row)
        for key in ("usage_start_time", "usage_end_time", "export_time"):
            row[key] = row[key].strftime("%Y-%m-%d %H:%M:%S UTC")
        lines.append(json.dumps(row, default=str))
    path.write_text("\n".join(lines) + "\n")
    return path


def gcp_to_focus(inputs: list[Path], output: Path) -> dict[str, int]:
    """The file path of ``cloudact convert --provider gcp`` (raw SELECT -> FOCUS mapping), without the registry.

    Returns quarantine reasons (value stripped) -> count.
    """
    with tempfile.TemporaryDirectory() as spill:
        con = duck.connect(memory_limit="640MB", temp_dir=Path(spill), threads=None)
        try:
            conversion.set_lineage(con, Lineage.new_run("gcp/cost/billing", "local-files"))
            conversion.prepare(con)
            selects = [f"({build_raw_select(con, p, source_object=str(p))})" for p in inputs]
            con.execute(f"CREATE TEMP VIEW raw_all AS {' UNION ALL BY NAME '.join(selects)}")
            con.execute("CREATE TEMP VIEW raw_good AS SELECT * FROM raw_all WHERE _quarantine_reason IS NULL")
            reasons = con.execute(
                "SELECT regexp_replace(_quarantine_reason, ': ''.*$', ''), count(*) FROM raw_all "
                "WHERE _quarantine_reason IS NOT NULL GROUP BY 1"
            ).fetchall()
            select = conversion.focus_select_sql("gcp", "raw_good")
            con.execute(f"COPY ({select}) TO '{output}' (FORMAT parquet)")
        finally:
            con.close()
    return {str(r[0]): int(r[1]) for r in reasons}


@pytest.fixture
def nested_parquet(tmp_path: Path) -> Path:
    return write_nested_parquet(tmp_path / "gcp_billing_export_resource_v1.parquet")


def raw_rows(path: Path) -> list[dict[str, Any]]:
    """The rows ``build_raw_select`` makes of one file (a fixed lineage)."""
    return shared_raw_rows("gcp", path, str(path))


# -- BigQuery (bqemulator) -------------------------------------------------------------------------
ACCOUNT = "0123AB_CDEF01_234567"


@pytest.fixture(scope="session")
def bq() -> Iterator[BigQueryEmulator]:
    """bqemulator on a free loopback port for the session; each test makes its own dataset."""
    assert bqemulator_available(), "bqemulator is not installed: run `make install` (it builds .venv-bqemulator)"
    with bigquery_emulator() as emulator:
        yield emulator


@pytest.fixture(scope="session")
def service_account_key(bq: BigQueryEmulator) -> dict[str, str]:
    return throwaway_service_account(bq.project)


@dataclass
class ExportTable:
    """A billing export table in the emulator, and the credential config that points at it."""

    emulator: BigQueryEmulator
    client: bigquery.Client
    table: bigquery.Table
    detailed: bool

    def config(self, **override: str) -> dict[str, str]:
        config = {
            "project": self.emulator.project,
            "dataset": self.table.dataset_id,
            "table": self.table.table_id,
            "api_endpoint": self.emulator.endpoint,
            "retry_seconds": "0",
        }
        return {**config, **override}

    def load(self, rows: Sequence[dict[str, Any]]) -> None:
        load_export_rows(self.client, self.table, [r if self.detailed else as_standard(r) for r in rows])


def new_export_table(emulator: BigQueryEmulator, *, detailed: bool = True) -> ExportTable:
    """An empty export table named like Google's, in a dataset of its own."""
    client = emulator.client()
    dataset = f"billing_{uuid.uuid4().hex[:12]}"
    name = f"gcp_billing_export_{'resource_v1' if detailed else 'v1'}_{ACCOUNT}"
    schema = NESTED_SCHEMA if detailed else standard_schema()
    table = create_billing_export_table(client, f"{emulator.project}.{dataset}.{name}", schema)
    return ExportTable(emulator, client, table, detailed)


@pytest.fixture
def export_table(bq: BigQueryEmulator) -> ExportTable:
    return new_export_table(bq)
