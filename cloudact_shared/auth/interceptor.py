"""The one authorisation interceptor of every server: identify the caller, apply the RPC's rule, audit.

It runs before any handler: the caller is a service (the SPIFFE id of a verified mutual-TLS
certificate) or a bearer token (``authorization: Bearer ...``), the RPC's ``Access`` rule decides,
and every call except health leaves one audit line with its outcome. The handler can read who
called from ``current_principal``.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any, TypeAlias

import grpc
from google.protobuf.message import Message

from cloudact_shared.auth.audit import AuditLog
from cloudact_shared.auth.policy import (
    OPEN_METHODS,
    REFLECTION_METHODS,
    Principal,
    Rule,
    ServicePrincipal,
    TokenPrincipal,
    authorize,
    missing_token,
    request_scope,
)
from cloudact_shared.auth.tokens import TokenVerifier
from cloudact_shared.errors import CallerUnauthenticated, CloudactError, InvalidArgument, PermissionDenied

current_principal: contextvars.ContextVar[Principal | None] = contextvars.ContextVar("cloudact_principal", default=None)
"""Who is calling, set for the duration of each authorised call."""

_Context: TypeAlias = grpc.aio.ServicerContext[Any, Any]
_AUTHORIZATION = "authorization"
HEALTH_SYMBOL_PREFIX = "grpc.health.v1."
HEALTH_PROTO_FILE = "grpc/health/v1/health.proto"


class AuthInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[misc]  # grpc ships no types
    """Authenticates and authorises every call against its RPC's declared rule, and audits it.

    Args:
        rules: ``/package.Service/Method`` -> rule, for every method the server serves.
        verifier: Checks bearer tokens.
        trust_domain: Only SPIFFE ids of this trust domain identify services.
        audit: Where the audit lines go.
    """

    def __init__(self, rules: Mapping[str, Rule], verifier: TokenVerifier, trust_domain: str, audit: AuditLog) -> None:
        self._rules = dict(rules)
        self._verifier = verifier
        self._spiffe_prefix = f"spiffe://{trust_domain}/"
        self._audit = audit

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(handler_call_details)
        method: str = handler_call_details.method
        if handler is None or method in OPEN_METHODS:
            return handler
        check = self._checker(method)
        if handler.unary_unary is not None:
            return grpc.unary_unary_rpc_method_handler(
                self._unary(method, check, handler.unary_unary),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        if handler.unary_stream is not None:
            return grpc.unary_stream_rpc_method_handler(
                self._unary_stream(method, check, handler.unary_stream),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        if handler.stream_stream is not None:
            return grpc.stream_stream_rpc_method_handler(
                self._stream_stream(method, handler.stream_stream),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        # Client-streaming: the one kind left, so no handler ever passes unchecked.
        return grpc.stream_unary_rpc_method_handler(
            self._stream_unary(method, check, handler.stream_unary),
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )

    def _checker(self, method: str) -> Callable[[Principal | None, Message], None]:
        rule = self._rules.get(method)
        if rule is None:

            def undeclared(principal: Principal | None, request: Message) -> None:
                raise PermissionDenied(f"{method} declares no access rule", reason="UNDECLARED_ACCESS")

            return undeclared
        return lambda principal, request: authorize(rule, principal, request)

    def _unary(
        self, method: str, check: Callable[[Principal | None, Message], None], behaviour: Callable[..., Awaitable[Any]]
    ) -> Callable[..., Awaitable[Any]]:
        async def wrapped(request: Message, context: _Context) -> Any:
            who, scope, peer = _anonymous(), request_scope(request), context.peer()
            try:
                principal = self._identify(context)
                who = _describe(principal)
                check(principal, request)
                current_principal.set(principal)
                response = await behaviour(request, context)
            except BaseException as exc:
                self._record(who, method, scope, exc, peer)
                raise
            self._record(who, method, scope, None, peer)
            return response

        return wrapped

    def _unary_stream(
        self,
        method: str,
        check: Callable[[Principal | None, Message], None],
        behaviour: Callable[..., AsyncIterator[Any]],
    ) -> Callable[..., AsyncIterator[Any]]:
        async def wrapped(request: Message, context: _Context) -> AsyncIterator[Any]:
            # The peer is read now: once a caller has cancelled the stream, reading it from the
            # call being torn down can crash the process (seen as a segfault in context.peer()).
            who, scope, peer = _anonymous(), request_scope(request), context.peer()
            try:
                principal = self._identify(context)
                who = _describe(principal)
                check(principal, request)
                current_principal.set(principal)
                async for item in behaviour(request, context):
                    yield item
            except BaseException as exc:
                self._record(who, method, scope, exc, peer)
                raise
            self._record(who, method, scope, None, peer)

        return wrapped

    def _stream_unary(
        self,
        method: str,
        check: Callable[[Principal | None, Message], None],
        behaviour: Callable[..., Awaitable[Any]],
    ) -> Callable[..., Awaitable[Any]]:
        """A client-streaming call (EventsService.UploadEvents): its rule is applied to every request
        message, the first one before the handler runs, so a stream can never switch orgs midway and
        a caller the rule refuses is refused before anything is read or written."""

        async def wrapped(requests: AsyncIterator[Message], context: _Context) -> Any:
            who, scope, peer = _anonymous(), {}, context.peer()
            try:
                principal = self._identify(context)
                who = _describe(principal)
                first = await anext(aiter(requests), None)
                if first is None:
                    if principal is None:
                        raise missing_token()
                    raise InvalidArgument(f"{method} received no request message", reason="EMPTY_STREAM")
                scope = request_scope(first)
                check(principal, first)
                current_principal.set(principal)
                response = await behaviour(_checked_stream(first, requests, principal, check), context)
            except BaseException as exc:
                self._record(who, method, scope, exc, peer)
                raise
            self._record(who, method, scope, None, peer)
            return response

        return wrapped

    def _stream_stream(
        self, method: str, behaviour: Callable[..., AsyncIterator[Any]]
    ) -> Callable[..., AsyncIterator[Any]]:
        """Only reflection streams both ways here. Any authenticated caller may use it; without a
        token it describes the open health service only, so ``grpcurl ... Health/Check`` (which
        first asks reflection for the health schema) works for load balancers and operators."""

        async def wrapped(requests: AsyncIterator[Any], context: _Context) -> AsyncIterator[Any]:
            if method not in REFLECTION_METHODS:
                raise PermissionDenied(f"{method} declares no access rule", reason="UNDECLARED_ACCESS")
            if self._identify(context) is None:
                requests = _health_reflection_only(requests)
            async for item in behaviour(requests, context):
                yield item

        return wrapped

    def _identify(self, context: _Context) -> Principal | None:
        """The service behind a verified mutual-TLS certificate, else the bearer token's holder."""
        spiffe = context.auth_context().get("peer_spiffe_id") or []
        for value in spiffe:
            identity = value.decode(errors="replace")
            if identity.startswith(self._spiffe_prefix):
                return ServicePrincipal(identity.removeprefix(self._spiffe_prefix).rsplit("/", 1)[-1])
        headers = [v for k, v in (context.invocation_metadata() or ()) if k == _AUTHORIZATION]
        if not headers:
            return None
        if len(headers) > 1 or not isinstance(headers[0], str):
            raise CallerUnauthenticated("send exactly one authorization header", reason="INVALID_TOKEN")
        scheme, _, token = headers[0].strip().partition(" ")
        if scheme.lower() != "bearer":
            raise CallerUnauthenticated("the authorization header must be 'Bearer <token>'", reason="INVALID_TOKEN")
        return TokenPrincipal(self._verifier.verify(token.strip()))

    def _record(
        self, who: dict[str, str], method: str, scope: dict[str, str], exc: BaseException | None, peer: str
    ) -> None:
        self._audit.record(who=who, action=method, result=_outcome(exc), scope=scope, peer=peer)


async def _health_reflection_only(requests: AsyncIterator[Any]) -> AsyncIterator[Any]:
    """Passes reflection requests about the health service; anything else needs a token."""
    async for request in requests:
        kind = request.WhichOneof("message_request")
        symbol = str(getattr(request, kind, "")) if kind else ""
        if not (symbol.startswith(HEALTH_SYMBOL_PREFIX) or symbol == HEALTH_PROTO_FILE):
            raise missing_token()
        yield request


def _anonymous() -> dict[str, str]:
    return {"kind": "anonymous"}


def _describe(principal: Principal | None) -> dict[str, str]:
    return principal.describe() if principal is not None else _anonymous()


def _outcome(exc: BaseException | None) -> str:
    if exc is None:
        return "OK"
    if isinstance(exc, CloudactError):
        return str(exc.code.name)
    if isinstance(exc, asyncio.CancelledError):
        return "CANCELLED"
    return "INTERNAL"


async def _checked_stream(
    first: Message,
    requests: AsyncIterator[Message],
    principal: Principal | None,
    check: Callable[[Principal | None, Message], None],
) -> AsyncIterator[Message]:
    """``first`` (already checked), then every later message of ``requests`` once the rule allows it."""
    yield first
    async for request in requests:
        check(principal, request)
        yield request
