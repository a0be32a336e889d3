"""Stages export files: parse, type and check every row, and split good rows from bad.

The staging SELECT (``StagingQuery``) and the quarantine count (``QuarantineTally``) are the one
staging step of both the pipeline and ``cloudact convert``: each file goes through its provider's
raw SELECT, the run's lineage and each delivery's month are bound as DuckDB variables (never pasted
into the SQL), and quarantined rows are counted by reason, from the very rows set aside (so a count
is always its quarantine's size). The pipeline validates everything into
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
import re
import threading
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TypeVar

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from duckdb.func import FunctionNullHandling, PythonUDFType

from cloudact_providers.connector import RawSelectBuilder
from cloudact_providers.fileerrors import short_reason
from cloudact_providers.rawselect import lenient_scan_needed, scan_leniently
from cloudact_shared import duck
from cloudact_shared.errors import FailedPrecondition
from cloudact_shared.lineage import Lineage
from cloudact_shared.storage.batches import fixed_size_tables, read_ahead
from cloudact_shared.storage.schema import TableSchema

KEEP_ROW = "cloudact_keep_row"
"""The SQL function ``RowsSeen.register`` adds: true for a good row, noting that rows went by."""
# Row-level reasons carry the offending value after ": "; counts group by the reason without it.
_REASON_VALUE = re.compile(r": '.*$", re.DOTALL)
_T = TypeVar("_T")
_STAGED_IPC = pa.ipc.IpcWriteOptions(compression="lz4")
# How DuckDB's parse failures begin when they reach us as the Arrow stream's OSError.
_PARSE_ERRORS = ("Invalid Input Error", "Conversion Error")
_DELIVERY_PERIODS = "cloudact_delivery_periods"
_QUARANTINE_COLUMNS = (
    "{period} AS billing_period, source_object, _source_row_number AS source_row_number, "
    "_quarantine_reason AS reason, coalesce(_record, '{{}}') AS record, ingestion_date, "
    "x_pipeline_id, x_credential_id, x_run_id, x_ingested_at, x_pipeline_run_date"
)


@dataclass(frozen=True)
class ExportFile:
    """One export file on local disk, and what its rows and errors call it."""

    path: Path
    source_object: str
    """The name recorded on its rows and given in errors (``SourceObject.uri``), never the local path."""
    billing_period: date | None = None
    """The month its delivery restates: its rows of another month are quarantined (None: not checked)."""


class StagingQuery:
    """The staging SELECT of some export files on one DuckDB connection.

    Binds the run's lineage and the files' delivery months as the connection's variables, which
    the SQL reads with ``getvariable``; the SQL text holds no value of the run.
    """

    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        files: Sequence[ExportFile],
        raw_select: RawSelectBuilder,
        lineage: Lineage,
    ) -> None:
        self._con = con
        self._files = files
        self._raw_select = raw_select
        duck.set_lineage(con, lineage)
        self._checked = any(f.billing_period is not None for f in files)
        if self._checked:
            con.execute(f"SET VARIABLE {_DELIVERY_PERIODS} = ?", [[f.billing_period for f in files]])

    def sql(self, *, row_numbers: bool = True, reasons: bool = True) -> str:
        """Every file's raw rows, one relation (the ``RawSelectBuilder`` columns).

        Args:
            row_numbers: number each file's rows (``_source_row_number``); unnumbered CSV files
                scan in parallel (see ``RawSelectBuilder``).
            reasons: give quarantined rows their reasons and records; without, a bad row's reason
                only says it is set aside (see ``RawSelectBuilder``).

        Returns:
            A SELECT of the raw SELECTs' columns; when the files have delivery months, a row of
            another month gets a quarantine reason and every row ``_object_period``: a run only
            replaces the months it was asked for, so such a row would otherwise escape its slice.

        Raises:
            FailedPrecondition: a file is empty, has no rows, or is not an export of the provider.
        """
        selects = [self._select(index, file, row_numbers, reasons) for index, file in enumerate(self._files)]
        union = " UNION ALL BY NAME ".join(selects)
        if not self._checked:
            return union
        return (
            "SELECT * REPLACE (CASE WHEN _quarantine_reason IS NULL AND billing_period <> _object_period "
            "THEN 'row billing period ' || billing_period || ' differs from its delivery''s period ' "
            f"|| _object_period ELSE _quarantine_reason END AS _quarantine_reason) FROM ({union})"
        )

    def _select(self, index: int, file: ExportFile, row_numbers: bool, reasons: bool) -> str:
        raw = self._raw_select(
            self._con, file.path, source_object=file.source_object, row_numbers=row_numbers, reasons=reasons
        )
        if not self._checked:
            return f"({raw})"
        # DuckDB lists count from 1.
        return f"(SELECT *, getvariable('{_DELIVERY_PERIODS}')[{index + 1}] AS _object_period FROM ({raw}))"


class QuarantineTally:
    """Counts quarantined rows by reason, the offending value stripped.

    Thread-safe: batches may be counted from several threads at once.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()

    def add(self, reasons: pa.Array | pa.ChunkedArray) -> None:
        """Counts the non-null reasons of one batch."""
        if reasons.null_count == len(reasons):
            return
        found = pc.value_counts(reasons.drop_null()).to_pylist()
        with self._lock:
            for item in found:
                self._counts[_REASON_VALUE.sub("", item["values"])] += item["counts"]

    def by_kind(self) -> dict[str, int]:
        """Counts by reason, most frequent first."""
        with self._lock:
            return dict(sorted(self._counts.items(), key=lambda kv: (-kv[1], kv[0])))


class RowsSeen:
    """Whether any staged row, and any quarantined one, went by a filter: flags, never counts.

    The filter ``register`` adds sits under whatever reads the staged rows next; a FOCUS mapping
    may read them twice (Azure's does), and DuckDB then evaluates the filter twice per row. A flag
    stays right however often a row is seen; the exact count comes from the rows set aside.
    Thread-safe: DuckDB calls the function from several threads at once.
    """

    def __init__(self) -> None:
        self.rows = False
        self.quarantined = False

    def register(self, con: duckdb.DuckDBPyConnection) -> None:
        """Adds ``KEEP_ROW(_quarantine_reason)`` to ``con``: the keep-mask of each vector, noted here.

        As a filter it notes quarantined rows within the one pass that drops them: a file with none
        is read once; only one with some is read again, to set them aside (a third of the
        conversion at 1M rows).
        """
        con.create_function(
            KEEP_ROW,
            self._keep,
            [duckdb.sqltype("VARCHAR")],
            duckdb.sqltype("BOOLEAN"),
            type=PythonUDFType.ARROW,
            null_handling=FunctionNullHandling.SPECIAL,  # a NULL reason (a good row) must reach the function too
            side_effects=True,  # so DuckDB neither folds nor re-evaluates it
        )

    def _keep(self, reasons: pa.Array) -> pa.Array:
        # Plain assignments of True: no lock needed, any order gives the same flags.
        if len(reasons):
            self.rows = True
        if reasons.null_count != len(reasons):
            self.quarantined = True
        return pc.is_null(reasons)


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


@contextlib.contextmanager
def named_file_errors(files: Sequence[ExportFile], scratch: Path) -> Iterator[None]:
    """Turns a failure to read one of ``files`` into FailedPrecondition naming its source object.

    A file that passed its header check can still fail further in (a bad byte, a broken gzip
    stream), as a DuckDB error or, once streaming, as the Arrow stream's OSError; DuckDB names the
    local file, which maps the server's disk. Anything else (out of memory or disk) is not the
    source's fault and leaves unchanged.

    Raises:
        FailedPrecondition: ``UNREADABLE_FILE``, naming the file by its source object (or no
            file, for a parse failure that names none), and ``scratch`` as ``<run>``.
    """
    try:
        yield
    except (duckdb.Error, OSError, pa.ArrowException) as exc:
        if (error := _unreadable(exc, files, scratch)) is None:
            raise
        raise error from None


def _unreadable(exc: Exception, files: Sequence[ExportFile], scratch: Path) -> FailedPrecondition | None:
    text = str(exc)
    for file in files:
        if str(file.path) in text:
            name = _shown(file)
            reason = short_reason(text.replace(str(file.path), name)) or type(exc).__name__
            return FailedPrecondition(f"{name}: cannot be read: {reason}", reason="UNREADABLE_FILE")
    if isinstance(exc, duckdb.InvalidInputException | duckdb.ConversionException) or text.startswith(_PARSE_ERRORS):
        for file in files:
            text = text.replace(str(file.path), _shown(file))
        reason = short_reason(text.replace(str(scratch), "<run>")) or type(exc).__name__
        return FailedPrecondition(f"a source file cannot be read: {reason}", reason="UNREADABLE_FILE")
    return None


def _shown(file: ExportFile) -> str:
    """How errors name a file: its source object without a parser hint (``#dataset=...``)."""
    name = file.source_object
    return name.partition("#")[0] if "#dataset=" in name else name


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
