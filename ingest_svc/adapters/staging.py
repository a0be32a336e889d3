"""Stages export files: parse, type and check every row, and split good rows from bad.

The staging SELECT (``StagingQuery``) and the quarantine count (``QuarantineTally``), in
``staging_query``, are the one staging step of both the pipeline and ``cloudact convert``. The
pipeline validates everything into
local files before any table is touched (``stage_files``), so a bad file fails the run with
nothing written, and the raw/quarantine writes then stream from those files; the CLI streams the
good rows of the same SELECT straight into the FOCUS conversion. pyarrow writes the staging files,
because DuckDB's Parquet writer is slow on the raw table's map columns (measured: 15.5 s for 300k
CUR 2.0 rows, against ~2 s here). The good rows go to an lz4 Arrow IPC stream, not Parquet: they
are read once, straight back into the raw table's Parquet files, and encoding them twice cost more
than the disk it saves (measured at 1M legacy CUR rows: 1.3 s to write and 0.5 s to read, 420 MB,
against 3.1 s and 2.3 s, 76 MB). The few quarantined rows stay Parquet, which DuckDB reads.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from cloudact_providers.connector import RawSelectBuilder
from cloudact_providers.rawselect import lenient_scan_needed, scan_leniently
from cloudact_shared import duck
from cloudact_shared.lineage import Lineage
from cloudact_shared.storage.batches import fixed_size_tables, read_ahead
from cloudact_shared.storage.schema import TableSchema
from ingest_svc.adapters.staging_query import ExportFile, QuarantineTally, StagingQuery, named_file_errors

_T = TypeVar("_T")
_STAGED_IPC = pa.ipc.IpcWriteOptions(compression="lz4")
_QUARANTINE_COLUMNS = (
    "{period} AS billing_period, source_object, _source_row_number AS source_row_number, "
    "_quarantine_reason AS reason, coalesce(_record, '{{}}') AS record, ingestion_date, "
    "x_pipeline_id, x_credential_id, x_run_id, x_ingested_at, x_pipeline_run_date"
)


@dataclass(frozen=True)
class StagedFiles:
    """The staged rows of one run: counts, and readers for the good and the quarantined rows."""

    rows_read: int
    rows_good: int
    rows_quarantined: int
    quarantine: dict[str, int]
    _good: Path
    _bad: Path
    _batch_rows: int
    """Rows per batch of the staged files and of their readers."""
    _memory_limit: str
    """DuckDB's memory limit when reading the quarantined rows."""

    def good_rows(self, batch_rows: int | None = None) -> pa.RecordBatchReader:
        """Streams the rows that load, in the raw table's column order, at most ``batch_rows`` at a
        time (default: as staged)."""
        source = pa.ipc.open_stream(pa.OSFile(str(self._good)))
        most = batch_rows or self._batch_rows
        pieces = (part for batch in source for part in pa.Table.from_batches([batch]).to_batches(max_chunksize=most))
        return pa.RecordBatchReader.from_batches(source.schema, pieces)

    def quarantined_rows(self, schema: TableSchema) -> pa.RecordBatchReader:
        """Streams the rows set aside, with their reason and original record.

        Streamed, not read whole: a bad export can set aside every one of its rows.
        """
        if not self._bad.exists():
            return pa.RecordBatchReader.from_batches(schema.arrow_schema(), [])
        # A row's slice is its delivery's month when the files have one (the pipeline's always do).
        period = "_object_period" if "_object_period" in pq.read_schema(self._bad).names else "billing_period"
        con = duck.connect(memory_limit=self._memory_limit, temp_dir=self._bad.parent / "spill")
        try:
            relation = con.sql(
                f"SELECT {_QUARANTINE_COLUMNS.format(period=period)} FROM read_parquet($path)",
                params={"path": str(self._bad)},
            )
            assert relation is not None
            reader = relation.to_arrow_reader(self._batch_rows)
        except BaseException:
            con.close()
            raise
        return pa.RecordBatchReader.from_batches(reader.schema, _closing_when_read(reader, con))


def _closing_when_read(reader: pa.RecordBatchReader, con: duckdb.DuckDBPyConnection) -> Iterator[pa.RecordBatch]:
    """``reader``'s batches; ``con``, which produces them, is closed once they are read (or dropped)."""
    try:
        yield from reader
    finally:
        con.close()


def staging_connection(memory_limit: str, work_dir: Path) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection for the staging SELECT, spilling to ``work_dir/spill``."""
    return duck.connect(memory_limit=memory_limit, temp_dir=work_dir / "spill")


def stream_row_numbers(con: duckdb.DuckDBPyConnection) -> None:
    """Keeps the row-number window of the numbered staging SELECT streaming on ``con``.

    DuckDB turns a long IN list (the raw SELECT's currency codes) into a hash join, and a window
    above a join no longer streams: it then held every row of the file (measured: 1.3 GB at 1M
    legacy CUR rows, up to DuckDB's limit, then spilled; 490 MB without). Only for the numbered
    pass: unnumbered, the join is the faster plan (1 s of CPU at 1M rows).
    """
    con.execute("SET disabled_optimizers = 'in_clause'")


def stage_files(
    files: Sequence[ExportFile],
    lineage: Lineage,
    work_dir: Path,
    raw_schema: TableSchema,
    raw_select: RawSelectBuilder,
    *,
    memory_limit: str,
    batch_rows: int,
) -> StagedFiles:
    """Parses every file into ``work_dir/good.arrows`` and ``work_dir/bad.parquet`` and counts them.

    Two passes, as ``cloudact convert`` stages: the first, unnumbered and without reasons, keeps
    the good rows and scans CSV files in parallel (a row-number window orders the whole pass onto
    one thread, and a reason makes DuckDB read every column; measured at 1M legacy CUR rows: 11.7 s
    numbered); only when it set rows aside does a second, numbered pass write them with their
    reasons, as the quarantine table keeps them.

    Raises:
        FailedPrecondition: a file is empty, not an export, or cannot be parsed; the message names
            its source object, never the local path it was downloaded to.
    """
    con = staging_connection(memory_limit, work_dir)
    try:
        with named_file_errors(files, work_dir):
            query = StagingQuery(con, files, raw_select, lineage)
            passes = _Passes(con, query, work_dir, batch_rows)
            good, bad, reasons = _leniently_if_refused(con, lambda: passes.run(raw_schema.arrow_schema()))
        rows_bad = sum(reasons.values())
        if rows_bad != bad:
            raise RuntimeError(f"staging set aside {bad} rows, then {rows_bad} with their reasons")
        return StagedFiles(good + bad, good, bad, reasons, passes.good_path, passes.bad_path, batch_rows, memory_limit)
    finally:
        con.close()


def _leniently_if_refused(con: duckdb.DuckDBPyConnection, stage: Callable[[], _T]) -> _T:
    """``stage()``; when DuckDB refuses the fast scan of a CSV file (a quoted line break, mixed line
    endings), ``stage()`` again with the connection's CSV reads lenient (see ``rawselect.reading``),
    which writes the staged files anew."""
    try:
        return stage()
    except (duckdb.Error, OSError, pa.ArrowException) as exc:  # streamed: DuckDB's error as Arrow's
        if not lenient_scan_needed(exc):
            raise
    scan_leniently(con)
    return stage()


class _Passes:
    """The staging passes over one connection's staging SELECT, streamed ``batch_rows`` at a time."""

    def __init__(self, con: duckdb.DuckDBPyConnection, query: StagingQuery, work_dir: Path, batch_rows: int) -> None:
        self._con = con
        self._query = query
        self._batch_rows = batch_rows
        self.good_path = work_dir / "good.arrows"
        self.bad_path = work_dir / "bad.parquet"

    def run(self, target: pa.Schema) -> tuple[int, int, dict[str, int]]:
        """Writes the staged files anew; returns the good rows, the rows set aside, and those by reason."""
        self.bad_path.unlink(missing_ok=True)  # a refused attempt's
        good, bad = self._keep_good(target)
        reasons = self._set_aside() if bad else {}
        return good, bad, reasons

    def _keep_good(self, target: pa.Schema) -> tuple[int, int]:
        """First pass: the good rows to ``good.arrows``; returns them and the rows set aside."""
        good, bad = 0, 0
        unnumbered = self._query.sql(row_numbers=False, reasons=False)
        with (
            self._streamed(unnumbered) as tables,
            pa.ipc.new_stream(str(self.good_path), target, options=_STAGED_IPC) as writer,
        ):
            for rows in tables:
                kept = rows.filter(pc.is_null(rows.column("_quarantine_reason")))
                writer.write_table(kept.select(target.names).cast(target))
                good += kept.num_rows
                bad += rows.num_rows - kept.num_rows
        return good, bad

    def _set_aside(self) -> dict[str, int]:
        """Second pass: the rows set aside, numbered and with their reasons, to ``bad.parquet``;
        returns them counted by reason."""
        tally = QuarantineTally()
        stream_row_numbers(self._con)
        # The window numbering the rows is a barrier: the filter stays above it, over numbered rows.
        numbered = f"SELECT * FROM ({self._query.sql(row_numbers=True)}) WHERE _quarantine_reason IS NOT NULL"
        writer: pq.ParquetWriter | None = None
        try:
            with self._streamed(numbered) as tables:
                for rows in tables:
                    tally.add(rows.column("_quarantine_reason"))
                    writer = writer or pq.ParquetWriter(self.bad_path, rows.schema)
                    writer.write_table(rows, row_group_size=self._batch_rows)
        finally:
            if writer is not None:
                writer.close()
        return tally.by_kind()

    @contextlib.contextmanager
    def _streamed(self, sql: str) -> Iterator[Iterator[pa.Table]]:
        """``sql``'s rows in tables of ``batch_rows``, the next batch read ahead meanwhile; on exit
        the read-ahead thread is done with DuckDB's stream, so the connection may close."""
        # Streamed in order (the default): unordered parallel producers would buffer ahead of us.
        reader = self._con.sql(sql).to_arrow_reader(self._batch_rows)
        with contextlib.closing(read_ahead(reader)) as batches:
            yield fixed_size_tables(batches, self._batch_rows)
