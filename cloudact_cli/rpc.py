"""Client plumbing for the CLI: settings, channels, and readable gRPC errors."""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable
from typing import TypeVar

import grpc
import typer
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from cloudact_shared.clients import open_channel
from cloudact_shared.settings import CloudactSettings

_T = TypeVar("_T")


def describe_error(err: grpc.aio.AioRpcError) -> str:
    """One readable paragraph: code, message, reason and bad fields from the rich status."""
    lines = [f"error: {err.code().name}: {err.details()}"]
    status = rpc_status.from_call(err)
    for detail in status.details if status else []:
        info, bad = error_details_pb2.ErrorInfo(), error_details_pb2.BadRequest()
        if detail.Is(info.DESCRIPTOR) and detail.Unpack(info):
            lines.append(f"  reason: {info.reason}")
        elif detail.Is(bad.DESCRIPTOR) and detail.Unpack(bad):
            lines.extend(f"  field {v.field}: {v.description}" for v in bad.field_violations)
    return "\n".join(lines)


async def call(action: Callable[[], Awaitable[_T]]) -> _T:
    """Runs an RPC, turning a gRPC error into a message on stderr and exit code 1."""
    try:
        return await action()
    except grpc.aio.AioRpcError as err:
        print(describe_error(err), file=sys.stderr)
        raise typer.Exit(1) from None


def caller_channel(settings: CloudactSettings, address: str) -> grpc.aio.Channel:
    """A TLS channel to ``address`` sending the CLOUDACT_TOKEN bearer token on every call."""
    if settings.token is None:
        print(
            "error: set CLOUDACT_TOKEN to a bearer token "
            "(e.g. export CLOUDACT_TOKEN=$(cloudact tokens create --org ORG --role viewer))",
            file=sys.stderr,
        )
        raise typer.Exit(2)
    return open_channel(settings, address, token=settings.token.get_secret_value())


def pairs(values: list[str], option: str) -> dict[str, str]:
    """Parses repeated KEY=VALUE options."""
    parsed: dict[str, str] = {}
    for value in values:
        key, sep, text = value.partition("=")
        if not sep or not key:
            raise typer.BadParameter(f"expected KEY=VALUE, got {value!r}", param_hint=option)
        parsed[key] = text
    return parsed
