"""The HTTP routes the RPCs declare: their ``google.api.http`` annotations, read from the descriptors.

Nothing here is a hand-written route table: an RPC is on HTTP because its proto says so, with the
verb, path template and body its annotation gives (the same annotations Envoy's gRPC-JSON transcoder
or ESPv2 serve in production, docs/http-api.md).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from types import ModuleType

# googleapis-common-protos ships .pyi stubs but no py.typed marker.
from google.api import annotations_pb2, http_pb2  # type: ignore[import-untyped]
from google.protobuf.descriptor import Descriptor, FieldDescriptor, MethodDescriptor, ServiceDescriptor

from cloudact_shared.gen.cloudact.auth.v1 import token_service_pb2
from cloudact_shared.gen.cloudact.credential.v1 import credential_service_pb2
from cloudact_shared.gen.cloudact.events.v1 import events_service_pb2
from cloudact_shared.gen.cloudact.focus.v1 import focus_service_pb2
from cloudact_shared.gen.cloudact.pipeline.v1 import pipeline_service_pb2
from cloudact_shared.gen.cloudact.query.v1 import query_service_pb2

PROTO_MODULES: tuple[ModuleType, ...] = (
    credential_service_pb2,
    events_service_pb2,
    focus_service_pb2,
    pipeline_service_pb2,
    query_service_pb2,
    token_service_pb2,
)
"""Every CloudAct proto with services: where annotated RPCs are looked for."""

SERVICE_ADDRESS_SETTINGS = {
    "cloudact.credential.v1.CredentialService": "credential_address",
    "cloudact.auth.v1.TokenService": "credential_address",
    "cloudact.pipeline.v1.PipelineService": "ingest_address",
    "cloudact.events.v1.EventsService": "ingest_address",
    "cloudact.focus.v1.FocusService": "focus_address",
    "cloudact.query.v1.QueryService": "query_address",
}
"""The settings attribute holding the public address of the service that serves each gRPC service."""

_VARIABLE = re.compile(r"^\{([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)(?:=\*)?\}$")
_LITERAL = re.compile(r"^[A-Za-z0-9_.~-]+$")
_VERBS = ("get", "put", "post", "delete", "patch")


class BindingError(ValueError):
    """An annotation this gateway cannot serve faithfully (so it refuses to start rather than guess)."""


@dataclass(frozen=True)
class PathVariable:
    """One ``{field.path}`` segment of a path template."""

    name: str
    """The Starlette path parameter (``p0``, ``p1``...): field paths may hold dots, parameters may not."""
    field_path: tuple[str, ...]
    """The request field it sets, e.g. ("org_slug",)."""


@dataclass(frozen=True)
class Binding:
    """One HTTP route of one RPC."""

    method: MethodDescriptor
    http_method: str
    """GET, POST, PUT, PATCH or DELETE."""
    template: str
    """The annotation's path template, e.g. /api/v1/orgs/{org_slug}/runs/{run_id}."""
    route_path: str
    """The same path for Starlette: ``{p0}`` per variable, literals and a ``:verb`` suffix kept."""
    variables: tuple[PathVariable, ...]
    body: str
    """"" (no body: every other field is a query parameter), "*" (every field not in the path is in
    the JSON body) or one top-level field's name (that field is the body, the rest are query parameters)."""

    @property
    def service(self) -> ServiceDescriptor:
        return self.method.containing_service

    @property
    def grpc_path(self) -> str:
        """``/package.Service/Method``, the method's name on the wire."""
        return f"/{self.service.full_name}/{self.method.name}"

    @property
    def path_fields(self) -> set[tuple[str, ...]]:
        return {v.field_path for v in self.variables}


def annotated_services(modules: Iterable[ModuleType] = PROTO_MODULES) -> list[ServiceDescriptor]:
    """Every service of ``modules``, in a stable order."""
    found = [s for m in modules for s in m.DESCRIPTOR.services_by_name.values()]
    return sorted(found, key=lambda s: s.full_name)


def bindings(services: Iterable[ServiceDescriptor] | None = None) -> list[Binding]:
    """Every HTTP route the RPCs of ``services`` (default: all of CloudAct's) declare.

    Raises:
        BindingError: an annotation on a streaming RPC, or one using what this gateway does not
            serve (``**`` or multi-segment variables, ``response_body``, custom verbs).
    """
    result: list[Binding] = []
    for service in services if services is not None else annotated_services():
        for method in service.methods:
            options = method.GetOptions()
            if not options.HasExtension(annotations_pb2.http):
                continue
            rule: http_pb2.HttpRule = options.Extensions[annotations_pb2.http]
            result.extend(_rule_bindings(method, rule))
    _check_unique(result)
    return result


def _rule_bindings(method: MethodDescriptor, rule: http_pb2.HttpRule) -> Iterator[Binding]:
    where = f"{method.containing_service.full_name}.{method.name}"
    if method.client_streaming or method.server_streaming:
        # A stream has no faithful one-request, one-response JSON form; such an RPC needs a unary twin.
        raise BindingError(f"{where} streams: only unary RPCs can be annotated for HTTP")
    if rule.response_body:
        raise BindingError(f"{where}: response_body is not supported")
    yield _binding(method, rule, where)
    for extra in rule.additional_bindings:
        yield _binding(method, extra, where)


def _binding(method: MethodDescriptor, rule: http_pb2.HttpRule, where: str) -> Binding:
    kind = rule.WhichOneof("pattern")
    if kind not in _VERBS:
        raise BindingError(f"{where}: HTTP pattern {kind!r} is not supported")
    template: str = getattr(rule, kind)
    route_path, variables = _parse_template(template, method.input_type, where)
    body = rule.body
    if body not in ("", "*"):
        field = method.input_type.fields_by_name.get(body)
        if field is None:
            raise BindingError(f"{where}: body field {body!r} is not a field of {method.input_type.name}")
    if kind == "get" and body:
        raise BindingError(f"{where}: a GET route has no body")
    return Binding(method, kind.upper(), template, route_path, variables, body)


def _parse_template(template: str, message: Descriptor, where: str) -> tuple[str, tuple[PathVariable, ...]]:
    if not template.startswith("/"):
        raise BindingError(f"{where}: path template {template!r} must start with /")
    path, verb = template, ""
    last = template.rsplit("/", 1)[-1]
    if ":" in last and not last.startswith("{"):
        path, verb = template.rsplit(":", 1)
        if not _LITERAL.fullmatch(verb):
            raise BindingError(f"{where}: bad custom verb in {template!r}")
    segments: list[str] = []
    variables: list[PathVariable] = []
    for segment in path.strip("/").split("/"):
        match = _VARIABLE.fullmatch(segment)
        if match is not None:
            field_path = tuple(match.group(1).split("."))
            _check_path_field(message, field_path, where)
            variable = PathVariable(f"p{len(variables)}", field_path)
            variables.append(variable)
            segments.append("{" + variable.name + "}")
        elif _LITERAL.fullmatch(segment):
            segments.append(segment)
        else:
            raise BindingError(f"{where}: path segment {segment!r} of {template!r} is not supported")
    return "/" + "/".join(segments) + (f":{verb}" if verb else ""), tuple(variables)


def _check_path_field(message: Descriptor, field_path: tuple[str, ...], where: str) -> None:
    descriptor: Descriptor | None = message
    for i, name in enumerate(field_path):
        field = descriptor.fields_by_name.get(name) if descriptor is not None else None
        if field is None:
            raise BindingError(f"{where}: path variable {'.'.join(field_path)} is not a request field")
        last = i == len(field_path) - 1
        if field.is_repeated:
            raise BindingError(f"{where}: path variable {'.'.join(field_path)} is repeated")
        if last and field.type == FieldDescriptor.TYPE_MESSAGE:
            raise BindingError(f"{where}: path variable {'.'.join(field_path)} is a message")
        descriptor = field.message_type


def _check_unique(found: list[Binding]) -> None:
    seen: dict[tuple[str, str], str] = {}
    for b in found:
        key = (b.http_method, re.sub(r"\{p\d+\}", "{}", b.route_path))
        if key in seen:
            raise BindingError(f"{b.grpc_path} and {seen[key]} both bind {b.http_method} {b.template}")
        seen[key] = b.grpc_path
