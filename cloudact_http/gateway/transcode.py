"""JSON <-> protobuf and gRPC status <-> HTTP status, the way Google's HTTP/JSON transcoding does it.

The request message is built from the path parameters, the query string and the JSON body with
``google.protobuf.json_format`` (unknown fields refused), the response is ``MessageToDict`` with
the proto field names; a gRPC error becomes Google's standard HTTP status with a JSON body
``{code, message, reason, field_violations}``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

import grpc
from google.protobuf import json_format
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

from cloudact_http.gateway.bindings import Binding
from cloudact_shared.errors import CloudactError, FieldViolation, InvalidArgument

HTTP_STATUS: dict[grpc.StatusCode, int] = {
    grpc.StatusCode.OK: 200,
    grpc.StatusCode.CANCELLED: 499,
    grpc.StatusCode.UNKNOWN: 500,
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.DEADLINE_EXCEEDED: 504,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.ALREADY_EXISTS: 409,
    grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.UNAUTHENTICATED: 401,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
    grpc.StatusCode.FAILED_PRECONDITION: 400,
    grpc.StatusCode.ABORTED: 409,
    grpc.StatusCode.OUT_OF_RANGE: 400,
    grpc.StatusCode.UNIMPLEMENTED: 501,
    grpc.StatusCode.INTERNAL: 500,
    grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.DATA_LOSS: 500,
}
"""google.rpc.Code -> HTTP status, as google/rpc/code.proto documents each code."""


_UNKNOWN_FIELD = re.compile(r'has no field named "([^"]+)" at "([^"]+)"')


def http_status(code: grpc.StatusCode) -> int:
    """The HTTP status Google's mapping gives ``code``."""
    return HTTP_STATUS.get(code, 500)


def error_body(error: CloudactError) -> dict[str, Any]:
    """The JSON body of an error: the gRPC code name, its message, its ErrorInfo reason, bad fields."""
    body: dict[str, Any] = {"code": error.code.name, "message": error.message, "reason": error.reason}
    if error.violations:
        body["field_violations"] = [{"field": v.field, "description": v.description} for v in error.violations]
    return body


def request_message(
    binding: Binding,
    message: Message,
    path_params: Mapping[str, str],
    query: Sequence[tuple[str, str]],
    body: bytes,
) -> None:
    """Fills ``message`` (empty, of the binding's request type) from one HTTP request.

    Raises:
        InvalidArgument: the body is not a JSON object, names an unknown field or holds a bad value,
            sets a field the path already sets, or a query parameter is unknown or malformed.
    """
    data: dict[str, Any] = {}
    if binding.body:
        parsed = _json_object(body)
        if binding.body == "*":
            data = parsed
        else:
            data[binding.body] = parsed
        for field_path in binding.path_fields:
            if _lookup(data, field_path) is not None:
                name = ".".join(field_path)
                raise InvalidArgument(
                    f"{name} is set by the path; leave it out of the body",
                    reason="FIELD_IN_PATH_AND_BODY",
                    violations=[FieldViolation(name, "set by the URL path")],
                )
    elif body.strip():
        raise InvalidArgument(
            f"{binding.http_method} {binding.template} takes no request body",
            reason="UNEXPECTED_BODY",
        )
    if query:
        if binding.body == "*":
            names = sorted({name for name, _ in query})
            raise InvalidArgument(
                f"unknown query parameter(s) {names}: this route takes its fields in the JSON body",
                reason="UNKNOWN_QUERY_PARAMETER",
                violations=[FieldViolation(n, "not a query parameter of this route") for n in names],
            )
        _merge_query(data, binding.method.input_type, binding, query)
    for variable in binding.variables:
        _assign(data, variable.field_path, path_params[variable.name])
    try:
        json_format.ParseDict(data, message, ignore_unknown_fields=False)
    except json_format.ParseError as exc:
        raise _parse_error(exc) from None


def response_json(message: Message) -> dict[str, Any]:
    """The response message as JSON (proto field names, enums by name, 64-bit integers as strings)."""
    return json_format.MessageToDict(message, preserving_proto_field_name=True)


def _parse_error(exc: json_format.ParseError) -> InvalidArgument:
    """json_format's complaint as a 400 naming the field (by its path from the request's top)."""
    text = str(exc).split("\n", 1)[0]
    unknown = _UNKNOWN_FIELD.search(text)
    if unknown is not None:
        name, at = unknown.groups()
        field = ".".join([*at.split(".")[1:], name])
        return InvalidArgument(
            f"unknown field {field!r}",
            reason="INVALID_JSON_REQUEST",
            violations=[FieldViolation(field, "no such field")],
        )
    return InvalidArgument(f"bad request: {text}", reason="INVALID_JSON_REQUEST")


def _json_object(body: bytes) -> dict[str, Any]:
    if not body.strip():
        return {}
    try:
        parsed = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidArgument(
            f"the request body is not JSON: {exc.__class__.__name__}", reason="INVALID_JSON"
        ) from None
    if not isinstance(parsed, dict):
        raise InvalidArgument("the request body must be a JSON object", reason="INVALID_JSON")
    return parsed


def _merge_query(data: dict[str, Any], message: Descriptor, binding: Binding, query: Sequence[tuple[str, str]]) -> None:
    """Query parameters ``a.b=v`` set field a.b; a repeated field takes every value given."""
    in_path = binding.path_fields
    for name, value in query:
        field_path = tuple(name.split("."))
        field = _field(message, field_path)
        if field is None or field_path in in_path or (binding.body and field_path[0] == binding.body):
            raise InvalidArgument(
                f"unknown query parameter {name!r}",
                reason="UNKNOWN_QUERY_PARAMETER",
                violations=[FieldViolation(name, "not a query parameter of this route")],
            )
        if field.type == FieldDescriptor.TYPE_MESSAGE and not _is_well_known_scalar(field):
            raise InvalidArgument(
                f"query parameter {name!r} names a message; name its fields (e.g. {name}.x)",
                reason="UNKNOWN_QUERY_PARAMETER",
                violations=[FieldViolation(name, "a message, not a value")],
            )
        typed = _query_value(field, name, value)
        if field.is_repeated:
            existing = _lookup(data, field_path)
            _assign(data, field_path, [*(existing or []), typed])
        else:
            _assign(data, field_path, typed)


def _query_value(field: FieldDescriptor, name: str, value: str) -> Any:
    # json_format takes numbers, enums and well-known types as strings; only booleans must be JSON ones.
    if field.type == FieldDescriptor.TYPE_BOOL:
        if value not in ("true", "false"):
            raise InvalidArgument(
                f"query parameter {name!r} must be true or false",
                reason="INVALID_JSON_REQUEST",
                violations=[FieldViolation(name, "true or false")],
            )
        return value == "true"
    return value


def _is_well_known_scalar(field: FieldDescriptor) -> bool:
    """Timestamp, Duration and the wrappers: messages written as one JSON string or number."""
    return field.message_type is not None and field.message_type.full_name.startswith("google.protobuf.")


def _field(message: Descriptor, field_path: tuple[str, ...]) -> FieldDescriptor | None:
    descriptor: Descriptor | None = message
    field: FieldDescriptor | None = None
    for name in field_path:
        if descriptor is None:
            return None
        field = descriptor.fields_by_name.get(name)
        if field is None:
            return None
        descriptor = field.message_type
    return field


def _lookup(data: Mapping[str, Any], field_path: tuple[str, ...]) -> Any:
    current: Any = data
    for name in field_path:
        if not isinstance(current, Mapping) or name not in current:
            return None
        current = current[name]
    return current


def _assign(data: dict[str, Any], field_path: tuple[str, ...], value: Any) -> None:
    current = data
    for i, name in enumerate(field_path[:-1]):
        current = current.setdefault(name, {})
        if not isinstance(current, dict):
            prefix = ".".join(field_path[: i + 1])
            raise InvalidArgument(
                f"{prefix} must be a JSON object", violations=[FieldViolation(prefix, "must be an object")]
            )
    current[field_path[-1]] = value
