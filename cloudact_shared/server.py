"""Server bootstrap shared by the four services: TLS, authorisation, health, reflection, errors,
traces and metrics, graceful stop."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import signal
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
from google.protobuf.descriptor import ServiceDescriptor
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from grpc_status import rpc_status

from cloudact_shared.auth.audit import AuditLog
from cloudact_shared.auth.files import write_atomically
from cloudact_shared.auth.interceptor import AuthInterceptor
from cloudact_shared.auth.policy import OPEN_METHODS, rules_of
from cloudact_shared.auth.tls import TlsFiles, server_credentials
from cloudact_shared.auth.tokens import TokenVerifier
from cloudact_shared.errors import status_of
from cloudact_shared.logs import configure_logging
from cloudact_shared.metrics import MetricsServer, RpcMetricsInterceptor
from cloudact_shared.settings import CloudactSettings
from cloudact_shared.telemetry import configure_tracing, server_interceptor, shutdown_tracing

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ServiceRegistration:
    """One servicer, how to add it (``add(servicer, server)``) and its proto service descriptor."""

    servicer: object
    add: Callable[[Any, grpc.aio.Server], None]
    descriptor: ServiceDescriptor

    @property
    def full_name(self) -> str:
        return str(self.descriptor.full_name)


@dataclass(frozen=True)
class ServerSecurity:
    """What a server needs to decide who may call it: its TLS files, the token verifier, the audit log."""

    service: str
    tls: TlsFiles
    verifier: TokenVerifier
    audit: AuditLog

    @classmethod
    def from_settings(cls, settings: CloudactSettings, service: str) -> ServerSecurity:
        return cls(
            service,
            TlsFiles.from_settings(settings),
            TokenVerifier(settings.tokens_path),
            AuditLog(settings.audit_path, service),
        )


class ErrorInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[misc]  # grpc ships no types
    """Turns any exception a handler raises into a rich google.rpc.Status, in one place."""

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(handler_call_details)
        # Health's Watch streams with context.write, not as a generator: leave grpc_health as it is.
        if handler is None or handler_call_details.method in OPEN_METHODS:
            return handler
        if handler.unary_unary is not None:
            return grpc.unary_unary_rpc_method_handler(
                _wrap_unary(handler.unary_unary),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        if handler.unary_stream is not None:
            return grpc.unary_stream_rpc_method_handler(
                _wrap_stream(handler.unary_stream),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        if handler.stream_stream is not None:  # reflection
            return grpc.stream_stream_rpc_method_handler(
                _wrap_stream(handler.stream_stream),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        if handler.stream_unary is not None:  # client-streaming (EventsService.UploadEvents): one answer
            return grpc.stream_unary_rpc_method_handler(
                _wrap_unary(handler.stream_unary),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        return handler


def _wrap_unary(behaviour: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    # ``request`` is the request, or the request stream of a client-streaming call.
    async def wrapped(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
        try:
            return await behaviour(request, context)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if _is_abort(exc):
                raise
            await context.abort_with_status(rpc_status.to_status(status_of(exc)))

    return wrapped


def _wrap_stream(behaviour: Callable[..., AsyncIterator[Any]]) -> Callable[..., AsyncIterator[Any]]:
    async def wrapped(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> AsyncIterator[Any]:
        try:
            async for item in behaviour(request, context):
                yield item
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if _is_abort(exc):
                raise
            await context.abort_with_status(rpc_status.to_status(status_of(exc)))

    return wrapped


def _is_abort(exc: BaseException) -> bool:
    # grpc.aio raises its own AbortError after context.abort(); let it pass through untouched.
    return type(exc).__name__ == "AbortError"


_MAX_REQUEST_BYTES = 1024 * 1024
"""No request of ours comes near this; a bigger one is refused before it is parsed."""


def build_server(
    registrations: Sequence[ServiceRegistration],
    security: ServerSecurity,
    address: str,
    internal_address: str | None = None,
) -> tuple[grpc.aio.Server, int, int | None, health.aio.HealthServicer]:
    """Builds (does not start) a TLS server with health, reflection, authorisation, error mapping,
    tracing and RPC metrics.

    ``address`` speaks TLS (callers bring a bearer token); when a registered RPC is internal and
    ``internal_address`` is given, that port speaks mutual TLS for the services allowed to call it.

    Returns:
        The server, the public and internal ports actually bound (addresses may end in ``:0``) and
        its health servicer.
    """
    rules = rules_of([r.descriptor for r in registrations])
    auth = AuthInterceptor(rules, security.verifier, security.tls.trust_domain, security.audit)
    # Tracing first: its span is current in the others (metrics put the final code on it); then
    # metrics, which see the code ErrorInterceptor aborts with; authorisation innermost.
    server = grpc.aio.server(
        interceptors=[
            server_interceptor(security.service),
            RpcMetricsInterceptor(security.service),
            ErrorInterceptor(),
            auth,
        ],
        options=[("grpc.max_receive_message_length", _MAX_REQUEST_BYTES)],
    )
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    for registration in registrations:
        registration.add(registration.servicer, server)
    names = [r.full_name for r in registrations]
    reflection.enable_server_reflection(
        [*names, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name, reflection.SERVICE_NAME],
        server,
    )
    port = _bind(server, address, server_credentials(security.tls, security.service, require_client_auth=False))
    internal_port = None
    if internal_address and any(rule.internal_callers for rule in rules.values()):
        mutual = server_credentials(security.tls, security.service, require_client_auth=True)
        internal_port = _bind(server, internal_address, mutual)
    return server, port, internal_port, health_servicer


def _bind(server: grpc.aio.Server, address: str, credentials: grpc.ServerCredentials) -> int:
    port: int = server.add_secure_port(address, credentials)
    if port == 0:
        raise OSError(f"could not bind {address}")
    return port


async def mark_serving(health_servicer: health.aio.HealthServicer, names: Iterable[str]) -> None:
    """Marks the overall server and each named service SERVING."""
    await health_servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    for name in names:
        await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)


async def serve_until_stopped(
    server: grpc.aio.Server,
    health_servicer: health.aio.HealthServicer,
    names: Iterable[str],
    *,
    grace_seconds: float,
    stop_event: asyncio.Event | None = None,
    drain: Sequence[Callable[[], Awaitable[None]]] = (),
    on_serving: Callable[[], None] | None = None,
) -> None:
    """Starts the server and runs until SIGTERM/SIGINT (or ``stop_event``), then stops gracefully.

    On the signal health turns NOT_SERVING first, so load balancers drain; then the ``drain`` steps
    run (work that outlives an RPC, such as pipeline runs, gets its share of the grace there), and
    in-flight RPCs get ``grace_seconds`` to finish.
    """
    stop = stop_event or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    await server.start()
    await mark_serving(health_servicer, names)
    if on_serving is not None:
        on_serving()
    try:
        await stop.wait()
    finally:
        await health_servicer.enter_graceful_shutdown()
        for step in drain:
            await step()
        await server.stop(grace_seconds)
        _log.info("server stopped")


def remaining_timeout(context: grpc.aio.ServicerContext[Any, Any], default: float) -> float:
    """The caller's remaining deadline (to pass downstream), or ``default`` when it set none."""
    remaining = context.time_remaining()
    if remaining is None:
        return default
    return max(float(remaining), 0.001)


@dataclass
class BuiltServer:
    """A service's server, not yet started, with what it needs released on stop."""

    server: grpc.aio.Server
    port: int
    internal_port: int | None
    health: health.aio.HealthServicer
    service_names: list[str]
    on_stop: list[Callable[[], Awaitable[None]]]
    on_drain: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    metrics_port: int | None = None
    """Where its Prometheus metrics are served over HTTP, when they are (``{service}_metrics_address``)."""

    async def start(self) -> None:
        """Starts serving and marks health SERVING (for tests and in-process use)."""
        await self.server.start()
        await mark_serving(self.health, self.service_names)

    async def stop(self, grace_seconds: float = 0) -> None:
        """Drains (health NOT_SERVING, then the drain steps), stops the server, then releases resources."""
        await self.health.enter_graceful_shutdown()
        for step in self.on_drain:
            await step()
        await self.server.stop(grace_seconds)
        for release in self.on_stop:
            await release()


async def run_until_signal(built: BuiltServer, grace_seconds: float, ready_file: Path | None = None) -> None:
    """Runs a built server until SIGTERM/SIGINT, then stops it gracefully and releases resources.

    Once it serves, the ports it bound are written to ``ready_file`` (JSON) when one is given.
    """
    try:
        await serve_until_stopped(
            built.server,
            built.health,
            built.service_names,
            grace_seconds=grace_seconds,
            drain=built.on_drain,
            on_serving=(lambda: write_ready_file(ready_file, built)) if ready_file else None,
        )
    finally:
        for release in built.on_stop:
            await release()


def write_ready_file(path: Path, built: BuiltServer) -> None:
    """Writes the ports ``built`` bound, atomically: a reader sees no file or the whole of it."""
    content = json.dumps({"port": built.port, "internal_port": built.internal_port}).encode()
    write_atomically(path, content, mode=0o600)


_METRICS_ADDRESS_FIELDS = {
    "credential_svc": "credential_metrics_address",
    "ingest_svc": "ingest_metrics_address",
    "focus_svc": "focus_metrics_address",
    "query_svc": "query_metrics_address",
}
"""Each service's setting naming where its Prometheus metrics are served."""


def build_service_server(
    registrations: Sequence[ServiceRegistration],
    settings: CloudactSettings,
    service: str,
    *,
    address: str | None = None,
    internal_address: str | None = None,
    on_stop: Sequence[Callable[[], Awaitable[None]]] = (),
    on_drain: Sequence[Callable[[], Awaitable[None]]] = (),
) -> BuiltServer:
    """``build_server`` on ``service``'s configured addresses (or the given ones), plus bookkeeping:
    ``on_drain`` steps run when stopping before the server stops, ``on_stop`` ones after it.

    Traces go where ``settings.otel_exporter`` says; the metrics endpoint is served (from now on)
    when ``{service}_metrics_address`` is set.
    """
    configure_tracing(settings)
    configured = settings.service_addresses(service)
    security = ServerSecurity.from_settings(settings, service)
    metrics_address: str | None = getattr(settings, _METRICS_ADDRESS_FIELDS[service])
    metrics = MetricsServer(metrics_address) if metrics_address else None
    try:
        server, port, internal_port, health_servicer = build_server(
            registrations,
            security,
            address or configured[0],
            internal_address or (configured[1] if len(configured) > 1 else None),
        )
    except BaseException:
        if metrics is not None:
            metrics.stop()
        raise

    async def close_audit() -> None:
        security.audit.close()

    releases = [*on_stop, close_audit, *([metrics.close] if metrics is not None else [])]
    names = [r.full_name for r in registrations]
    return BuiltServer(
        server,
        port,
        internal_port,
        health_servicer,
        names,
        releases,
        list(on_drain),
        metrics.port if metrics is not None else None,
    )


def serve_main(build: Callable[[CloudactSettings], Awaitable[BuiltServer]], service: str) -> None:
    """A service's ``python -m`` entry point: settings once, JSON logs, serve until SIGTERM."""
    settings = CloudactSettings()
    configure_logging(settings.log_level, service)

    async def run() -> None:
        await run_until_signal(await build(settings), settings.shutdown_grace_seconds, settings.ready_file)

    try:
        asyncio.run(run())
    finally:
        shutdown_tracing()  # the spans still buffered go out before the process ends
