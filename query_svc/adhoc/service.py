"""SqlService: ExecuteSql's limits, deadline and table version around one guarded query."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar, cast

from cloudact_shared.errors import DeadlineExceeded, FieldViolation, InvalidArgument, NotFound, ResourceExhausted
from cloudact_shared.naming import FOCUS_TABLE, dataset_name, validate_org_slug
from cloudact_shared.storage import TableStore
from query_svc.adapters.versions import VersionProbe, probe_for
from query_svc.adhoc.engine import BATCH_ROWS, SqlRun
from query_svc.adhoc.guard import check_query
from query_svc.adhoc.model import Row, SqlEvent, SqlHeader, SqlLimits, SqlRows, SqlSummary
from query_svc.adhoc.views import ViewCatalog, load_catalog
from query_svc.snapshot import stable_snapshot

if TYPE_CHECKING:
    # Imported on the BigQuery warehouse only: Google's client is start-up time the embedded
    # default should not pay (tests/contract/test_import_cost.py).
    from query_svc.adhoc.bigquery import BigQuerySqlRun, BigQueryWarehouse

MESSAGE_TEXT_BYTES = 4 * 2**20
"""Rows are sent in messages of about this much cell text (clients accept 64 MiB)."""
MAX_ROW_TEXT_BYTES = 48 * 2**20
"""A row larger than this cannot be sent in one message."""

_T = TypeVar("_T")


class SqlService:
    """Runs ExecuteSql queries, each on its own connection holding only its org's FOCUS table, or on
    the BigQuery warehouse as a job in the org's dataset."""

    def __init__(
        self,
        store: TableStore,
        limits: SqlLimits,
        *,
        versions: VersionProbe | None = None,
        catalog: ViewCatalog | None = None,
        max_concurrent: int = 2,
        temp_dir: Path | None = None,
    ) -> None:
        """Creates the service (reads and checks ``sql/views`` now, so a bad view fails at start-up).

        Args:
            store: Where the FOCUS tables live.
            limits: Rows, time, memory and threads of one query.
            versions: Tells the FOCUS table's version; ``probe_for(store)`` by default.
            catalog: The views; ``load_catalog()`` by default.
            max_concurrent: Queries running at once; more wait their turn within their deadline.
            temp_dir: Where DuckDB may spill.
        """
        self._store = store
        self._limits = limits
        self._versions = versions or probe_for(store)
        self._catalog = catalog or load_catalog()
        self._temp_dir = temp_dir
        self._pool = ThreadPoolExecutor(2 * max_concurrent, thread_name_prefix="query-sql")
        self._slots = asyncio.Semaphore(max_concurrent)
        self._bigquery = cast("BigQueryWarehouse", store) if store.capabilities.sql_dialect == "bigquery" else None

    async def execute(
        self, org_slug: str, sql: str, max_rows: int = 0, *, timeout: float | None = None
    ) -> AsyncGenerator[SqlEvent, None]:
        """Runs ``sql`` over ``org_slug``'s FOCUS table and seed views.

        Yields a ``SqlHeader``, then ``SqlRows`` batches, then a ``SqlSummary``.

        Args:
            org_slug: The org whose data the query reads (the caller's token was checked for it).
            sql: One read-only query (see guard.py).
            max_rows: At most this many rows; 0 or more than the limit means the limit.
            timeout: Seconds left before the caller's deadline; None when it set none.

        Raises:
            InvalidArgument: a refused or failing query, a bad org slug or max_rows.
            PermissionDenied: the query names another org's tables.
            NotFound: the org has no FOCUS table yet.
            DeadlineExceeded: the time limit (or the caller's deadline) passed.
            ResourceExhausted: the query needs more memory than its limit.
        """
        budget = self._limits.timeout_seconds if timeout is None else min(timeout, self._limits.timeout_seconds)
        deadline = time.monotonic() + budget
        org = validate_org_slug(org_slug)
        limit = self._row_limit(max_rows)
        await asyncio.to_thread(check_query, sql, org)
        dataset = dataset_name(org)
        version = self._versions.known_version(dataset, FOCUS_TABLE)
        if version is None:
            version = await asyncio.to_thread(self._versions.version, dataset, FOCUS_TABLE)
        if version is None:
            raise NotFound(
                f"org {org!r} has no FOCUS table yet ({dataset}.{FOCUS_TABLE}): "
                "no cost pipeline run has finished for it",
                reason="FOCUS_TABLE_NOT_FOUND",
                metadata={"org_slug": org, "table": f"{dataset}.{FOCUS_TABLE}"},
            )
        try:
            async with asyncio.timeout(max(0.0, deadline - time.monotonic())):
                await self._slots.acquire()
        except TimeoutError:
            raise DeadlineExceeded(
                "the query waited for a free slot past its deadline (others were running)", reason="SQL_TIME_LIMIT"
            ) from None
        run: SqlRun | BigQuerySqlRun | None = None
        try:
            if self._bigquery is not None:
                from query_svc.adhoc.bigquery import BigQuerySqlRun

                # BigQuery reads the table's current version when the job starts.
                shown = version
                run = BigQuerySqlRun(self._bigquery, dataset, self._catalog, self._limits, deadline)
            else:
                focus, shown = await self._step(deadline, stable_snapshot, self._store, dataset, FOCUS_TABLE, version)
                run = SqlRun(focus, dataset, self._catalog, self._limits, deadline, temp_dir=self._temp_dir)
            columns = await self._step(deadline, run.start, sql, stop=run.stop)
            yield SqlHeader(columns, shown)
            sent = 0
            while sent < limit:
                rows = await self._step(deadline, run.fetch, min(BATCH_ROWS, limit - sent), stop=run.stop)
                if rows is None:
                    break
                sent += len(rows)
                for chunk in _chunks(rows):
                    yield SqlRows(chunk)
            truncated = sent >= limit and await self._step(deadline, run.has_more, stop=run.stop)
            yield SqlSummary(sent, truncated, limit, self._truncation(limit, max_rows) if truncated else "")
        finally:
            self._slots.release()
            if run is not None:
                run.stop()
                try:
                    self._pool.submit(run.close)  # waits for the interrupted step, off the event loop
                except RuntimeError:  # the service is shutting down: its threads are gone
                    run.close()

    async def aclose(self) -> None:
        """Drops queued steps and releases the threads (a running step ends at its deadline)."""
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _row_limit(self, max_rows: int) -> int:
        if max_rows < 0:
            raise InvalidArgument(
                f"max_rows must be 0 (the server's limit) or positive, not {max_rows}",
                reason="INVALID_MAX_ROWS",
                violations=[FieldViolation("max_rows", "must be >= 0")],
            )
        return min(max_rows or self._limits.max_rows, self._limits.max_rows)

    def _truncation(self, limit: int, asked: int) -> str:
        source = "the request's max_rows" if 0 < asked < self._limits.max_rows else "the server's CLOUDACT_SQL_MAX_ROWS"
        return f"the answer has more than {limit} rows and stopped there ({source}): aggregate, filter or add LIMIT"

    async def _step(
        self, deadline: float, fn: Callable[..., _T], *args: object, stop: Callable[[], None] | None = None
    ) -> _T:
        """Runs a blocking step in the query threads, within the deadline (``stop`` interrupts it)."""
        remaining = deadline - time.monotonic()
        future = asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)
        try:
            return await asyncio.wait_for(future, max(0.0, remaining))
        except TimeoutError:
            if stop is not None:
                stop()
            raise DeadlineExceeded(
                f"the query ran past its time limit ({self._limits.timeout_seconds:g} s, or the call's deadline if "
                "sooner) and was stopped: filter or aggregate more",
                reason="SQL_TIME_LIMIT",
            ) from None


def _chunks(rows: list[Row]) -> Iterator[list[Row]]:
    """``rows`` cut into messages of about ``MESSAGE_TEXT_BYTES`` of text."""
    chunk: list[Row] = []
    size = 0
    for row in rows:
        row_size = sum(len(cell) for cell in row[0])
        if row_size > MAX_ROW_TEXT_BYTES:
            raise ResourceExhausted(
                f"a row of the answer holds {row_size} characters, more than one message carries: select less per row",
                reason="SQL_ROW_TOO_LARGE",
            )
        if chunk and size + row_size > MESSAGE_TEXT_BYTES:
            yield chunk
            chunk, size = [], 0
        chunk.append(row)
        size += row_size
    if chunk:
        yield chunk
