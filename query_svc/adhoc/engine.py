"""Runs one guarded query on a fresh DuckDB connection that holds one org's data, and renders its rows.

Defence in depth behind the guard: the connection is in memory and new for each query; the only data
it can see is the org's FOCUS table (an Arrow dataset registered as ``cost_data_standard_1_3``),
the reference tables and the views; then external access (files, URLs, extensions), Python
replacement scans and the configuration are switched off and locked, with a memory limit (and as
much spill), a thread count, and a timer that interrupts the query at its deadline.
"""

from __future__ import annotations

import abc
import json
import logging
import threading
import time
from collections.abc import Callable
from datetime import date, datetime
from datetime import time as clock
from decimal import Decimal
from pathlib import Path
from typing import TypeVar

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as pads

from cloudact_shared import duck
from cloudact_shared.errors import CloudactError, DeadlineExceeded, InvalidArgument, PermissionDenied, ResourceExhausted
from cloudact_shared.naming import FOCUS_TABLE
from query_svc.adhoc.guard import check_parsed
from query_svc.adhoc.model import Row, SqlColumn, SqlLimits
from query_svc.adhoc.views import ViewCatalog, install

BATCH_ROWS = 1024
"""Rows DuckDB hands over at a time (one response message at most)."""
_MIB = 2**20
_LOCKDOWN = (
    "SET enable_external_access = false",
    "SET autoinstall_known_extensions = false",
    "SET autoload_known_extensions = false",
    "SET allow_community_extensions = false",
    "SET lock_configuration = true",
)
"""Run after the data is in place: no file, URL or extension from here on, and no SET undoes it."""
_QUERY_ERRORS = (
    duckdb.ParserException,
    duckdb.BinderException,
    duckdb.CatalogException,
    duckdb.ConversionException,
    duckdb.InvalidInputException,
    duckdb.OutOfRangeException,
    duckdb.TypeMismatchException,
    duckdb.NotImplementedException,
    duckdb.SyntaxException,
)
"""What a caller's own SQL causes: a column that does not exist, a bad cast, a division overflow..."""

_log = logging.getLogger(__name__)
_T = TypeVar("_T")


class PagedRun(abc.ABC):
    """What every ExecuteSql run shares, whichever engine runs the query: the answer read a batch at
    a time into rendered rows, handed out by ``fetch``, under one lock and one deadline.

    A subclass starts the query, stops it (``stop``: any thread, any time) and yields its batches
    (``_next_batch``). The blocking methods are called one at a time, from any thread.
    """

    def __init__(self, limits: SqlLimits, deadline: float) -> None:
        self._limits = limits
        self._deadline = deadline
        self._pending: list[Row] = []
        self._exhausted = False
        self._stopped = False
        self._lock = threading.Lock()

    def stop(self) -> None:
        """Stops the query (the caller left or the deadline passed); any thread."""
        self._stopped = True

    def fetch(self, max_rows: int) -> list[Row] | None:
        """Up to ``max_rows`` next rows; None when the answer is complete (blocking)."""
        with self._lock:
            if not self._pending and not self._read():
                return None
            rows, self._pending = self._pending[:max_rows], self._pending[max_rows:]
            return rows

    def has_more(self) -> bool:
        """Whether rows remain after those fetched (reads at most one more batch; blocking)."""
        with self._lock:
            return bool(self._pending) or self._read()

    @abc.abstractmethod
    def _next_batch(self) -> pa.RecordBatch | None:
        """The answer's next batch; None at its end (or before the query started)."""

    def _read(self) -> bool:
        """Reads batches into ``_pending`` until one holds a row; False at the end."""
        while not self._exhausted:
            self._check_time()
            batch = self._next_batch()
            if batch is None:
                self._exhausted = True
                break
            self._pending.extend(render_batch(batch))
            if self._pending:
                return True
        return False

    def _check_time(self) -> None:
        """Before each step: past the deadline, or stopped while between steps, nothing more runs."""
        if time.monotonic() >= self._deadline:
            raise self._timed_out()
        if self._stopped:
            raise CloudactError("the query was stopped", reason="SQL_STOPPED")

    def _timed_out(self) -> DeadlineExceeded:
        return DeadlineExceeded(
            f"the query ran past its time limit ({self._limits.timeout_seconds:g} s, or the call's deadline if "
            "sooner) and was stopped: filter or aggregate more",
            reason="SQL_TIME_LIMIT",
        )


class SqlRun(PagedRun):
    """One query on its own locked connection, in DuckDB."""

    def __init__(
        self,
        focus: pads.Dataset,
        dataset: str,
        catalog: ViewCatalog,
        limits: SqlLimits,
        deadline: float,
        *,
        temp_dir: Path | None = None,
    ) -> None:
        """Prepares the run (nothing is opened yet).

        Args:
            focus: The org's FOCUS table, the only data the connection will hold.
            dataset: The org's dataset (``acme_prod``), the one qualifier a table may carry.
            catalog: The views and reference tables.
            limits: Memory, threads and the time limit's message.
            deadline: ``time.monotonic()`` value past which the query is interrupted.
            temp_dir: Where DuckDB may spill (``duck.connect``'s default when None).
        """
        super().__init__(limits, deadline)
        self._focus = focus
        self._dataset = dataset
        self._catalog = catalog
        self._temp_dir = temp_dir
        self._con: duckdb.DuckDBPyConnection | None = None
        self._reader: pa.RecordBatchReader | None = None
        self._expired = False
        self._timer: threading.Timer | None = None

    def start(self, sql: str) -> tuple[SqlColumn, ...]:
        """Opens the connection, checks ``sql`` with DuckDB's parser and starts it (blocking).

        Returns:
            The answer's columns.

        Raises:
            InvalidArgument: DuckDB's parse shows something the guard refuses, or the query
                itself is wrong (unknown column, bad cast...).
            DeadlineExceeded: the time limit passed.
            ResourceExhausted: the query needs more than the memory limit.
        """
        with self._lock:
            self._check_time()
            con = self._con = self._open()
            self._check_time()
            check_parsed(con, sql, self._dataset)
            self._timer = threading.Timer(max(0.0, self._deadline - time.monotonic()), self._expire)
            self._timer.daemon = True
            self._timer.start()
            relation = self._run(lambda: con.sql(sql))
            if relation is None:
                raise InvalidArgument("the statement returns no rows: send a SELECT", reason="SQL_NOT_A_QUERY")
            columns = tuple(SqlColumn(str(n), str(t)) for n, t in zip(relation.columns, relation.types, strict=True))
            self._reader = self._run(lambda: relation.to_arrow_reader(BATCH_ROWS))
            return columns

    def stop(self) -> None:
        """Interrupts a running query (the caller left or the deadline passed); any thread."""
        super().stop()
        con = self._con
        if con is not None:
            con.interrupt()

    def close(self) -> None:
        """Releases the connection (blocking; waits for a step in progress, which ``stop`` ends)."""
        if self._timer is not None:
            self._timer.cancel()
        self.stop()
        with self._lock:
            if self._con is not None:
                self._con.close()
                self._con = None
            self._reader = None

    def _open(self) -> duckdb.DuckDBPyConnection:
        memory = f"{max(1, self._limits.memory_limit_bytes // _MIB)}MiB"
        con = duck.connect(memory_limit=memory, temp_dir=self._temp_dir, threads=self._limits.threads)
        try:
            # A name the query uses must never resolve to a Python object of this process.
            con.execute("SET python_enable_replacements = false")
            con.register(FOCUS_TABLE, self._focus)
            install(con, self._catalog, self._dataset)
            con.execute(f"SET max_temp_directory_size = '{memory}'")
            for statement in _LOCKDOWN:
                con.execute(statement)
        except BaseException:
            con.close()
            raise
        return con

    def _next_batch(self) -> pa.RecordBatch | None:
        reader = self._reader
        if reader is None:
            return None
        try:
            return self._run(reader.read_next_batch)
        except StopIteration:
            self._reader = None
            return None

    def _run(self, step: Callable[[], _T]) -> _T:
        """Runs a DuckDB step, turning its errors into the caller's status."""
        try:
            return step()
        except duckdb.InterruptException:
            if self._expired or time.monotonic() >= self._deadline:
                raise self._timed_out() from None
            raise CloudactError("the query was stopped", reason="SQL_STOPPED") from None
        except duckdb.OutOfMemoryException:
            raise ResourceExhausted(
                f"the query needs more than its memory limit ({self._limits.memory_limit_bytes // _MIB} MiB, "
                "CLOUDACT_SQL_MEMORY_LIMIT): aggregate, filter or select fewer columns",
                reason="SQL_MEMORY_LIMIT",
            ) from None
        except _QUERY_ERRORS as exc:
            raise InvalidArgument(f"the query failed: {_first_line(exc)}", reason="SQL_QUERY_FAILED") from None
        except duckdb.PermissionException as exc:
            _log.warning("ExecuteSql: the engine refused what the guard let through: %s", type(exc).__name__)
            raise PermissionDenied(
                "the query tried to reach something outside the org's tables", reason="SQL_NOT_ALLOWED"
            ) from None

    def _expire(self) -> None:
        self._expired = True
        self.stop()


def render_batch(batch: pa.RecordBatch) -> list[Row]:
    """A batch's rows as text cells and the indexes of their NULL cells (see SqlRow in the proto)."""
    columns = [_cells(batch.column(i)) for i in range(batch.num_columns)]
    rows: list[Row] = []
    for values in zip(*columns, strict=True):
        if None in values:
            nulls = [i for i, v in enumerate(values) if v is None]
            rows.append(([v if v is not None else "" for v in values], nulls))
        else:
            rows.append(([str(v) for v in values], []))
    return rows


def _cells(array: pa.Array) -> list[str | None]:
    """One column as text; vectorised for the scalar types, JSON for nested values."""
    if isinstance(array.type, pa.BaseExtensionType):
        array = array.storage
    kind = array.type
    if pa.types.is_dictionary(kind):
        array = array.dictionary_decode()
        kind = array.type
    if pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_string_view(kind):
        return list(array.to_pylist())
    if pa.types.is_timestamp(kind):
        # Arrow writes "2025-01-05 10:00:00.000000Z": ISO 8601 wants the T, and whole seconds need no fraction.
        text = pc.replace_substring_regex(pc.cast(array, pa.string()), r"^(\d{4}-\d\d-\d\d) ", r"\1T")
        return list(pc.replace_substring_regex(text, r"\.0+(Z?)$", r"\1").to_pylist())
    if pa.types.is_time(kind):
        return list(pc.replace_substring_regex(pc.cast(array, pa.string()), r"\.0+$", "").to_pylist())
    if (
        pa.types.is_boolean(kind)
        or pa.types.is_integer(kind)
        or pa.types.is_floating(kind)
        or pa.types.is_decimal(kind)
        or pa.types.is_date(kind)
    ):
        return list(pc.cast(array, pa.string()).to_pylist())
    if pa.types.is_interval(kind):
        return [None if v is None else _interval_text(v.months, v.days, v.nanoseconds) for v in array.to_pylist()]
    return [None if v is None else _text(v) for v in array.to_pylist(maps_as_pydicts="lossy")]


def _interval_text(months: int, days: int, nanoseconds: int) -> str:
    """DuckDB's spelling of an interval: ``1 month 2 days 03:00:00``."""
    parts = [f"{n} {unit}{'s' if abs(n) != 1 else ''}" for n, unit in ((months, "month"), (days, "day")) if n]
    if nanoseconds or not parts:
        sign = "-" if nanoseconds < 0 else ""
        seconds, fraction = divmod(abs(nanoseconds) // 1000, 1_000_000)
        text = f"{sign}{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"
        parts.append(text + (f".{fraction:06d}".rstrip("0") if fraction else ""))
    return " ".join(parts)


def _text(value: object) -> str:
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, dict | list | tuple):
        return json.dumps(value, default=_json_default, ensure_ascii=False)
    return str(value)


def _json_default(value: object) -> object:
    """Decimals keep their exact digits (as strings); instants are ISO 8601, UTC with a Z."""
    if isinstance(value, datetime):
        text = value.isoformat()
        return text.removesuffix("+00:00") + "Z" if value.tzinfo is not None else text
    if isinstance(value, date | clock):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, Decimal):
        return format(value, "f")
    return str(value)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
