"""QueryService: validates a cost query, answers it from cache or the FOCUS table, within a deadline."""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime, time, timedelta

from cloudact_shared.errors import DeadlineExceeded, NotFound
from cloudact_shared.naming import FOCUS_TABLE, dataset_name
from cloudact_shared.storage import Condition, TableSchema, TableStore, load_schema
from query_svc.adapters.cache import ResultCache
from query_svc.adapters.location import local_table_dir
from query_svc.adapters.versions import VersionProbe, probe_for
from query_svc.engine import compute, compute_rollup
from query_svc.model import AnswerSource, CostQuery, CostResult
from query_svc.plan import PERIOD_COLUMN, QueryPlan, plan_query
from query_svc.rollup import ROWS_COLUMN, Rollup, RollupKeeper, missing_columns
from query_svc.rollups import RollupStates
from query_svc.snapshot import read_snapshot, stable_snapshot

CacheKey = tuple[QueryPlan, int]
"""A normalised query (which includes the org) and the FOCUS table version it was answered from."""

ROLLUP_MAX_BYTES = 2 << 30
"""Default bound on the memory of the daily rollups kept (all orgs together)."""

REMOTE_REASON = "the BigQuery warehouse keeps no daily rollup here: answered from the FOCUS table's rows"
"""The rollup is built from the Delta table's files (query_svc/rollup.py); on BigQuery the question's
columns and dates are read with the Storage Read API instead (filters pushed to BigQuery)."""

_log = logging.getLogger(__name__)


class QueryService:
    """Answers cost queries over each organisation's FOCUS table, from its daily rollup when it can."""

    def __init__(
        self,
        store: TableStore,
        cache: ResultCache[CacheKey, CostResult],
        *,
        schema: TableSchema | None = None,
        max_concurrent_scans: int = 4,
        versions: VersionProbe | None = None,
        rollup_max_bytes: int = ROLLUP_MAX_BYTES,
    ) -> None:
        """Creates the service.

        Args:
            store: Where the FOCUS tables (and their persisted rollups) live.
            cache: Keeps answers per (plan, table version).
            schema: The FOCUS table schema (``cost_data_standard_1_3`` by default).
            max_concurrent_scans: Table scans, rollup refreshes and rollup queries that may run at
                once; more wait their turn (and give up when their deadline passes).
            versions: Tells the FOCUS table's version; ``probe_for(store)`` by default.
            rollup_max_bytes: Bound on the memory of the rollups kept in memory.
        """
        self._store = store
        self._cache = cache
        self._schema = schema or load_schema(FOCUS_TABLE)
        self._versions = versions or probe_for(store)
        self._scans = ThreadPoolExecutor(max_concurrent_scans, thread_name_prefix="query-scan")
        self._rollups = RollupStates(RollupKeeper(store), self._scans, max_bytes=rollup_max_bytes)
        self._local = local_table_dir(store, "probe_prod", FOCUS_TABLE) is not None

    async def query_costs(self, query: CostQuery, *, timeout: float | None = None) -> CostResult:
        """Sums cost metrics per period and dimensions.

        The FOCUS table version is checked on every call (two ``stat`` calls when unchanged), so a
        cached answer is served only while the table is unchanged since it was computed. A query
        over the rollup's columns is answered from the daily rollup, brought up to date first if
        the table changed; any other from the FOCUS table, and the result says why.

        Args:
            query: The request.
            timeout: Seconds left before the caller's deadline; None when it set none.

        Returns:
            The rows in period-then-dimensions order, with the table version, the source and
            whether the answer came from the cache.

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
        await self._rollups.aclose()
        self._scans.shutdown(wait=False, cancel_futures=True)

    async def _answer(self, plan: QueryPlan) -> CostResult:
        dataset = dataset_name(plan.org_slug)
        version = self._versions.known_version(dataset, FOCUS_TABLE)
        if version is None:
            version = await asyncio.to_thread(self._versions.version, dataset, FOCUS_TABLE)
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
        if not self._local:
            result = await loop.run_in_executor(self._scans, self._compute_remote, dataset, plan, version)
            result = replace(result, fallback_reason=REMOTE_REASON)
        elif missing := missing_columns(plan):
            result = await loop.run_in_executor(self._scans, self._compute, dataset, plan, version)
            reason = f"{', '.join(missing)} not in the daily rollup"
            result = replace(result, fallback_reason=reason)
        else:
            rollup = await self._rollups.current(dataset, version)
            result = await loop.run_in_executor(self._scans, self._compute_rollup, rollup, plan)
        self._cache.put((plan, result.table_version), result)
        return result

    def _compute(self, dataset: str, plan: QueryPlan, version: int) -> CostResult:
        snapshot, version = stable_snapshot(self._store, dataset, FOCUS_TABLE, version)
        computed = compute(snapshot, plan)
        _log.debug("query %s v%d (FOCUS table): %d rows", dataset, version, len(computed.rows))
        return CostResult(rows=computed.rows, table_version=version, rows_scanned=computed.rows_scanned)

    def _compute_remote(self, dataset: str, plan: QueryPlan, version: int) -> CostResult:
        start = datetime.combine(plan.start, time(), UTC)
        stop = datetime.combine(plan.end + timedelta(days=1), time(), UTC)
        where = [Condition(PERIOD_COLUMN, ">=", start), Condition(PERIOD_COLUMN, "<", stop)]
        rows, version = read_snapshot(self._store, dataset, FOCUS_TABLE, version, columns=plan.columns, where=where)
        computed = compute(rows, plan)
        _log.debug("query %s v%d (FOCUS rows read remotely): %d rows", dataset, version, len(computed.rows))
        return CostResult(rows=computed.rows, table_version=version, rows_scanned=computed.rows_scanned)

    def _compute_rollup(self, rollup: Rollup, plan: QueryPlan) -> CostResult:
        computed = compute_rollup(rollup.frame, plan, ROWS_COLUMN)
        return CostResult(
            rows=computed.rows,
            table_version=rollup.focus_version,
            rows_scanned=computed.rows_scanned,
            source=AnswerSource.DAILY_ROLLUP,
        )
