"""QueryService: validates a cost query, answers it from cache or the FOCUS table, within a deadline."""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import pyarrow.dataset as pads

from cloudact_shared.errors import DeadlineExceeded, NotFound, Unavailable
from cloudact_shared.naming import FOCUS_TABLE, dataset_name
from cloudact_shared.storage import TableSchema, TableStore, load_schema
from query_svc.adapters.cache import ResultCache
from query_svc.engine import compute
from query_svc.model import CostQuery, CostResult
from query_svc.plan import QueryPlan, plan_query

CacheKey = tuple[QueryPlan, int]
"""A normalised query (which includes the org) and the FOCUS table version it was answered from."""

_SNAPSHOT_ATTEMPTS = 3
_log = logging.getLogger(__name__)


class QueryService:
    """Answers cost queries over each organisation's FOCUS table."""

    def __init__(
        self,
        store: TableStore,
        cache: ResultCache[CacheKey, CostResult],
        *,
        schema: TableSchema | None = None,
        max_concurrent_scans: int = 4,
    ) -> None:
        """Creates the service.

        Args:
            store: Where the FOCUS tables live.
            cache: Keeps answers per (plan, table version).
            schema: The FOCUS table schema (``cost_data_standard_1_3`` by default).
            max_concurrent_scans: Table scans that may run at once; more wait their turn (and
                give up when their deadline passes).
        """
        self._store = store
        self._cache = cache
        self._schema = schema or load_schema(FOCUS_TABLE)
        self._scans = ThreadPoolExecutor(max_concurrent_scans, thread_name_prefix="query-scan")

    async def query_costs(self, query: CostQuery, *, timeout: float | None = None) -> CostResult:
        """Sums cost metrics per period and dimensions.

        The FOCUS table version is read on every call, so a cached answer is served only while
        the table is unchanged since it was computed.

        Args:
            query: The request.
            timeout: Seconds left before the caller's deadline; None when it set none.

        Returns:
            The rows in period-then-dimensions order, with the table version and whether the
            answer came from the cache.

        Raises:
            InvalidArgument: the query is malformed (bad org slug, dates, metric or dimension).
            NotFound: the org has no FOCUS table yet.
            DeadlineExceeded: the deadline passed (or had passed on arrival).
        """
        plan = plan_query(query, self._schema)
        if timeout is not None and timeout <= 0:
            raise DeadlineExceeded("the deadline had passed before the query started")
        try:
            async with asyncio.timeout(timeout):
                return await self._answer(plan)
        except TimeoutError as exc:
            raise DeadlineExceeded(f"query did not finish within its {timeout:.3f}s deadline") from exc

    async def aclose(self) -> None:
        """Drops queued scans and releases the scan threads (running scans finish on their own)."""
        self._scans.shutdown(wait=False, cancel_futures=True)

    async def _answer(self, plan: QueryPlan) -> CostResult:
        dataset = dataset_name(plan.org_slug)
        version = await asyncio.to_thread(self._store.version, dataset, FOCUS_TABLE)
        if version is None:
            raise NotFound(
                f"org {plan.org_slug!r} has no FOCUS table yet ({dataset}.{FOCUS_TABLE}): "
                "no cost pipeline run has finished for it",
                reason="FOCUS_TABLE_NOT_FOUND",
                metadata={"org_slug": plan.org_slug, "table": f"{dataset}.{FOCUS_TABLE}"},
            )
        cached = self._cache.get((plan, version))
        if cached is not None:
            return replace(cached, cache_hit=True)
        # Cancelling the wrapper (deadline) drops a scan still queued; a running one finishes.
        loop = asyncio.get_running_loop()
        result = await loop.run_in_executor(self._scans, self._compute, dataset, plan, version)
        self._cache.put((plan, result.table_version), result)
        return result

    def _compute(self, dataset: str, plan: QueryPlan, version: int) -> CostResult:
        snapshot, version = self._snapshot(dataset, version)
        computed = compute(snapshot, plan)
        _log.debug("query %s v%d: %d rows", dataset, version, len(computed.rows))
        return CostResult(rows=computed.rows, table_version=version, rows_scanned=computed.rows_scanned)

    def _snapshot(self, dataset: str, version: int) -> tuple[pads.Dataset, int]:
        """The table's dataset and the exact version it shows.

        A dataset opened between two equal version reads is that version (versions only grow);
        when a write lands in between, try again with the newer version.
        """
        for _ in range(_SNAPSHOT_ATTEMPTS):
            snapshot = self._store.scan(dataset, FOCUS_TABLE)
            current = self._store.version(dataset, FOCUS_TABLE)
            if current == version:
                return snapshot, version
            if current is None:
                raise NotFound(f"{dataset}.{FOCUS_TABLE} disappeared", reason="FOCUS_TABLE_NOT_FOUND")
            version = current
        raise Unavailable(f"{dataset}.{FOCUS_TABLE} is being rewritten; retry", reason="TABLE_BUSY")
