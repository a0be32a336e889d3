"""The QueryService gRPC servicer (proto <-> domain) and the server builder."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import grpc
from cachetools import LRUCache

from cloudact_shared.errors import FieldViolation
from cloudact_shared.gen.cloudact.query.v1 import query_service_pb2 as pb
from cloudact_shared.gen.cloudact.query.v1 import query_service_pb2_grpc as pb_grpc
from cloudact_shared.metrics import record_cache, record_table_version
from cloudact_shared.naming import FOCUS_TABLE, dataset_name
from cloudact_shared.server import BuiltServer, ServiceRegistration, build_service_server
from cloudact_shared.settings import CloudactSettings
from cloudact_shared.storage import TableStore, open_store
from cloudact_shared.telemetry import set_run_attributes
from query_svc.adapters.cache import ResultCache, TTLResultCache
from query_svc.adhoc import SqlEvent, SqlHeader, SqlLimits, SqlRows, SqlService
from query_svc.model import AnswerSource, CostQuery, CostResult, CostRow, DimensionFilter, Grain, Metric
from query_svc.plan import invalid_query
from query_svc.service import CacheKey, QueryService

CACHE_MAX_ROWS = 200_000
"""Bound on the rows held by the default cache, over all entries."""
CACHE_TTL_SECONDS = 900.0
"""How long the default cache keeps an answer; freshness comes from the table version in the key."""

_METRICS = {
    pb.COST_METRIC_BILLED_COST: Metric.BILLED_COST,
    pb.COST_METRIC_EFFECTIVE_COST: Metric.EFFECTIVE_COST,
    pb.COST_METRIC_LIST_COST: Metric.LIST_COST,
    pb.COST_METRIC_CONTRACTED_COST: Metric.CONTRACTED_COST,
}
# An unset grain means daily buckets, the natural view of a daily-loaded cost table.
_GRAINS = {
    pb.TIME_GRAIN_UNSPECIFIED: Grain.DAY,
    pb.TIME_GRAIN_DAY: Grain.DAY,
    pb.TIME_GRAIN_MONTH: Grain.MONTH,
    pb.TIME_GRAIN_TOTAL: Grain.TOTAL,
}

_SOURCES = {
    AnswerSource.DAILY_ROLLUP: pb.ANSWER_SOURCE_DAILY_ROLLUP,
    AnswerSource.FOCUS_TABLE: pb.ANSWER_SOURCE_FOCUS_TABLE,
}


class _Responses:
    """Responses built once per cached answer and served as they are.

    Building a CostRow with its two maps costs ~7 us a row in Python (10 ms for 1,500 rows), far
    more than the rest of a cache hit. A cached answer served again keeps its ``rows`` tuple
    (``dataclasses.replace``), so its identity and the few scalar fields name the response; an
    entry holds that tuple, so its ``id`` cannot be reused while the entry lives. A response is
    never changed after it is built, so one message can be returned to any number of calls.
    """

    def __init__(self, max_rows: int) -> None:
        self._built: LRUCache[tuple[object, ...], tuple[tuple[CostRow, ...], pb.QueryCostsResponse]] = LRUCache(
            max_rows, getsizeof=lambda entry: len(entry[0]) + 1
        )

    def of(self, result: CostResult) -> pb.QueryCostsResponse:
        """The response for ``result``."""
        key = (id(result.rows), result.table_version, result.rows_scanned, result.source, result.fallback_reason,
               result.cache_hit)  # fmt: skip
        entry = self._built.get(key)
        if entry is None or entry[0] is not result.rows:
            entry = (result.rows, _to_response(result))
            if len(result.rows) < self._built.maxsize:
                self._built[key] = entry
        return entry[1]


class QueryServicer(pb_grpc.QueryServiceServicer):
    """Translates QueryCosts calls to QueryService, ExecuteSql calls to SqlService, and back."""

    def __init__(self, service: QueryService, sql: SqlService) -> None:
        self._service = service
        self._sql = sql
        self._responses = _Responses(CACHE_MAX_ROWS)

    async def QueryCosts(
        self, request: pb.QueryCostsRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.QueryCostsResponse:
        set_run_attributes(org_slug=request.org_slug)
        remaining = context.time_remaining()
        timeout = None if remaining is None else float(remaining)
        result = await self._service.query_costs(_to_query(request), timeout=timeout)
        record_cache(result.cache_hit)
        record_table_version(dataset_name(request.org_slug), FOCUS_TABLE, result.table_version)
        return self._responses.of(result)

    async def ExecuteSql(
        self, request: pb.ExecuteSqlRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> AsyncIterator[pb.ExecuteSqlResponse]:
        set_run_attributes(org_slug=request.org_slug)
        remaining = context.time_remaining()
        timeout = None if remaining is None else float(remaining)
        events = self._sql.execute(request.org_slug, request.sql, request.max_rows, timeout=timeout)
        # aclosing: a caller that goes away stops the query now, not when the generator is collected.
        async with contextlib.aclosing(events):
            async for event in events:
                yield _sql_response(event)


def _to_query(request: pb.QueryCostsRequest) -> CostQuery:
    violations = [
        FieldViolation(f"metrics[{i}]", f"{m} is not a cost metric ({', '.join(x.column for x in Metric)})")
        for i, m in enumerate(request.metrics)
        if m not in _METRICS
    ]
    if request.grain not in _GRAINS:
        violations.append(FieldViolation("grain", f"{request.grain} is not a time grain"))
    if violations:
        raise invalid_query(violations)
    return CostQuery(
        org_slug=request.org_slug,
        start_date=request.start_date,
        end_date=request.end_date,
        metrics=tuple(_METRICS[m] for m in request.metrics),
        group_by=tuple(request.group_by),
        grain=_GRAINS[request.grain],
        filters=tuple(DimensionFilter(f.dimension, tuple(f.values)) for f in request.filters),
    )


def _to_response(result: CostResult) -> pb.QueryCostsResponse:
    return pb.QueryCostsResponse(
        rows=[pb.CostRow(period_start=r.period_start, dimensions=r.dimensions, amounts=r.amounts) for r in result.rows],
        table_version=result.table_version,
        cache_hit=result.cache_hit,
        rows_scanned=result.rows_scanned,
        source=_SOURCES[result.source],
        fallback_reason=result.fallback_reason,
    )


def _sql_response(event: SqlEvent) -> pb.ExecuteSqlResponse:
    if isinstance(event, SqlHeader):
        columns = [pb.SqlColumn(name=c.name, type=c.type) for c in event.columns]
        return pb.ExecuteSqlResponse(header=pb.SqlResultHeader(columns=columns, table_version=event.table_version))
    if isinstance(event, SqlRows):
        rows = [pb.SqlRow(cells=cells, null_cells=nulls) for cells, nulls in event.rows]
        return pb.ExecuteSqlResponse(batch=pb.SqlRowBatch(rows=rows))
    return pb.ExecuteSqlResponse(
        summary=pb.SqlResultSummary(
            row_count=event.row_count,
            truncated=event.truncated,
            row_limit=event.row_limit,
            truncation_reason=event.truncation_reason,
        )
    )


def default_cache() -> TTLResultCache[CacheKey, CostResult]:
    """The in-memory answer cache: LRU within ``CACHE_MAX_ROWS`` rows, ``CACHE_TTL_SECONDS`` TTL."""
    return TTLResultCache(max_weight=CACHE_MAX_ROWS, ttl_seconds=CACHE_TTL_SECONDS, weigh=lambda r: len(r.rows) + 1)


async def build(
    settings: CloudactSettings,
    *,
    address: str | None = None,
    store: TableStore | None = None,
    cache: ResultCache[CacheKey, CostResult] | None = None,
) -> BuiltServer:
    """Builds (does not start) the query_svc server.

    Args:
        settings: Shared settings; ``query_address``, the storage backend and the ExecuteSql limits
            (``sql_*``) are read from them.
        address: host:port to bind instead of ``settings.query_address`` (``127.0.0.1:0`` in tests).
        store: The TableStore to read; ``open_store(settings)`` by default.
        cache: The answer cache; ``default_cache()`` by default.

    Returns:
        The built server; its ``on_stop`` releases the scan and SQL threads.
    """
    store = store or open_store(settings)
    service = QueryService(store, cache or default_cache())
    sql = SqlService(store, SqlLimits.from_settings(settings))
    registration = ServiceRegistration(
        servicer=QueryServicer(service, sql),
        add=pb_grpc.add_QueryServiceServicer_to_server,
        descriptor=pb.DESCRIPTOR.services_by_name["QueryService"],
    )
    return build_service_server(
        [registration], settings, "query_svc", address=address, on_stop=[service.aclose, sql.aclose]
    )
