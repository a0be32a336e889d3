"""Prometheus metrics of the services: what they are, how they are recorded and served over HTTP.

The metrics live in prometheus_client's process-wide registry, so one process is one scrape
target: a service process serves its own; ``cloudact serve``'s in-process mode (tests) serves the
union of the four on each service's endpoint, every RPC series still labelled with its service.

Labels are bounded on purpose: service, method, code, provider, stage and outcome take a handful
of values each. Run ids and credential ids are never labels (one series per run would grow
without end), and neither is the organisation on counters and histograms: a SaaS deployment's
org count grows with its customers and would multiply every series by it; per-org numbers are in
the run log (ListRuns) and the FOCUS table. The table gauges are the exception, one pair of
series per table a service has seen, labelled with its dataset ({org}_prod): a table's version
belongs to one org by nature.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import grpc
from opentelemetry import trace
from opentelemetry.trace import Status, StatusCode
from prometheus_client import REGISTRY, Counter, Histogram, start_http_server
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from cloudact_shared.auth.policy import OPEN_METHODS

RPC_SECONDS_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)
"""From a cached query (~1 ms) to a long pipeline run (RunPipeline streams until the run ends)."""

RPC_DURATION = Histogram(
    "cloudact_rpc_duration_seconds",
    "Time from a call's arrival to its last response, by service, gRPC method and status code.",
    ["service", "method", "code"],
    buckets=RPC_SECONDS_BUCKETS,
)
ROWS = Counter(
    "cloudact_rows",
    "Rows of finished pipeline runs by provider and stage: read from the source, written to the raw "
    "table, quarantined, written to the FOCUS table.",
    ["provider", "stage"],
)
PIPELINE_RUNS = Counter(
    "cloudact_pipeline_runs",
    "Finished pipeline runs by provider and outcome: 'succeeded', or the lower-case gRPC code it failed with.",
    ["provider", "outcome"],
)
QUERY_CACHE = Counter(
    "cloudact_query_cache_requests",
    "QueryCosts answers by result cache outcome (hit ratio = hit / (hit + miss)).",
    ["result"],
)

ROW_STAGES = ("read", "written", "quarantined", "focus_written")
"""The values of ``cloudact_rows_total``'s ``stage`` label."""
RPC_GRPC_STATUS_CODE = "rpc.grpc.status_code"
"""The span attribute OpenTelemetry's gRPC conventions give the numeric status code."""

_SERVER_ERRORS = frozenset(
    {
        grpc.StatusCode.UNKNOWN,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.UNIMPLEMENTED,
        grpc.StatusCode.INTERNAL,
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DATA_LOSS,
    }
)
"""Codes that make a server span an error (OpenTelemetry's gRPC conventions); the others are the caller's."""


def record_run(provider: str, outcome: str, *, read: int, written: int, quarantined: int, focus_written: int) -> None:
    """Counts one finished run and its rows (``outcome``: "succeeded" or a lower-case gRPC code)."""
    PIPELINE_RUNS.labels(provider, outcome).inc()
    for stage, rows in zip(ROW_STAGES, (read, written, quarantined, focus_written), strict=True):
        ROWS.labels(provider, stage).inc(rows)


def record_cache(hit: bool) -> None:
    """Counts one QueryCosts answer as a cache hit or miss."""
    QUERY_CACHE.labels("hit" if hit else "miss").inc()


@dataclass(frozen=True)
class _Seen:
    version: int
    written_at: float
    """When this process first saw the version (its write time for the writer of the table)."""


class TableVersions(Collector):
    """``cloudact_table_version`` and ``cloudact_table_age_seconds`` per (dataset, table) this process saw.

    Updating costs a dict lookup; the age is computed at scrape time from the moment the current
    version was first seen, which is its commit time in the service that wrote it and a little
    after it in a service that only reads it (so a reader's age is a lower bound).
    """

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._seen: dict[tuple[str, str], _Seen] = {}
        self._lock = threading.Lock()

    def saw(self, dataset: str, table: str, version: int) -> None:
        """Notes that ``dataset.table`` is at ``version`` (a version already seen keeps its time)."""
        key = (dataset, table)
        seen = self._seen.get(key)
        if seen is not None and seen.version >= version:
            return
        with self._lock:
            seen = self._seen.get(key)
            if seen is None or seen.version < version:
                self._seen[key] = _Seen(version, self._clock())

    def collect(self) -> Iterator[GaugeMetricFamily]:
        now = self._clock()
        with self._lock:
            seen = dict(self._seen)
        versions = GaugeMetricFamily(
            "cloudact_table_version",
            "The newest version of a table this service wrote or read.",
            labels=["dataset", "table"],
        )
        ages = GaugeMetricFamily(
            "cloudact_table_age_seconds",
            "Seconds since the newest version of a table was written (first seen, for a service that only reads it).",
            labels=["dataset", "table"],
        )
        for (dataset, table), entry in sorted(seen.items()):
            versions.add_metric([dataset, table], entry.version)
            ages.add_metric([dataset, table], max(0.0, now - entry.written_at))
        yield versions
        yield ages


TABLES = TableVersions()
REGISTRY.register(TABLES)


def record_table_version(dataset: str, table: str, version: int | None) -> None:
    """Notes a table version a service wrote or read (None: nothing written)."""
    if version is not None:
        TABLES.saw(dataset, table, version)


class MetricsServer:
    """The HTTP endpoint (``/metrics``) serving this process's registry on one address."""

    def __init__(self, address: str) -> None:
        host, _, port = address.rpartition(":")
        if not host or not port.isdigit():
            raise ValueError(f"metrics address {address!r} is not host:port")
        self._server, self._thread = start_http_server(int(port), host.strip("[]"), REGISTRY)
        self.port: int = self._server.server_port

    def stop(self) -> None:
        """Stops serving and releases the port; blocks until the serving loop notices (< 0.5 s)."""
        self._server.shutdown()
        self._server.server_close()

    async def close(self) -> None:
        """``stop`` without blocking the event loop."""
        await asyncio.to_thread(self.stop)


class RpcMetricsInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[misc]  # grpc ships no types
    """Times every call (but health's) into ``cloudact_rpc_duration_seconds`` with its final code.

    It sits just inside the tracing interceptor, so it also puts the final code on the call's span:
    errors end in ``abort_with_status`` (ErrorInterceptor), which the tracing wrapper does not see.
    """

    def __init__(self, service: str) -> None:
        self._service = service

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(handler_call_details)
        method = handler_call_details.method
        # Health's Watch streams with context.write, not as a generator; probes are no traffic anyway.
        if handler is None or method in OPEN_METHODS:
            return handler
        timed = _Timed(self._service, method.lstrip("/"))
        kinds: Iterable[tuple[Any, Callable[..., grpc.RpcMethodHandler], bool]] = (
            (handler.unary_unary, grpc.unary_unary_rpc_method_handler, False),
            (handler.unary_stream, grpc.unary_stream_rpc_method_handler, True),
            (handler.stream_unary, grpc.stream_unary_rpc_method_handler, False),
            (handler.stream_stream, grpc.stream_stream_rpc_method_handler, True),
        )
        for behaviour, factory, streams in kinds:
            if behaviour is not None:
                return factory(
                    timed.stream(behaviour) if streams else timed.unary(behaviour),
                    request_deserializer=handler.request_deserializer,
                    response_serializer=handler.response_serializer,
                )
        return handler


@dataclass(frozen=True)
class _Timed:
    service: str
    method: str

    def unary(self, behaviour: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        async def wrapped(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
            started, failure = time.perf_counter(), None
            try:
                return await behaviour(request, context)
            except BaseException as exc:
                failure = exc
                raise
            finally:
                self._observe(context, failure, started)

        return wrapped

    def stream(self, behaviour: Callable[..., Any]) -> Callable[..., Any]:
        async def wrapped(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
            started, failure = time.perf_counter(), None
            try:
                async for item in behaviour(request, context):
                    yield item
            except BaseException as exc:
                failure = exc
                raise
            finally:
                self._observe(context, failure, started)

        return wrapped

    def _observe(
        self, context: grpc.aio.ServicerContext[Any, Any], failure: BaseException | None, started: float
    ) -> None:
        code = _final_code(context, failure)
        RPC_DURATION.labels(self.service, self.method, code.name).observe(time.perf_counter() - started)
        span = trace.get_current_span()
        span.set_attribute(RPC_GRPC_STATUS_CODE, code.value[0])
        if code in _SERVER_ERRORS:
            span.set_status(Status(StatusCode.ERROR, code.name))


def _final_code(context: grpc.aio.ServicerContext[Any, Any], failure: BaseException | None) -> grpc.StatusCode:
    """The code the caller gets: the one set by an abort (or set_code), else from how the handler ended."""
    code = context.code()
    if isinstance(code, grpc.StatusCode):
        return code
    if isinstance(code, int):
        return next((c for c in grpc.StatusCode if c.value[0] == code), grpc.StatusCode.UNKNOWN)
    if failure is None:
        return grpc.StatusCode.OK
    # A stream left early (the caller went away) ends as a cancellation, not an error of ours.
    if isinstance(failure, asyncio.CancelledError | GeneratorExit):
        return grpc.StatusCode.CANCELLED
    return grpc.StatusCode.UNKNOWN
