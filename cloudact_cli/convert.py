"""Converts local billing export files straight to a FOCUS 1.3 file, in-process (no services).

The pipeline's own two steps, fused into one statement: ingest_svc's staging SELECT
(``StagingQuery``: the provider's raw SELECT per file, lineage bound as variables, quarantined rows
dropped), then focus_svc's conversion (``focus_select_sql``), streamed by
DuckDB into one Parquet or CSV file with bounded memory. No raw table in between: nothing is kept,
so only the raw values the conversion reads are parsed and checked (``conversion.raw_columns_read``);
a row is set aside when one of those does not parse, never for a value it does not convert.

Quarantined rows are counted where they are written: only when the conversion saw some (its first
pass stops at the first; a second notes them with ``RowsSeen``) are the files read again, numbered,
and the rows set aside both go to ``OUTPUT.quarantine.csv`` and make the count
(``QuarantineTally``), so the count is the file's size whatever the mapping does.
"""

from __future__ import annotations

import contextlib
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import duckdb

from cloudact_providers.rawselect import lenient_scan_needed, optimism_refused, scan_leniently
from cloudact_providers.registry import registration
from cloudact_shared import duck
from cloudact_shared.errors import InvalidArgument
from cloudact_shared.lineage import Lineage
from focus_svc import conversion
from ingest_svc.adapters.staging_query import (
    KEEP_ROW,
    ExportFile,
    QuarantineTally,
    RowsSeen,
    StagingQuery,
    named_file_errors,
)

T = TypeVar("T")
_QUARANTINED = "cloudact_quarantined"
_SEEN = "cloudact: a row of the input is set aside"
_SET_ASIDE = (
    "SELECT source_object, _source_row_number AS source_row_number, _quarantine_reason AS reason, "
    "_record AS record FROM ({staged}) WHERE _quarantine_reason IS NOT NULL"
)


@dataclass(frozen=True)
class ConvertedFiles:
    """What a conversion wrote and set aside."""

    rows_written: int
    rows_quarantined: int
    quarantine_reasons: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    no_data_rows: bool = False
    """The inputs hold no rows at all (header-only exports of an empty period): a valid empty result."""


def convert_files(
    provider: str,
    inputs: list[Path],
    output: Path,
    *,
    lineage: Lineage | None = None,
    memory_limit: str = "640MB",
    threads: int | None = None,
) -> ConvertedFiles:
    """Converts billing export files of one provider to one FOCUS 1.3 file.

    Args:
        provider: provider slug (``aws``).
        inputs: local export files (CUR 2.0 Parquet/CSV, legacy CUR CSV; gzip allowed).
        output: the FOCUS file; ``.parquet`` (zstd) or ``.csv`` by suffix. Rows that cannot be
            converted go to ``{output}.quarantine.csv`` instead (source_object, source_row_number,
            reason, record), written only when there are any.
        lineage: the run's lineage; default pipeline ``{provider}/cost/billing``, credential
            ``local-files``, a fresh run id.
        memory_limit: DuckDB memory limit; DuckDB spills to a temp directory beyond it.
        threads: DuckDB threads (default: all cores).

    Returns:
        Counts of written and quarantined rows, quarantine reasons and elapsed seconds.

    Raises:
        InvalidArgument: unknown provider, no inputs, or an unsupported output suffix.
        FailedPrecondition: an input is empty (not even a header), is not an export of that
            provider, or cannot be read further in. A header-only input converts to no rows.
    """
    started = time.perf_counter()
    raw_select = registration(provider).raw_select_builder()
    if not inputs:
        raise InvalidArgument("no input files")
    fmt = _output_format(output)
    lineage = lineage or Lineage.new_run(f"{provider}/cost/billing", "local-files")
    output.parent.mkdir(parents=True, exist_ok=True)
    quarantine = output.with_name(output.name + ".quarantine.csv")
    quarantine.unlink(missing_ok=True)
    files = [ExportFile(path, str(path)) for path in inputs]
    tally = QuarantineTally()
    with tempfile.TemporaryDirectory(prefix="cloudact-convert-") as spill:
        text_inputs = any(_is_text(path) for path in inputs)
        con = _connect(memory_limit, Path(spill), threads, text_inputs=text_inputs)
        try:
            with named_file_errors(files, Path(spill)):
                conversion.prepare(con, [provider])
                # No raw table is kept: a value the conversion does not read is neither parsed nor
                # checked, so a row is not set aside for it (AWS: the mapping reads 57 of 124 raw columns).
                read = conversion.raw_columns_read(con, provider)
                staging = StagingQuery(con, files, raw_select, lineage, read_columns=read)

                written, quarantined, has_rows = _convert_and_set_aside(
                    con, provider, staging, output, fmt, quarantine, tally, streamed=text_inputs
                )
        finally:
            con.close()
    seconds = time.perf_counter() - started
    return ConvertedFiles(written, quarantined, tally.by_kind(), seconds, no_data_rows=not has_rows)


def _convert_and_set_aside(
    con: duckdb.DuckDBPyConnection,
    provider: str,
    staging: StagingQuery,
    output: Path,
    fmt: str,
    quarantine: Path,
    tally: QuarantineTally,
    *,
    streamed: bool,
) -> tuple[int, int, bool]:
    """Converts the good rows to ``output`` and writes the bad ones to ``quarantine``.

    Most exports have no bad row: they are converted in one pass that stops at the first row set
    aside, with no Python in it. Only then are the good rows converted with row flags (``RowsSeen``)
    and the bad ones read again, numbered and written down.

    Returns:
        The FOCUS rows written, the rows set aside, and whether the inputs hold any row at all.
    """
    clean = _convert_if_clean(con, provider, staging, output, fmt, streamed=streamed)
    if clean is not None:
        return clean, 0, clean > 0 or _has_rows(con, staging)

    def convert_good_rows() -> tuple[int, RowsSeen]:
        seen = RowsSeen()
        return _convert(con, provider, _staged(con, staging, seen), output, fmt, streamed=streamed), seen

    written, seen = _leniently_if_refused(con, convert_good_rows)
    quarantined = 0
    if seen.quarantined:
        quarantined = _leniently_if_refused(con, lambda: _set_aside(con, staging, quarantine, tally))
    return written, quarantined, seen.rows


def _leniently_if_refused(con: duckdb.DuckDBPyConnection, run: Callable[[], T]) -> T:
    """``run()``; when DuckDB refuses the fast scan of a CSV file (a quoted line break, mixed line
    endings), ``run()`` again with the connection's CSV reads lenient (see ``rawselect.reading``)."""
    try:
        return run()
    except duckdb.Error as exc:
        if not lenient_scan_needed(exc):
            raise
    scan_leniently(con)
    with contextlib.suppress(duckdb.Error):
        con.remove_function(KEEP_ROW)  # the refused pass's row flags go with it
    return run()


def _is_text(path: Path) -> bool:
    """A CSV export (plain or gzip), read with its columns stated (``rawselect.reading``)."""
    return ".csv" in path.name.lower()


def _connect(memory_limit: str, spill: Path, threads: int | None, *, text_inputs: bool) -> duckdb.DuckDBPyConnection:
    """A connection tuned for one COPY of the staged rows' conversion."""
    con = duck.connect(memory_limit=memory_limit, temp_dir=spill, threads=threads)
    # Pushing "WHERE _quarantine_reason IS NULL" down into the raw SELECT makes DuckDB evaluate
    # every TRY_CAST twice (once in the filter, once in the projection); measured ~20% slower at
    # 1M rows. Nothing else in this statement benefits from the pushdown.
    disabled = ["filter_pushdown"]
    if text_inputs:
        # A CSV read with its columns stated tells DuckDB nothing of its size: it estimates ~40
        # rows, and build_side_probe_side then builds every hash join on the raw rows instead of
        # the reference table joined to them (1M-row CUR: 4x slower, +300 MB). Off, a join builds
        # on its right side, as the mappings write their joins. Parquet inputs keep it: their row
        # counts are exact, and the GCP mapping's joins need it (300k rows: out of memory without).
        disabled.append("build_side_probe_side")
    con.execute("SET disabled_optimizers = ?", [",".join(disabled)])
    duck.unordered(con)  # one COPY to a file: order is not needed
    return con


def _convert_if_clean(
    con: duckdb.DuckDBPyConnection, provider: str, staging: StagingQuery, output: Path, fmt: str, *, streamed: bool
) -> int | None:
    """The rows converted when no row is set aside; None (and no output) as soon as one is.

    The files are first read as if they were clean (``optimistic``): a CSV file without padding
    its rows (10% faster to scan), and no Python function to find a file's currency (registering one
    imports numpy, ~0.1 s). A ragged row, a row without its currency, or a file DuckDB's fast scan
    refuses fails that pass: it then runs again the padded way, leniently if DuckDB refuses again.
    """

    def clean_pass(optimistic: bool) -> int | None:
        try:
            return _convert(con, provider, _clean(staging, optimistic=optimistic), output, fmt, streamed=streamed)
        except duckdb.InvalidInputException as exc:
            if _SEEN not in str(exc):
                raise
        output.unlink(missing_ok=True)
        return None

    try:
        return clean_pass(optimistic=True)
    except duckdb.Error as exc:
        if not optimism_refused(exc):
            raise
    output.unlink(missing_ok=True)
    return _leniently_if_refused(con, lambda: clean_pass(optimistic=False))


def _clean(staging: StagingQuery, *, optimistic: bool = False) -> str:
    """The staged rows, failing with ``_SEEN`` at the first one set aside."""
    unread = staging.sql(row_numbers=False, reasons=False, optimistic=optimistic)
    # DuckDB does not fold error() away (it can throw): it runs for a set-aside row only, and fails the COPY.
    return f"SELECT * FROM ({unread}) WHERE CASE WHEN _quarantine_reason IS NULL THEN true ELSE error('{_SEEN}') END"


def _has_rows(con: duckdb.DuckDBPyConnection, staging: StagingQuery) -> bool:
    """Whether the inputs hold any row (asked only when a clean conversion wrote none)."""
    return bool(con.execute(f"SELECT 1 FROM ({staging.sql(row_numbers=False, reasons=False)}) LIMIT 1").fetchall())


def _staged(con: duckdb.DuckDBPyConnection, staging: StagingQuery, seen: RowsSeen) -> str:
    """The staging step: the SELECT of the good raw rows, noting whether any row was dropped."""
    # Unnumbered and without reasons: the window that numbers rows orders the whole pass, and a
    # reason (a ragged row's shows all its fields) makes DuckDB read every column. Both are only
    # needed for the rows set aside, so ``_set_aside`` reads the files a second time, with them,
    # only when there are any.
    seen.register(con)
    return f"SELECT * FROM ({staging.sql(row_numbers=False, reasons=False)}) WHERE {KEEP_ROW}(_quarantine_reason)"


def _set_aside(con: duckdb.DuckDBPyConnection, staging: StagingQuery, quarantine: Path, tally: QuarantineTally) -> int:
    """Writes the quarantined rows, with their source row numbers and reasons, to ``quarantine``.

    Returns:
        The rows written, counted by reason into ``tally`` from the same rows.
    """
    # A temporary table of the quarantined rows only: the file and the count read the same rows.
    con.execute(f"CREATE TEMP TABLE {_QUARANTINED} AS {_SET_ASIDE.format(staged=staging.sql(row_numbers=True))}")
    ordered = f"SELECT * FROM {_QUARANTINED} ORDER BY source_object, source_row_number"
    written = _copy(con, ordered, quarantine, "(FORMAT csv, HEADER true)")
    relation = con.sql(f"SELECT reason FROM {_QUARANTINED}")
    assert relation is not None  # a SELECT always has a relation
    tally.add(relation.to_arrow_table().column("reason"))
    return written


def _convert(
    con: duckdb.DuckDBPyConnection, provider: str, staged: str, output: Path, fmt: str, *, streamed: bool
) -> int:
    """The conversion step: focus_svc's FOCUS SELECT over the ``staged`` rows, in one COPY to ``output``
    (``conversion.prepare`` done on ``con``).

    Args:
        streamed: read the inputs again for each time the mapping reads the staged rows, instead
            of letting DuckDB keep them (CSV inputs: 1M-row CUR, 2x faster; Parquet inputs: the
            GCP mapping's several reads of nested rows are faster kept, 300k rows 5 s against 9 s).
    """
    # A CTE, not a view: a view is bound when created and again when read, and each binding
    # sniffs every CSV file once more (~0.1 s a file).
    kept = "NOT MATERIALIZED " if streamed else ""
    focus = conversion.focus_select_sql(provider, "raw_good")
    return _copy(con, f"WITH raw_good AS {kept}({staged}) {focus}", output, fmt)


def _output_format(output: Path) -> str:
    suffix = output.suffix.lower()
    if suffix == ".parquet":
        # zstd level 1: smaller than the default level here and ~20% faster to write (measured at 1M rows).
        # ROW_GROUP_SIZE_BYTES: each writer thread buffers a whole row group before writing it; with
        # the default 122,880 rows of wide FOCUS rows (tags, SKU details) two threads outgrew the
        # 640 MB limit on a 1M-row GCP export (OOM); 64 MB groups keep the buffer bounded.
        return "(FORMAT parquet, COMPRESSION zstd, COMPRESSION_LEVEL 1, ROW_GROUP_SIZE_BYTES '64MB')"
    if suffix == ".csv":
        return "(FORMAT csv, HEADER true)"
    raise InvalidArgument(f"output {output} must end in .parquet or .csv")


def _copy(con: duckdb.DuckDBPyConnection, select: str, path: Path, fmt: str) -> int:
    rows = con.execute(f"COPY ({select}) TO ? {fmt}", [str(path)]).fetchall()
    return int(rows[0][0]) if rows else 0
