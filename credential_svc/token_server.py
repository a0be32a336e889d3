"""TokenService over gRPC: an organisation's admins mint, list and revoke their own org's tokens.

The access rule (admin of the request's org) is applied by the shared interceptor before these
handlers run, so an admin of one org can never mint or revoke another org's tokens.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any, TypeAlias

import grpc
from google.protobuf.timestamp_pb2 import Timestamp

from cloudact_shared.auth.interceptor import current_principal
from cloudact_shared.auth.policy import TokenPrincipal
from cloudact_shared.auth.tokens import DEFAULT_TTL, Role, TokenAuthority, TokenInfo
from cloudact_shared.errors import FieldViolation, InvalidArgument
from cloudact_shared.gen.cloudact.auth.v1 import token_service_pb2 as pb
from cloudact_shared.gen.cloudact.auth.v1 import token_service_pb2_grpc as pb_grpc
from cloudact_shared.server import ServiceRegistration

_Context: TypeAlias = grpc.aio.ServicerContext[Any, Any]


class TokenServicer(pb_grpc.TokenServiceServicer):
    """Translates TokenService RPCs to ``TokenAuthority`` calls (file I/O in a worker thread)."""

    def __init__(self, authority: TokenAuthority) -> None:
        self._authority = authority

    async def CreateToken(self, request: pb.CreateTokenRequest, context: _Context) -> pb.CreateTokenResponse:
        if request.role not in {int(role) for role in Role}:
            raise InvalidArgument(
                "role is required: ROLE_VIEWER, ROLE_OPERATOR or ROLE_ADMIN",
                violations=[FieldViolation("role", "required")],
            )
        ttl = request.ttl.ToTimedelta() if request.HasField("ttl") else DEFAULT_TTL
        subject = request.subject or f"minted by {_caller()}"
        token, info = await asyncio.to_thread(
            self._authority.mint, request.org_slug, Role(request.role), ttl=ttl, subject=subject
        )
        return pb.CreateTokenResponse(token=token, info=_info(info))

    async def ListTokens(self, request: pb.ListTokensRequest, context: _Context) -> pb.ListTokensResponse:
        found = await asyncio.to_thread(self._authority.list_tokens, request.org_slug)
        return pb.ListTokensResponse(tokens=[_info(info) for info in found])

    async def RevokeToken(self, request: pb.RevokeTokenRequest, context: _Context) -> pb.RevokeTokenResponse:
        revoked = await asyncio.to_thread(self._authority.revoke, request.token_id, org_slug=request.org_slug)
        return pb.RevokeTokenResponse(info=_info(revoked))


def token_registration(servicer: TokenServicer) -> ServiceRegistration:
    """How ``build_service_server`` adds the servicer."""
    return ServiceRegistration(
        servicer, pb_grpc.add_TokenServiceServicer_to_server, pb.DESCRIPTOR.services_by_name["TokenService"]
    )


def _caller() -> str:
    principal = current_principal.get()
    if isinstance(principal, TokenPrincipal):
        return f"token {principal.token.token_id}"
    return "an admin"


def _info(info: TokenInfo) -> pb.TokenInfo:
    message = pb.TokenInfo(
        token_id=info.token_id,
        org_slug=info.org_slug,
        role=int(info.role),  # type: ignore[arg-type]
        subject=info.subject,
        issued_at=_timestamp(info.issued_at),
        expires_at=_timestamp(info.expires_at),
    )
    if info.revoked_at is not None:
        message.revoked_at.CopyFrom(_timestamp(info.revoked_at))
    return message


def _timestamp(value: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(value)
    return stamp
