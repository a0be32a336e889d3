"""Staging streams: the staging SELECT has no blocking operator, the staged files are written and
read back a fixed number of rows at a time, and the rows set aside are streamed too."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, date, datetime
from pathlib import Path

from cloudact_providers.aws import formats as aws_formats
from cloudact_shared.lineage import Lineage
from cloudact_shared.storage import load_schema
from ingest_svc.adapters.staging import stage_files, staging_connection, stream_row_numbers
from ingest_svc.adapters.staging_query import ExportFile, StagingQuery

LEGACY = Path(__file__).resolve().parents[1] / "data" / "aws" / "legacy_small.csv"
NOV = date(2023, 11, 1)
# Box titles of DuckDB's physical plan: "Window" materialises its whole input, "Streaming Window" does not.
_OPERATOR = re.compile(r"[╭┌]─ ([A-Za-z_ ]+?) ─")


def _lineage() -> Lineage:
    return Lineage("aws/cost/billing", str(uuid.uuid4()), str(uuid.uuid4()), datetime.now(UTC), date.today())


def _copies(count: int) -> list[ExportFile]:
    return [ExportFile(LEGACY, f"s3://acme-billing/cur/part-{n}.csv", NOV) for n in range(count)]


def test_the_numbered_staging_select_streams(tmp_path: Path) -> None:
    con = staging_connection("256MB", tmp_path)
    try:
        stream_row_numbers(con)
        sql = StagingQuery(con, _copies(2), aws_formats.build_raw_select, _lineage()).sql(row_numbers=True)
        [(_, plan)] = con.execute(f"EXPLAIN {sql}").fetchall()
    finally:
        con.close()

    operators = _OPERATOR.findall(plan)
    assert "Streaming Window" in operators  # the row numbers
    assert not {"Window", "Order", "Hash Join", "Hash Group By"} & set(operators), operators


def test_staged_files_are_written_and_read_in_batches_of_the_plan(tmp_path: Path) -> None:
    staged = stage_files(
        _copies(6),  # 24 rows: 6 good, 18 set aside
        _lineage(),
        tmp_path,
        load_schema("cloud_aws_billing_raw_daily"),
        aws_formats.build_raw_select,
        memory_limit="256MB",
        batch_rows=5,
    )

    good = list(staged.good_rows())
    assert staged.rows_read == 24
    assert sum(b.num_rows for b in good) == staged.rows_good
    assert len(good) > 1 and all(b.num_rows <= 5 for b in good)
    assert all(b.num_rows <= 2 for b in staged.good_rows(2))

    quarantined = list(staged.quarantined_rows(load_schema("cloud_aws_billing_quarantine")))
    assert sum(b.num_rows for b in quarantined) == staged.rows_quarantined
    assert len(quarantined) > 1 and all(b.num_rows <= 5 for b in quarantined)
