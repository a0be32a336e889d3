"""Server bootstrap shared by the four services: health, reflection, error mapping, graceful stop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from grpc_status import rpc_status

from cloudact_shared.errors import status_of
from cloudact_shared.logs import configure_logging
from cloudact_shared.settings import CloudactSettings

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ServiceRegistration:
    """One servicer and how to add it: ``add(servicer, server)`` plus its full proto name."""

    servicer: object
    add: Callable[[Any, grpc.aio.Server], None]
    full_name: str


class ErrorInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[misc]  # grpc ships no types
    """Turns any exception a handler raises into a rich google.rpc.Status, in one place."""

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(handler_call_details)
        if handler is None:
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
        return handler


def _wrap_unary(behaviour: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
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


def build_server(
    registrations: Sequence[ServiceRegistration],
    address: str,
    *,
    interceptors: Iterable[grpc.aio.ServerInterceptor] = (),
) -> tuple[grpc.aio.Server, int, health.aio.HealthServicer]:
    """Builds (does not start) a server with health, reflection and the error interceptor.

    Returns:
        The server, the port actually bound (``address`` may end in ``:0``) and its health servicer.
    """
    server = grpc.aio.server(interceptors=[ErrorInterceptor(), *interceptors])
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    for registration in registrations:
        registration.add(registration.servicer, server)
    names = [r.full_name for r in registrations]
    reflection.enable_server_reflection(
        [*names, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name, reflection.SERVICE_NAME],
        server,
    )
    port = server.add_insecure_port(address)
    if port == 0:
        raise OSError(f"could not bind {address}")
    return server, port, health_servicer


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
) -> None:
    """Starts the server and runs until SIGTERM/SIGINT (or ``stop_event``), then stops gracefully.

    On the signal health turns NOT_SERVING first, so load balancers drain, and in-flight RPCs get
    ``grace_seconds`` to finish.
    """
    stop = stop_event or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    await server.start()
    await mark_serving(health_servicer, names)
    try:
        await stop.wait()
    finally:
        await health_servicer.enter_graceful_shutdown()
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
    health: health.aio.HealthServicer
    service_names: list[str]
    on_stop: list[Callable[[], Awaitable[None]]]

    async def start(self) -> None:
        """Starts serving and marks health SERVING (for tests and in-process use)."""
        await self.server.start()
        await mark_serving(self.health, self.service_names)

    async def stop(self, grace_seconds: float = 0) -> None:
        """Drains (health NOT_SERVING), stops the server, then releases resources."""
        await self.health.enter_graceful_shutdown()
        await self.server.stop(grace_seconds)
        for release in self.on_stop:
            await release()


async def run_until_signal(built: BuiltServer, grace_seconds: float) -> None:
    """Runs a built server until SIGTERM/SIGINT, then stops it gracefully and releases resources."""
    try:
        await serve_until_stopped(built.server, built.health, built.service_names, grace_seconds=grace_seconds)
    finally:
        for release in built.on_stop:
            await release()


def build_service_server(
    registrations: Sequence[ServiceRegistration],
    address: str,
    on_stop: Sequence[Callable[[], Awaitable[None]]] = (),
) -> BuiltServer:
    """``build_server`` plus the bookkeeping of a BuiltServer."""
    server, port, health_servicer = build_server(registrations, address)
    return BuiltServer(server, port, health_servicer, [r.full_name for r in registrations], list(on_stop))


def serve_main(build: Callable[[CloudactSettings], Awaitable[BuiltServer]], service: str) -> None:
    """A service's ``python -m`` entry point: settings once, JSON logs, serve until SIGTERM."""
    settings = CloudactSettings()
    configure_logging(settings.log_level, service)

    async def run() -> None:
        await run_until_signal(await build(settings), settings.shutdown_grace_seconds)

    asyncio.run(run())
