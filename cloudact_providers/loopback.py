"""A vendor's HTTP API on loopback, for the SaaS providers' tests and ``make demo``.

A SaaS provider is tested with the vendor's own Python client (openai, databricks-sdk,
datadog-api-client...) against a server on 127.0.0.1 that answers in the vendor's documented
shapes: its pages, its error bodies, 429 with Retry-After. The client library is never patched.
The same server feeds ``make demo``, so it is runtime code, not a test fixture: each provider's
``loopback.py`` declares its routes on a ``LoopbackApi``; this module runs them.

Built on werkzeug (already installed with moto's server): a threaded WSGI server on an ephemeral
port, stopped by the context manager. What the server does not know (routes, auth, page sizes, the
error body) belongs to the provider.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

Handler = Callable[[Request, "re.Match[str]"], Response]
"""Answers one request whose path matched the route's pattern (groups are the path's parameters)."""

ErrorBody = Callable[[int, str], Any]
"""The vendor's error body for an HTTP status and a message (serialised as JSON)."""


def json_response(body: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    """A JSON response, as every vendor API here answers."""
    return Response(json.dumps(body), status=status, headers=dict(headers or {}), mimetype="application/json")


@dataclass(frozen=True)
class Seen:
    """One request as the server saw it, for tests to assert on (paging, filters). No header values:
    they hold the credential."""

    method: str
    path: str
    query: Mapping[str, str]
    body: bytes


@dataclass
class _Fault:
    method: str
    path: re.Pattern[str]
    status: int
    retry_after: int | None
    remaining: int


@dataclass
class LoopbackApi:
    """Routes of one vendor API, with its authentication check and its error body.

    ``authorized`` sees every request first; a request it refuses gets 401 with the vendor's body.
    ``fail`` queues faults (429 with Retry-After, 500, 503) that the next matching requests get
    instead of their answer: the retry paths of the real client are exercised against them.
    """

    name: str
    authorized: Callable[[Request], bool]
    error_body: ErrorBody
    routes: list[tuple[str, re.Pattern[str], Handler]] = field(default_factory=list)
    seen: list[Seen] = field(default_factory=list)
    _faults: list[_Fault] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def route(self, method: str, pattern: str) -> Callable[[Handler], Handler]:
        """Decorator: ``handler`` answers ``method`` requests whose whole path matches ``pattern``."""

        def add(handler: Handler) -> Handler:
            self.routes.append((method.upper(), re.compile(pattern), handler))
            return handler

        return add

    def fail(
        self, method: str, pattern: str, status: int = 429, *, retry_after: int | None = 1, times: int = 1
    ) -> None:
        """The next ``times`` requests matching ``method`` and ``pattern`` get ``status`` (with a
        Retry-After header of ``retry_after`` seconds when given)."""
        with self._lock:
            self._faults.append(_Fault(method.upper(), re.compile(pattern), status, retry_after, times))

    def requests_to(self, pattern: str) -> list[Seen]:
        """The requests seen whose path matches ``pattern``, in order."""
        compiled = re.compile(pattern)
        return [seen for seen in self.seen if compiled.fullmatch(seen.path)]

    def error(self, status: int, message: str, headers: Mapping[str, str] | None = None) -> Response:
        """The vendor's error response."""
        return json_response(self.error_body(status, message), status, headers)

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        request = Request(environ)
        response = self._answer(request)
        return response(environ, start_response)

    def _answer(self, request: Request) -> Response:
        body = request.get_data(cache=True)
        with self._lock:
            self.seen.append(Seen(request.method, request.path, dict(request.args), body))
            fault = self._take_fault(request)
        if fault is not None:
            headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else {}
            return self.error(fault.status, "injected fault", headers)
        if not self.authorized(request):
            return self.error(401, "invalid or missing credentials")
        for method, pattern, handler in self.routes:
            match = pattern.fullmatch(request.path)
            if match is not None and method == request.method:
                return handler(request, match)
        return self.error(404, f"no route {request.method} {request.path}")

    def _take_fault(self, request: Request) -> _Fault | None:
        for fault in self._faults:
            if fault.remaining > 0 and fault.method == request.method and fault.path.fullmatch(request.path):
                fault.remaining -= 1
                return fault
        return None


class _QuietHandler(WSGIRequestHandler):
    """No access log: ``make demo`` prints the pipeline's progress, and tests read ``LoopbackApi.seen``."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        return None


@dataclass(frozen=True)
class Running:
    """A ``LoopbackApi`` serving on loopback."""

    api: LoopbackApi
    url: str
    """``http://127.0.0.1:<port>``, no trailing slash."""


@contextmanager
def serving(api: LoopbackApi) -> Iterator[Running]:
    """Serves ``api`` on 127.0.0.1 on an ephemeral port until the block exits."""
    server: BaseWSGIServer = make_server("127.0.0.1", 0, api, threaded=True, request_handler=_QuietHandler)
    thread = threading.Thread(target=server.serve_forever, name=f"loopback-{api.name}", daemon=True)
    thread.start()
    try:
        yield Running(api, f"http://127.0.0.1:{server.server_port}")
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
