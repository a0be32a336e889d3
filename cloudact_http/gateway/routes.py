"""The gateway's Starlette routes: one per annotated path, each calling its RPC over gRPC with the
caller's bearer token and answering JSON.

The gateway holds no authority of its own: it forwards ``Authorization: Bearer ...`` as the call's
metadata and the service decides (no token: the service's UNAUTHENTICATED). The token is never
logged, echoed or kept beyond the call.
"""

from __future__ import annotations

import logging
import re
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import grpc
from google.protobuf import message_factory
from google.protobuf.message import Message
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from cloudact_http.gateway.bindings import SERVICE_ADDRESS_SETTINGS, Binding, BindingError, bindings
from cloudact_http.gateway.transcode import error_body, http_status, request_message, response_json
from cloudact_shared.clients import open_channel
from cloudact_shared.errors import CloudactError, InvalidArgument, from_rpc_error
from cloudact_shared.settings import CloudactSettings

MAX_BODY_BYTES = 1024 * 1024
"""Largest request body the gateway reads (HTTP 413 beyond): every annotated request is small JSON."""

_BEARER = re.compile(r"^Bearer [\x21-\x7e]{1,8192}$", re.IGNORECASE)
_log = logging.getLogger(__name__)


class Gateway:
    """The annotated RPCs served as HTTP/JSON routes, with one gRPC channel per service address.

    Channels open on first use (in the server's event loop) and close with ``aclose``.
    """

    def __init__(self, settings: CloudactSettings, found: Sequence[Binding] | None = None) -> None:
        """Reads the annotations (``bindings()`` unless ``found`` is given).

        Raises:
            BindingError: an annotation cannot be served, or its service has no known address.
        """
        self._settings = settings
        self._timeout = settings.http_timeout_seconds
        self.bindings = list(found if found is not None else bindings())
        self._channels: dict[str, grpc.aio.Channel] = {}
        self._calls: dict[str, Any] = {}
        for binding in self.bindings:
            if binding.service.full_name not in SERVICE_ADDRESS_SETTINGS:
                raise BindingError(f"{binding.grpc_path} is annotated but its service has no address setting")

    @property
    def routes(self) -> list[BaseRoute]:
        """One route per path; its methods are the verbs bound to it (plus HEAD for GET, and OPTIONS)."""
        by_path: dict[str, dict[str, Binding]] = defaultdict(dict)
        for binding in self.bindings:
            by_path[binding.route_path][binding.http_method] = binding
        return [
            Route(path, self._endpoint(verbs), methods=[*verbs, "OPTIONS"], name=f"gateway:{path}")
            for path, verbs in sorted(by_path.items())
        ]

    async def aclose(self) -> None:
        """Closes the gRPC channels."""
        channels, self._channels, self._calls = list(self._channels.values()), {}, {}
        for channel in channels:
            await channel.close()

    def _endpoint(self, verbs: dict[str, Binding]) -> Any:
        allow = ", ".join(sorted({*verbs, "OPTIONS", *(["HEAD"] if "GET" in verbs else [])}))

        async def endpoint(request: Request) -> Response:
            if request.method == "OPTIONS":
                return Response(status_code=204, headers={"Allow": allow})
            binding = verbs["GET" if request.method == "HEAD" else request.method]
            try:
                return await self._handle(binding, request)
            except CloudactError as exc:
                return error_response(exc)

        return endpoint

    async def _handle(self, binding: Binding, request: Request) -> Response:
        metadata = _metadata(request)
        body = await _read_body(request)
        message = message_factory.GetMessageClass(binding.method.input_type)()
        request_message(binding, message, request.path_params, request.query_params.multi_items(), body)
        call = self._call(binding)
        try:
            response = await call(message, metadata=metadata, timeout=self._timeout)
        except grpc.aio.AioRpcError as exc:
            error = from_rpc_error(exc)
            _log.info("%s %s -> %s/%s", binding.http_method, binding.template, error.code.name, error.reason)
            return error_response(error)
        return JSONResponse(response_json(response))

    def _call(self, binding: Binding) -> Any:
        """The unary-unary multicallable of ``binding``'s RPC (on its service's channel)."""
        call = self._calls.get(binding.grpc_path)
        if call is None:
            address = getattr(self._settings, SERVICE_ADDRESS_SETTINGS[binding.service.full_name])
            channel = self._channels.get(address)
            if channel is None:
                channel = self._channels[address] = open_channel(self._settings, address)
            response_class: type[Message] = message_factory.GetMessageClass(binding.method.output_type)
            call = channel.unary_unary(
                binding.grpc_path,
                request_serializer=lambda m: m.SerializeToString(),
                response_deserializer=response_class.FromString,
            )
            self._calls[binding.grpc_path] = call
        return call


def error_response(error: CloudactError) -> JSONResponse:
    """The HTTP answer for ``error`` (401 also says which scheme to use)."""
    status = 413 if isinstance(error, _TooLarge) else http_status(error.code)
    headers = {"WWW-Authenticate": 'Bearer realm="cloudact"'} if status == 401 else None
    return JSONResponse(error_body(error), status_code=status, headers=headers)


def _metadata(request: Request) -> tuple[tuple[str, str], ...]:
    """The caller's ``authorization`` header as gRPC metadata, when it is a well-formed bearer token."""
    header = request.headers.get("authorization")
    if header is None:
        return ()
    if not _BEARER.fullmatch(header):
        # Never echoed: a mistyped header may still hold a real token.
        raise _Unauthenticated("the authorization header must be 'Bearer <token>'")
    return (("authorization", "Bearer " + header.split(" ", 1)[1]),)


async def _read_body(request: Request) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise _TooLarge()
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise _TooLarge()
        chunks.append(chunk)
    return b"".join(chunks)


class _Unauthenticated(CloudactError):
    code = grpc.StatusCode.UNAUTHENTICATED
    reason = "MALFORMED_AUTHORIZATION"


class _TooLarge(InvalidArgument):
    """A body over MAX_BODY_BYTES (HTTP 413, not 400: the size, not the content, is wrong)."""

    reason = "REQUEST_TOO_LARGE"

    def __init__(self) -> None:
        super().__init__(f"the request body is larger than {MAX_BODY_BYTES} bytes")
