"""The staging SELECT of export files, and the quarantine count: what the pipeline and ``cloudact convert`` share.

Each file goes through its provider's raw SELECT; the run's lineage and each delivery's month are
bound as DuckDB variables (never pasted into the SQL); quarantined rows are counted by reason from
the very rows set aside, so a count is always its quarantine's size. ``ingest_svc.adapters.staging``
stages files for the pipeline with it; ``cloudact_cli.convert`` streams its good rows straight into
the FOCUS conversion.

No pyarrow at import: ``cloudact convert`` of a clean file never needs it (~0.05 s of its start-up).
The Arrow values below arrive from DuckDB, which has imported pyarrow by then.
"""

from __future__ import annotations

import contextlib
import re
import sys
import threading
from collections import Counter
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
from duckdb.func import FunctionNullHandling, PythonUDFType

from cloudact_providers.connector import RawSelectBuilder
from cloudact_providers.fileerrors import short_reason
from cloudact_shared import duck
from cloudact_shared.errors import FailedPrecondition
from cloudact_shared.lineage import Lineage

if TYPE_CHECKING:
    import pyarrow as pa

KEEP_ROW = "cloudact_keep_row"
"""The SQL function ``RowsSeen.register`` adds: true for a good row, noting that rows went by."""
# Row-level reasons carry the offending value after ": "; counts group by the reason without it.
_REASON_VALUE = re.compile(r": '.*$", re.DOTALL)
# How DuckDB's parse failures begin when they reach us as the Arrow stream's OSError.
_PARSE_ERRORS = ("Invalid Input Error", "Conversion Error")
_DELIVERY_PERIODS = "cloudact_delivery_periods"


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
        *,
        read_columns: Collection[str] | None = None,
    ) -> None:
        """
        Args:
            read_columns: the raw columns the caller reads (None: all, as a raw table keeps them). Only
                their values are parsed and checked (see ``RawSelectBuilder``).
        """
        self._con = con
        self._files = files
        self._raw_select = raw_select
        duck.set_lineage(con, lineage)
        self._checked = any(f.billing_period is not None for f in files)
        self._read_columns: set[str] | None = None
        if read_columns is not None:
            # The delivery-month check (``sql``) reads each row's billing period.
            self._read_columns = {*read_columns, "billing_period"} if self._checked else set(read_columns)
        if self._checked:
            con.execute(f"SET VARIABLE {_DELIVERY_PERIODS} = ?", [[f.billing_period for f in files]])

    def sql(self, *, row_numbers: bool = True, reasons: bool = True, optimistic: bool = False) -> str:
        """Every file's raw rows, one relation (the ``RawSelectBuilder`` columns).

        Args:
            row_numbers: number each file's rows (``_source_row_number``); unnumbered CSV files
                scan in parallel (see ``RawSelectBuilder``).
            reasons: give quarantined rows their reasons and records; without, a bad row's reason
                only says it is set aside (see ``RawSelectBuilder``).
            optimistic: read the files as if they were clean; a row that is not may fail the query
                instead of being set aside (see ``RawSelectBuilder``).

        Returns:
            A SELECT of the raw SELECTs' columns; when the files have delivery months, a row of
            another month gets a quarantine reason and every row ``_object_period``: a run only
            replaces the months it was asked for, so such a row would otherwise escape its slice.

        Raises:
            FailedPrecondition: a file is empty, has no rows, or is not an export of the provider.
        """
        selects = [
            self._select(index, file, row_numbers=row_numbers, reasons=reasons, optimistic=optimistic)
            for index, file in enumerate(self._files)
        ]
        union = " UNION ALL BY NAME ".join(selects)
        if not self._checked:
            return union
        return (
            "SELECT * REPLACE (CASE WHEN _quarantine_reason IS NULL AND billing_period <> _object_period "
            "THEN 'row billing period ' || billing_period || ' differs from its delivery''s period ' "
            f"|| _object_period ELSE _quarantine_reason END AS _quarantine_reason) FROM ({union})"
        )

    def _select(self, index: int, file: ExportFile, *, row_numbers: bool, reasons: bool, optimistic: bool) -> str:
        raw = self._raw_select(
            self._con,
            file.path,
            source_object=file.source_object,
            row_numbers=row_numbers,
            reasons=reasons,
            read_columns=self._read_columns,
            optimistic=optimistic,
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
        found = reasons.drop_null().value_counts().to_pylist()
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

    # Any, not pa.Array: DuckDB evaluates a UDF's annotations, and this module does not import pyarrow.
    def _keep(self, reasons: Any) -> Any:
        # Plain assignments of True: no lock needed, any order gives the same flags.
        if len(reasons):
            self.rows = True
        if reasons.null_count != len(reasons):
            self.quarantined = True
        return reasons.is_null()


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
    except Exception as exc:
        if not isinstance(exc, (duckdb.Error, OSError, *_arrow_errors())):
            raise
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


def _arrow_errors() -> tuple[type[Exception], ...]:
    """pyarrow's error class once something has imported pyarrow (a streamed read fails with it)."""
    arrow = sys.modules.get("pyarrow")
    return () if arrow is None else (arrow.ArrowException,)
