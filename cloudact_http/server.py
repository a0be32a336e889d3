"""The HTTPS server of ``cloudact serve``: a Starlette app (``build_app``) run by uvicorn over TLS with
the deployment CA's "http" certificate on ``settings.http_address`` (``HttpServer``)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence

import uvicorn
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from cloudact_shared.auth.tls import TlsFiles
from cloudact_shared.settings import CloudactSettings

_log = logging.getLogger(__name__)
_CODES = {404: "NOT_FOUND", 405: "UNIMPLEMENTED", 413: "INVALID_ARGUMENT"}

RouteFactory = Callable[[CloudactSettings], Sequence[BaseRoute]]
"""Builds more routes (the dashboard's) from the settings the services are serving with."""


def build_app(
    settings: CloudactSettings,
    routes: Sequence[BaseRoute],
    *,
    on_shutdown: Sequence[Callable[[], Awaitable[None]]] = (),
) -> Starlette:
    """The app serving ``routes``, ``/healthz``, and JSON errors ({code, message, reason}) for the
    paths and methods nothing serves; ``on_shutdown`` runs when the server stops."""

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            for close in on_shutdown:
                await close()

    async def healthz(_request: Request) -> Response:
        return JSONResponse({"status": "SERVING"})

    async def http_error(request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, HTTPException) else 500
        code = _CODES.get(status, "UNKNOWN")
        message = "no such route" if status == 404 else str(getattr(exc, "detail", "error"))
        headers = getattr(exc, "headers", None)
        return JSONResponse({"code": code, "message": message, "reason": code}, status_code=status, headers=headers)

    return Starlette(
        routes=[Route("/healthz", healthz, methods=["GET"], name="healthz"), *routes],
        exception_handlers={HTTPException: http_error},
        lifespan=lifespan,
    )


class _Uvicorn(uvicorn.Server):
    """uvicorn without its signal handlers: ``cloudact serve`` owns SIGINT/SIGTERM and stops us."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class HttpServer:
    """The ServeComponent "http": the JSON gateway of the annotated RPCs (plus ``extra_routes``) over
    HTTPS on ``settings.http_address``, calling the services at the addresses in ``start``'s settings."""

    name = "http"

    def __init__(self, *, extra_routes: RouteFactory | None = None, log: Callable[[str], None] | None = None) -> None:
        self._extra_routes = extra_routes
        self._log = log or _log.info
        self._server: _Uvicorn | None = None
        self._task: asyncio.Task[None] | None = None
        self.port: int | None = None
        """The port bound, once started (``http_address`` may end in ``:0``)."""

    async def start(self, settings: CloudactSettings) -> None:
        """Serves until ``stop``; returns once the socket accepts connections.

        Raises:
            RuntimeError: the server could not start (port taken, bad certificate...).
        """
        # Imported here: the gateway imports every stub; `cloudact serve --only ...` without http need not.
        from cloudact_http.gateway import Gateway
        from cloudact_http.gateway.openapi import openapi_document

        gateway = Gateway(settings)
        document = openapi_document(gateway.bindings)

        async def openapi(_request: Request) -> Response:
            return JSONResponse(document)

        routes: list[BaseRoute] = [Route("/api/openapi.json", openapi, methods=["GET"]), *gateway.routes]
        if self._extra_routes is not None:
            routes += self._extra_routes(settings)
        app = build_app(settings, routes, on_shutdown=[gateway.aclose])
        host, port = settings.http_address.rsplit(":", 1)
        files = TlsFiles.from_settings(settings)
        config = uvicorn.Config(
            app,
            host=host.strip("[]"),
            port=int(port),
            ssl_certfile=str(files.cert("http")),
            ssl_keyfile=str(files.key("http")),
            log_config=None,
            access_log=False,
            server_header=False,
            lifespan="on",
            timeout_graceful_shutdown=math.ceil(settings.shutdown_grace_seconds),
            # Headers carry bearer tokens: uvicorn never logs them, and nothing here does either.
            h11_max_incomplete_event_size=64 * 1024,
        )
        server = _Uvicorn(config)
        task = asyncio.create_task(self._serve(server), name="http-server")
        while not server.started:
            if task.done():
                await task  # raises its error
                raise RuntimeError(f"the HTTPS server on {settings.http_address} stopped while starting")
            await asyncio.sleep(0.02)
        self._server, self._task = server, task
        self.port = server.servers[0].sockets[0].getsockname()[1]
        self._log(f"http SERVING on https://{host}:{self.port} (JSON gateway, /api/openapi.json)")

    @staticmethod
    async def _serve(server: uvicorn.Server) -> None:
        try:
            await server.serve()
        except SystemExit as exc:  # uvicorn exits on a bind or start-up failure
            raise RuntimeError(f"the HTTPS server failed to start (exit code {exc.code})") from None

    async def stop(self) -> None:
        """Stops accepting, lets requests in flight finish (up to the shutdown grace), then closes."""
        if self._server is None or self._task is None:
            return
        self._server.should_exit = True
        await self._task
        self._server = self._task = None
