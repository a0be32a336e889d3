"""Stages downloaded export files through DuckDB: parse, type, check, and split good rows from bad.

Everything is validated into one local Parquet file before any table is touched, so a bad file
fails the run with nothing written, and the raw/quarantine writes then stream from that file.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa

from cloudact_shared import duck
from cloudact_shared.lineage import Lineage
from cloudact_shared.storage.schema import TableSchema
from ingest_svc.connectors.aws_formats import build_raw_select
from ingest_svc.connectors.base import SourceObject

# Row-level reasons carry the offending value after ": "; counts group by the reason without it.
_REASON_KIND = "regexp_replace(_quarantine_reason, ': ''.*$', '')"


@dataclass(frozen=True)
class StagedFiles:
    """The staged rows of one run: counts, and readers for the good and the quarantined rows."""

    rows_read: int
    rows_good: int
    rows_quarantined: int
    quarantine: dict[str, int]
    _con: duckdb.DuckDBPyConnection
    _path: Path

    def good_rows(self, schema: TableSchema, batch_rows: int) -> pa.RecordBatchReader:
        """Streams the rows that load, in the raw table's column order (con.sql streams; execute() would copy)."""
        columns = ", ".join(f'"{c}"' for c in schema.column_names)
        sql = f"SELECT {columns} FROM read_parquet(?) WHERE _quarantine_reason IS NULL"
        return self._con.sql(sql, params=[str(self._path)]).to_arrow_reader(batch_rows)

    def quarantined_rows(self, batch_rows: int) -> pa.RecordBatchReader:
        """Streams the rows set aside, with their reason and original record."""
        sql = (
            "SELECT _object_period AS billing_period, source_object, _source_row_number AS source_row_number, "
            "_quarantine_reason AS reason, coalesce(_record, '{}') AS record, ingestion_date, "
            "x_pipeline_id, x_credential_id, x_run_id, x_ingested_at, x_pipeline_run_date "
            "FROM read_parquet(?) WHERE _quarantine_reason IS NOT NULL"
        )
        return self._con.sql(sql, params=[str(self._path)]).to_arrow_reader(batch_rows)

    def close(self) -> None:
        self._con.close()


def stage_files(
    files: Sequence[tuple[Path, SourceObject]], lineage: Lineage, work_dir: Path, *, memory_limit: str
) -> StagedFiles:
    """Parses every file into ``work_dir/staged.parquet`` and counts good and quarantined rows.

    A row whose billing period differs from its delivery's month is quarantined: a run only
    replaces the months it was asked for, so such a row would otherwise escape its slice.
    """
    con = duck.connect(memory_limit=memory_limit, temp_dir=work_dir / "spill")
    duck.set_lineage(con, lineage)
    selects = [
        f"SELECT *, DATE '{obj.billing_period.isoformat()}' AS _object_period "
        f"FROM ({build_raw_select(con, path, source_object=obj.uri)})"
        for path, obj in files
    ]
    checked = (
        "SELECT * REPLACE (CASE WHEN _quarantine_reason IS NULL AND billing_period <> _object_period "
        "THEN 'row billing period ' || billing_period || ' differs from its delivery''s period ' "
        "|| _object_period ELSE _quarantine_reason END AS _quarantine_reason) "
        f"FROM ({' UNION ALL '.join(selects)})"
    )
    staged = work_dir / "staged.parquet"
    duck.unordered(con)
    con.execute(f"COPY ({checked}) TO '{staged}' (FORMAT parquet, COMPRESSION zstd)")
    duck.unordered(con, False)  # the readers below stream to Arrow: keep memory bounded
    [(total, good)] = con.execute(
        "SELECT count(*), count(*) FILTER (WHERE _quarantine_reason IS NULL) FROM read_parquet(?)",
        [str(staged)],
    ).fetchall()
    reasons = con.execute(
        f"SELECT {_REASON_KIND} AS kind, count(*) FROM read_parquet(?) "
        "WHERE _quarantine_reason IS NOT NULL GROUP BY kind ORDER BY 2 DESC, 1",
        [str(staged)],
    ).fetchall()
    return StagedFiles(int(total), int(good), int(total) - int(good), {r: int(n) for r, n in reasons}, con, staged)
