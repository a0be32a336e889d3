"""The HTTP/JSON gateway: the RPCs annotated with ``google.api.http``, served as JSON routes that call
the services over gRPC (routes.py), and the OpenAPI document of those routes (openapi.py)."""

from cloudact_http.gateway.bindings import Binding, BindingError, bindings
from cloudact_http.gateway.openapi import openapi_document
from cloudact_http.gateway.routes import Gateway

__all__ = ["Binding", "BindingError", "Gateway", "bindings", "openapi_document"]
