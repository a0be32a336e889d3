"""Who may call what: each RPC's declared ``Access``, the caller's identity, and the one decision.

The rules are read from the contracts themselves (the ``cloudact.auth.v1.access`` method option on
every RPC), so a new RPC cannot ship without saying who may call it: ``rules_of`` refuses a
service with an undeclared method, and a method with no rule is refused at call time.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from google.protobuf.descriptor import ServiceDescriptor
from google.protobuf.message import Message

from cloudact_shared.auth.tokens import Role, TokenInfo
from cloudact_shared.errors import CallerUnauthenticated, PermissionDenied
from cloudact_shared.gen.cloudact.auth.v1 import access_pb2
from cloudact_shared.naming import echo, validate_org_slug

OPEN_METHODS = frozenset({"/grpc.health.v1.Health/Check", "/grpc.health.v1.Health/Watch"})
"""Health stays open: load balancers and supervisors probe it without credentials."""
REFLECTION_METHODS = frozenset(
    {
        "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
        "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
    }
)
"""Reflection describes the API to anyone authenticated (a token of any org, or a service)."""


@dataclass(frozen=True)
class ServicePrincipal:
    """A CloudAct service, proven by the SPIFFE id of its mutual-TLS certificate."""

    name: str

    def describe(self) -> dict[str, str]:
        return {"kind": "service", "service": self.name}


@dataclass(frozen=True)
class TokenPrincipal:
    """A person or job holding a valid bearer token for one organisation."""

    token: TokenInfo

    def describe(self) -> dict[str, str]:
        return {
            "kind": "token",
            "token_id": self.token.token_id,
            "subject": self.token.subject,
            "org": self.token.org_slug,
            "role": self.token.role.label,
        }


Principal = ServicePrincipal | TokenPrincipal


@dataclass(frozen=True)
class Rule:
    """One RPC's access rule, from its ``Access`` option."""

    method: str
    min_role: Role | None
    internal_callers: frozenset[str]
    any_org: bool

    @property
    def name(self) -> str:
        return self.method.rsplit("/", 1)[-1]


def rules_of(services: Iterable[ServiceDescriptor]) -> dict[str, Rule]:
    """The rule of every method of ``services``, keyed by ``/package.Service/Method``.

    Raises:
        ValueError: a method declares no access, or an org-scoped method's request has no org_slug.
    """
    rules: dict[str, Rule] = {}
    for service in services:
        for method in service.methods:
            path = f"/{service.full_name}/{method.name}"
            options = method.GetOptions()
            if not options.HasExtension(access_pb2.access):
                raise ValueError(f"{path} declares no (cloudact.auth.v1.access) option")
            access = options.Extensions[access_pb2.access]
            internal = frozenset(access.internal_callers)
            role = Role(access.min_role) if access.min_role else None
            if not internal and role is None:
                raise ValueError(f"{path} declares neither a min_role nor internal_callers")
            if role is not None and not access.any_org and "org_slug" not in method.input_type.fields_by_name:
                raise ValueError(f"{path} is org-scoped but {method.input_type.full_name} has no org_slug")
            rules[path] = Rule(path, role, internal, access.any_org)
    return rules


def authorize(rule: Rule, principal: Principal | None, request: Message) -> None:
    """Allows the call or raises.

    Raises:
        CallerUnauthenticated: no principal (no token and no service certificate).
        PermissionDenied: the principal may not make this call (internal RPC, another org, or a
            role below the RPC's).
    """
    if rule.internal_callers:
        _authorize_internal(rule, principal)
        return
    if principal is None:
        raise missing_token()
    if isinstance(principal, ServicePrincipal):
        raise PermissionDenied(
            f"{rule.name} is not an internal RPC; service certificates may only call internal RPCs",
            reason="SERVICE_NOT_ALLOWED",
        )
    token = principal.token
    if not rule.any_org:
        # A malformed org is a bad request whoever sends it; a well-formed one must be the token's.
        org = validate_org_slug(getattr(request, "org_slug", ""))
        if org != token.org_slug:
            raise PermissionDenied(
                f"a token of org {token.org_slug!r} cannot act in org {echo(org)}",
                reason="WRONG_ORG",
                metadata={"token_org": token.org_slug},
            )
    assert rule.min_role is not None  # rules_of guarantees one of the two
    if token.role < rule.min_role:
        raise PermissionDenied(
            f"{rule.name} needs the {rule.min_role.label} role; this token is {token.role.label}",
            reason="ROLE_TOO_LOW",
            metadata={"required_role": rule.min_role.label, "token_role": token.role.label},
        )


def _authorize_internal(rule: Rule, principal: Principal | None) -> None:
    if isinstance(principal, ServicePrincipal) and principal.name in rule.internal_callers:
        return
    callers = ", ".join(sorted(rule.internal_callers))
    raise PermissionDenied(
        f"{rule.name} is internal: only {callers} may call it, with their mutual-TLS certificate",
        reason="INTERNAL_RPC",
    )


def missing_token() -> CallerUnauthenticated:
    return CallerUnauthenticated(
        "this call needs a bearer token: send the metadata 'authorization: Bearer <token>' "
        "(mint one with `cloudact tokens create`)",
        reason="MISSING_TOKEN",
    )


def request_scope(request: Message, fields: Mapping[str, str] | None = None) -> dict[str, str]:
    """The identifying, never secret, fields of a request for the audit line (cut to 64 characters)."""
    names = fields or {"org_slug": "org", "credential_id": "credential_id", "run_id": "run_id", "provider": "provider"}
    present = request.DESCRIPTOR.fields_by_name
    scope = {}
    for field, key in names.items():
        if field in present:
            value = str(getattr(request, field))
            if value:
                scope[key] = value[:64]
    return scope
