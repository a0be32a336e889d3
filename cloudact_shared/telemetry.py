"""Traces: a tracer provider per service, the gRPC interceptors that carry the trace between the
services, and the run's ids on spans.

Every server traces its calls (but health) with opentelemetry-instrumentation-grpc's grpc.aio
server interceptor, which continues the trace named in the call's metadata (W3C traceparent);
every channel a service opens to another one (``clients.open_channel(..., service=...)``) has the
client interceptors, which start a client span and put its context in the call's metadata. So a
pipeline run is one trace: RunPipeline (ingest_svc), the run, then DecryptCredential
(credential_svc) and ConvertToFocus (focus_svc).

Neither interceptor records request or response messages (no request or response hook is given),
so a credential's secret never reaches a span; the ids put on spans are the org slug, run id and
pipeline id only.

Each service has its own tracer provider (its ``service.name``), even when the four run in one
process (tests, benchmarks); their spans all go to one process-wide set of span processors: the
exporter ``otel_exporter`` chose, and whatever a test adds (``add_span_processor``).
"""

from __future__ import annotations

import atexit
import threading
from typing import Any

import grpc
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.instrumentation.grpc import aio_client_interceptors, aio_server_interceptor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanLimits, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SimpleSpanProcessor

from cloudact_shared.auth.policy import OPEN_METHODS
from cloudact_shared.naming import ORG_SLUG_PATTERN
from cloudact_shared.settings import CloudactSettings

ORG_SLUG = "org_slug"
RUN_ID = "run_id"
PIPELINE_ID = "pipeline_id"
"""The span attributes naming what a call works on (the run log's column names)."""

_MAX_ATTRIBUTE_LENGTH = 512
"""Longer attribute values are cut: no id of ours comes near it, a stray large value costs little."""


class _SharedProcessors(SpanProcessor):
    """The span processors of every service's tracer provider in this process, changeable at any time."""

    def __init__(self) -> None:
        self._processors: tuple[SpanProcessor, ...] = ()
        self._lock = threading.Lock()
        self._shut_down = False

    def add(self, processor: SpanProcessor) -> None:
        with self._lock:
            self._processors = (*self._processors, processor)

    def remove(self, processor: SpanProcessor) -> None:
        with self._lock:
            self._processors = tuple(p for p in self._processors if p is not processor)

    def on_start(self, span: Span, parent_context: otel_context.Context | None = None) -> None:
        for processor in self._processors:
            processor.on_start(span, parent_context=parent_context)

    def on_end(self, span: ReadableSpan) -> None:
        for processor in self._processors:
            processor.on_end(span)

    def shutdown(self) -> None:
        """Flushes and stops every processor, once (every provider would ask at exit)."""
        with self._lock:
            if self._shut_down:
                return
            self._shut_down = True
            processors = self._processors
        for processor in processors:
            processor.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return all([processor.force_flush(timeout_millis) for processor in self._processors])


_SHARED = _SharedProcessors()
atexit.register(_SHARED.shutdown)
_providers: dict[str, TracerProvider] = {}
_exporters: set[tuple[str, str | None]] = set()
_lock = threading.Lock()


def configure_tracing(settings: CloudactSettings) -> None:
    """Sends this process's spans to the exporter ``settings.otel_exporter`` names (once per
    exporter and endpoint, however many services call it): "none" exports nothing, the context is
    still propagated; "otlp" batches them to a collector over OTLP/gRPC; "console" prints them."""
    kind, endpoint = settings.otel_exporter, settings.otel_endpoint
    with _lock:
        if kind == "none" or (kind, endpoint) in _exporters:
            return
        _exporters.add((kind, endpoint))
    if kind == "otlp":
        # Imported only when chosen; it reads the standard OTEL_EXPORTER_OTLP_* variables (headers,
        # certificates) for what the settings do not say.
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        _SHARED.add(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
    else:
        _SHARED.add(SimpleSpanProcessor(ConsoleSpanExporter()))


def tracer_provider(service: str) -> TracerProvider:
    """``service``'s tracer provider (``service.name`` = ``service``), created on first use."""
    with _lock:
        provider = _providers.get(service)
        if provider is None:
            provider = TracerProvider(
                resource=Resource.create({"service.name": service, "service.namespace": "cloudact"}),
                shutdown_on_exit=False,  # _SHARED is shut down once at exit
                span_limits=SpanLimits(max_span_attribute_length=_MAX_ATTRIBUTE_LENGTH),
            )
            provider.add_span_processor(_SHARED)
            _providers[service] = provider
        return provider


def tracer(service: str, name: str) -> trace.Tracer:
    """A tracer of ``service`` for the module ``name``, for spans of work that is no RPC."""
    return tracer_provider(service).get_tracer(name)


def add_span_processor(processor: SpanProcessor) -> None:
    """Hands every span of every service in this process to ``processor`` as well (tests, embedding)."""
    _SHARED.add(processor)


def remove_span_processor(processor: SpanProcessor) -> None:
    """Undoes ``add_span_processor``."""
    _SHARED.remove(processor)


def shutdown_tracing() -> None:
    """Exports what is buffered and stops the exporters (at process end)."""
    _SHARED.shutdown()


def _traced(details: Any) -> bool:
    """Every call but health probes (polled, and Watch does not stream as a generator)."""
    method = details.method
    if isinstance(method, bytes):  # grpc.aio hands clients' method names over as bytes
        method = method.decode()
    return method not in OPEN_METHODS


def server_interceptor(service: str) -> grpc.aio.ServerInterceptor:
    """The tracing interceptor of ``service``'s server: a SERVER span per call, continuing the
    caller's trace. Put it first, so the span is current in every other interceptor and handler."""
    # The instrumentation's factories carry no annotations.
    interceptor: grpc.aio.ServerInterceptor = aio_server_interceptor(  # type: ignore[no-untyped-call]
        tracer_provider=tracer_provider(service), filter_=_traced
    )
    return interceptor


def client_interceptors(service: str) -> list[grpc.aio.ClientInterceptor]:
    """The tracing interceptors of a channel ``service`` opens: a CLIENT span per call, its context
    sent in the call's metadata."""
    interceptors: list[grpc.aio.ClientInterceptor] = aio_client_interceptors(  # type: ignore[no-untyped-call]
        tracer_provider=tracer_provider(service), filter_=_traced
    )
    return interceptors


def set_run_attributes(*, org_slug: str = "", run_id: str = "", pipeline_id: str = "") -> None:
    """Puts the ids a call works on on the current span; empty ones are left out, and so is an
    org slug that is not one (it is still unchecked caller input)."""
    span = trace.get_current_span()
    if not span.is_recording():
        return
    if org_slug and ORG_SLUG_PATTERN.fullmatch(org_slug):
        span.set_attribute(ORG_SLUG, org_slug)
    if run_id:
        span.set_attribute(RUN_ID, run_id)
    if pipeline_id:
        span.set_attribute(PIPELINE_ID, pipeline_id)
