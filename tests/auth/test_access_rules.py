"""Every RPC declares who may call it, and the rules are the ones the project promises."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from google.protobuf.message import Message

from cloudact_shared.auth import Role, ServicePrincipal, TokenInfo, TokenPrincipal, authorize, rules_of
from cloudact_shared.auth.policy import Rule
from cloudact_shared.errors import CallerUnauthenticated, InvalidArgument, PermissionDenied
from cloudact_shared.gen.cloudact.auth.v1 import token_service_pb2
from cloudact_shared.gen.cloudact.credential.v1 import credential_service_pb2
from cloudact_shared.gen.cloudact.events.v1 import events_service_pb2
from cloudact_shared.gen.cloudact.focus.v1 import focus_service_pb2
from cloudact_shared.gen.cloudact.pipeline.v1 import pipeline_service_pb2
from cloudact_shared.gen.cloudact.query.v1 import query_service_pb2

MODULES = [
    credential_service_pb2,
    events_service_pb2,
    focus_service_pb2,
    pipeline_service_pb2,
    query_service_pb2,
    token_service_pb2,
]
RULES = rules_of(s for m in MODULES for s in m.DESCRIPTOR.services_by_name.values())
# The lowest role of each RPC callers may use; internal RPCs are None.
EXPECTED = {
    "QueryCosts": Role.VIEWER,
    "ExportFocus": Role.VIEWER,
    "ExecuteSql": Role.VIEWER,
    "ListCredentials": Role.VIEWER,
    "GetCredential": Role.VIEWER,
    "ListPipelines": Role.VIEWER,
    "GetRun": Role.VIEWER,
    "ListRuns": Role.VIEWER,
    "RunPipeline": Role.OPERATOR,
    "StartRun": Role.OPERATOR,
    "UploadEvents": Role.OPERATOR,
    "CreateCredential": Role.OPERATOR,
    "RotateCredential": Role.OPERATOR,
    "UpdateCredentialSchedule": Role.OPERATOR,
    "DeleteCredential": Role.ADMIN,
    "CreateToken": Role.ADMIN,
    "ListTokens": Role.ADMIN,
    "RevokeToken": Role.ADMIN,
    "DecryptCredential": None,
    "ConvertToFocus": None,
}


def _token(org: str, role: Role) -> TokenPrincipal:
    now = datetime.now(UTC)
    return TokenPrincipal(TokenInfo("t-1", org, role, "test", now, now + timedelta(hours=1)))


def _request(rule: Rule, org: str) -> Message:
    service, method = rule.method.strip("/").split("/")
    for module in MODULES:
        for descriptor in module.DESCRIPTOR.services_by_name.values():
            if descriptor.full_name == service:
                request_type = descriptor.methods_by_name[method].input_type
                message = getattr(module, request_type.name)()
                if "org_slug" in request_type.fields_by_name:
                    message.org_slug = org
                return message  # type: ignore[no-any-return]
    raise AssertionError(rule.method)


def test_every_rpc_is_in_the_table() -> None:
    assert {rule.name for rule in RULES.values()} == set(EXPECTED)
    for rule in RULES.values():
        assert rule.min_role == EXPECTED[rule.name], rule.name
        if rule.min_role is None:
            assert rule.internal_callers == {"ingest_svc", "focus_svc"}


@pytest.mark.parametrize("rule", RULES.values(), ids=lambda r: r.name)
@pytest.mark.parametrize("role", list(Role), ids=lambda r: r.label)
def test_roles_in_their_own_org(rule: Rule, role: Role) -> None:
    request = _request(rule, "acme")
    required = EXPECTED[rule.name]
    if required is not None and role >= required:
        authorize(rule, _token("acme", role), request)
    else:
        with pytest.raises(PermissionDenied):
            authorize(rule, _token("acme", role), request)


@pytest.mark.parametrize("rule", RULES.values(), ids=lambda r: r.name)
def test_nothing_in_another_org_and_nothing_without_a_token(rule: Rule) -> None:
    if not rule.any_org:
        with pytest.raises(PermissionDenied):
            authorize(rule, _token("globex", Role.ADMIN), _request(rule, "acme"))
    expected = PermissionDenied if rule.internal_callers else CallerUnauthenticated
    with pytest.raises(expected):
        authorize(rule, None, _request(rule, "acme"))


@pytest.mark.parametrize("rule", RULES.values(), ids=lambda r: r.name)
def test_services_may_call_internal_rpcs_only(rule: Rule) -> None:
    for name in ("ingest_svc", "focus_svc", "query_svc", "credential_svc"):
        allowed = name in rule.internal_callers
        if allowed:
            authorize(rule, ServicePrincipal(name), _request(rule, "acme"))
        else:
            with pytest.raises(PermissionDenied):
                authorize(rule, ServicePrincipal(name), _request(rule, "acme"))


def test_a_malformed_org_is_invalid_whoever_asks() -> None:
    rule = next(r for r in RULES.values() if r.name == "ListCredentials")
    with pytest.raises(InvalidArgument) as caught:
        authorize(rule, _token("acme", Role.ADMIN), _request(rule, "x" * 2_000_000))
    assert len(caught.value.message) < 200
