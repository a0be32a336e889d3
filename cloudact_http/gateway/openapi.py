"""The OpenAPI 3.1 document of the gateway, generated from the same annotations and message
descriptors the routes are built from (served at /api/openapi.json, committed as docs/openapi.json)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from google.protobuf.descriptor import Descriptor, EnumDescriptor, FieldDescriptor

from cloudact_http.gateway.bindings import Binding, bindings

OPENAPI_VERSION = "3.1.0"
_FD = FieldDescriptor
_SCALARS: dict[int, dict[str, str]] = {
    _FD.TYPE_DOUBLE: {"type": "number", "format": "double"},
    _FD.TYPE_FLOAT: {"type": "number", "format": "float"},
    # proto3 JSON writes 64-bit integers as strings (MessageToDict does): JavaScript loses precision.
    _FD.TYPE_INT64: {"type": "string", "format": "int64"},
    _FD.TYPE_UINT64: {"type": "string", "format": "uint64"},
    _FD.TYPE_SINT64: {"type": "string", "format": "int64"},
    _FD.TYPE_FIXED64: {"type": "string", "format": "uint64"},
    _FD.TYPE_SFIXED64: {"type": "string", "format": "int64"},
    _FD.TYPE_INT32: {"type": "integer", "format": "int32"},
    _FD.TYPE_SINT32: {"type": "integer", "format": "int32"},
    _FD.TYPE_SFIXED32: {"type": "integer", "format": "int32"},
    _FD.TYPE_UINT32: {"type": "integer", "format": "uint32"},
    _FD.TYPE_FIXED32: {"type": "integer", "format": "uint32"},
    _FD.TYPE_BOOL: {"type": "boolean"},
    _FD.TYPE_STRING: {"type": "string"},
    _FD.TYPE_BYTES: {"type": "string", "format": "byte"},
}
_WELL_KNOWN: dict[str, dict[str, str]] = {
    "google.protobuf.Timestamp": {"type": "string", "format": "date-time"},
    "google.protobuf.Duration": {"type": "string", "pattern": r"^-?\d+(\.\d+)?s$"},
}
_ERROR = {
    "type": "object",
    "description": "A failed call: the gRPC status code name, its message and its ErrorInfo reason.",
    "required": ["code", "message", "reason"],
    "properties": {
        "code": {"type": "string", "examples": ["INVALID_ARGUMENT"]},
        "message": {"type": "string"},
        "reason": {"type": "string", "examples": ["RUN_NOT_FOUND"]},
        "field_violations": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"field": {"type": "string"}, "description": {"type": "string"}},
            },
        },
    },
}


def openapi_document(found: Sequence[Binding] | None = None, *, version: str = "v1") -> dict[str, Any]:
    """The OpenAPI 3.1 document of ``found`` (default: every annotated RPC)."""
    schemas: dict[str, Any] = {"Error": _ERROR}
    paths: dict[str, dict[str, Any]] = {}
    for binding in sorted(found if found is not None else bindings(), key=lambda b: (b.template, b.http_method)):
        paths.setdefault(binding.template, {})[binding.http_method.lower()] = _operation(binding, schemas)
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": "CloudAct Costs HTTP/JSON API",
            "version": version,
            "description": (
                "The RPCs annotated with google.api.http, transcoded to JSON (proto field names). "
                "Generated from the protos by `cloudact http openapi`; see docs/http-api.md."
            ),
        },
        "security": [{"bearer": []}],
        "paths": paths,
        "components": {
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "A token from `cloudact tokens create`, as on gRPC.",
                }
            },
            "schemas": dict(sorted(schemas.items())),
        },
    }


def openapi_json(found: Sequence[Binding] | None = None) -> str:
    """The document as the stable text committed in docs/openapi.json."""
    return json.dumps(openapi_document(found), indent=2, ensure_ascii=False) + "\n"


def _operation(binding: Binding, schemas: dict[str, Any]) -> dict[str, Any]:
    method, message = binding.method, binding.method.input_type
    parameters: list[dict[str, Any]] = [
        {
            "name": ".".join(v.field_path),
            "in": "path",
            "required": True,
            "schema": _field_schema(_field_at(message, v.field_path), schemas),
        }
        for v in binding.variables
    ]
    if binding.body != "*":
        parameters += _query_parameters(message, binding, schemas)
    operation: dict[str, Any] = {
        "operationId": f"{method.containing_service.name}_{method.name}",
        "tags": [method.containing_service.name],
        "summary": f"{method.containing_service.full_name}.{method.name}",
        "parameters": parameters,
    }
    if binding.body:
        operation["requestBody"] = {
            "required": False,
            "content": {"application/json": {"schema": _body_schema(binding, schemas)}},
        }
    operation["responses"] = {
        "200": {
            "description": "OK",
            "content": {"application/json": {"schema": _message_ref(method.output_type, schemas)}},
        },
        "default": {
            "description": "An error (HTTP status from its gRPC code, Google's mapping)",
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
        },
    }
    return operation


def _body_schema(binding: Binding, schemas: dict[str, Any]) -> dict[str, Any]:
    message = binding.method.input_type
    if binding.body != "*":
        return _field_schema(message.fields_by_name[binding.body], schemas)
    in_path = {v.field_path[0] for v in binding.variables if len(v.field_path) == 1}
    return _object_schema(message, schemas, skip=in_path)


def _query_parameters(message: Descriptor, binding: Binding, schemas: dict[str, Any]) -> list[dict[str, Any]]:
    params: list[dict[str, Any]] = []

    def walk(descriptor: Descriptor, prefix: tuple[str, ...], seen: frozenset[str]) -> None:
        for field in descriptor.fields:
            path = (*prefix, field.name)
            if path in binding.path_fields or (not prefix and field.name == binding.body):
                continue
            nested = field.message_type
            if nested is not None and nested.full_name not in _WELL_KNOWN:
                if not nested.GetOptions().map_entry and nested.full_name not in seen:
                    walk(nested, path, seen | {nested.full_name})
                continue
            params.append({"name": ".".join(path), "in": "query", "schema": _field_schema(field, schemas)})

    walk(message, (), frozenset({message.full_name}))
    return params


def _field_at(message: Descriptor, field_path: tuple[str, ...]) -> FieldDescriptor:
    descriptor: Descriptor = message
    field = descriptor.fields_by_name[field_path[0]]
    for name in field_path[1:]:
        nested = field.message_type
        assert nested is not None, field_path  # bindings.py checked the path
        descriptor = nested
        field = descriptor.fields_by_name[name]
    return field


def _message_ref(message: Descriptor, schemas: dict[str, Any]) -> dict[str, Any]:
    if message.full_name in _WELL_KNOWN:
        return dict(_WELL_KNOWN[message.full_name])
    if message.full_name not in schemas:
        schemas[message.full_name] = {}  # placeholder first: messages may refer to themselves
        schemas[message.full_name] = _object_schema(message, schemas)
    return {"$ref": f"#/components/schemas/{message.full_name}"}


def _object_schema(message: Descriptor, schemas: dict[str, Any], skip: set[str] | None = None) -> dict[str, Any]:
    properties = {f.name: _field_schema(f, schemas) for f in message.fields if f.name not in (skip or set())}
    schema: dict[str, Any] = {"type": "object", "properties": properties, "additionalProperties": False}
    oneofs = [o for o in message.oneofs if not (len(o.fields) == 1 and o.name == f"_{o.fields[0].name}")]
    if oneofs:
        schema["description"] = "; ".join(
            f"at most one of {', '.join(f.name for f in o.fields)} ({o.name})" for o in oneofs
        )
    return schema


def _field_schema(field: FieldDescriptor, schemas: dict[str, Any]) -> dict[str, Any]:
    if field.message_type is not None and field.message_type.GetOptions().map_entry:
        value = field.message_type.fields_by_name["value"]
        return {"type": "object", "additionalProperties": _single_schema(value, schemas)}
    single = _single_schema(field, schemas)
    if field.is_repeated:
        return {"type": "array", "items": single}
    return single


def _single_schema(field: FieldDescriptor, schemas: dict[str, Any]) -> dict[str, Any]:
    if field.message_type is not None:
        return _message_ref(field.message_type, schemas)
    if field.enum_type is not None:
        return _enum_ref(field.enum_type, schemas)
    return dict(_SCALARS[field.type])


def _enum_ref(enum: EnumDescriptor, schemas: dict[str, Any]) -> dict[str, Any]:
    schemas.setdefault(enum.full_name, {"type": "string", "enum": [v.name for v in enum.values]})
    return {"$ref": f"#/components/schemas/{enum.full_name}"}
