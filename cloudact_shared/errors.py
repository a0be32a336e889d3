"""Domain errors that know their gRPC status, and the one place they become google.rpc.Status.

Handlers raise these; the servers' ``ErrorInterceptor`` (cloudact_shared/server.py) turns them into
a status with ``ErrorInfo`` (and ``BadRequest`` for field errors) so no handler maps errors itself.
Messages must never contain secrets: they are shown to callers verbatim.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import grpc
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

DOMAIN = "cloudact.dev"
_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FieldViolation:
    """One bad request field and what is wrong with it."""

    field: str
    description: str


class CloudactError(Exception):
    """Root of every error a CloudAct service reports to its callers."""

    code: grpc.StatusCode = grpc.StatusCode.INTERNAL
    reason: str = "INTERNAL"
    retryable: bool = False

    def __init__(
        self,
        message: str,
        *,
        reason: str | None = None,
        violations: Sequence[FieldViolation] = (),
        metadata: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if reason is not None:
            self.reason = reason
        self.violations = tuple(violations)
        self.metadata = dict(metadata or {})

    def to_status(self) -> status_pb2.Status:
        """Builds the rich ``google.rpc.Status`` for this error."""
        details: list[any_pb2.Any] = []
        info = error_details_pb2.ErrorInfo(reason=self.reason, domain=DOMAIN, metadata=self.metadata)
        details.append(_pack(info))
        if self.violations:
            bad = error_details_pb2.BadRequest(
                field_violations=[
                    error_details_pb2.BadRequest.FieldViolation(field=v.field, description=v.description)
                    for v in self.violations
                ]
            )
            details.append(_pack(bad))
        if self.retryable:
            details.append(_pack(error_details_pb2.RetryInfo()))
        return status_pb2.Status(code=self.code.value[0], message=self.message, details=details)


class InvalidArgument(CloudactError):
    """The request itself is malformed (bad org slug, bad dates, unknown provider...)."""

    code = grpc.StatusCode.INVALID_ARGUMENT
    reason = "INVALID_ARGUMENT"


class NotFound(CloudactError):
    """The named org, credential, pipeline or source object does not exist."""

    code = grpc.StatusCode.NOT_FOUND
    reason = "NOT_FOUND"


class AlreadyExists(CloudactError):
    """The thing to create exists already."""

    code = grpc.StatusCode.ALREADY_EXISTS
    reason = "ALREADY_EXISTS"


class PermissionDenied(CloudactError):
    """The caller may not do this (e.g. decrypt without the pipeline identity)."""

    code = grpc.StatusCode.PERMISSION_DENIED
    reason = "PERMISSION_DENIED"


class Unauthenticated(CloudactError):
    """The source rejected the credentials we presented."""

    code = grpc.StatusCode.UNAUTHENTICATED
    reason = "SOURCE_UNAUTHENTICATED"


class CallerUnauthenticated(CloudactError):
    """The caller of one of our RPCs presented no valid token (missing, malformed, expired, revoked)."""

    code = grpc.StatusCode.UNAUTHENTICATED
    reason = "UNAUTHENTICATED"


class FailedPrecondition(CloudactError):
    """The system is not in a state that allows this (bad source data, missing table...)."""

    code = grpc.StatusCode.FAILED_PRECONDITION
    reason = "FAILED_PRECONDITION"


class Aborted(CloudactError):
    """A concurrent change won a race (e.g. a table commit conflict); retrying the call can succeed."""

    code = grpc.StatusCode.ABORTED
    reason = "ABORTED"
    retryable = True


class ResourceExhausted(CloudactError):
    """A size or count limit was hit (the message names the limit)."""

    code = grpc.StatusCode.RESOURCE_EXHAUSTED
    reason = "RESOURCE_EXHAUSTED"


class Unavailable(CloudactError):
    """A dependency is down for now; retrying later can help."""

    code = grpc.StatusCode.UNAVAILABLE
    reason = "UNAVAILABLE"
    retryable = True


class DeadlineExceeded(CloudactError):
    """The caller's deadline ran out before the work finished."""

    code = grpc.StatusCode.DEADLINE_EXCEEDED
    reason = "DEADLINE_EXCEEDED"
    retryable = True


def _pack(message: Any) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(message)
    return packed


def internal_status() -> status_pb2.Status:
    """The status for an unexpected exception: generic on purpose, so nothing leaks."""
    info = error_details_pb2.ErrorInfo(reason="INTERNAL", domain=DOMAIN)
    return status_pb2.Status(code=code_pb2.INTERNAL, message="internal error", details=[_pack(info)])


def status_of(exc: BaseException) -> status_pb2.Status:
    """Maps any exception to the status a caller sees."""
    if isinstance(exc, CloudactError):
        return exc.to_status()
    _log.exception("unexpected error", exc_info=exc)
    return internal_status()


async def abort(context: grpc.aio.ServicerContext[Any, Any], exc: BaseException) -> None:
    """Aborts the RPC with the rich status for ``exc`` (raises grpc's abort exception)."""
    await context.abort_with_status(rpc_status.to_status(status_of(exc)))


def from_rpc_error(err: grpc.aio.AioRpcError) -> CloudactError:
    """Rebuilds a CloudactError from a downstream call's error: code, message, reason, field errors."""
    code = err.code()
    reason, metadata, violations = code.name, {}, []
    status = rpc_status.from_call(err)
    for detail in status.details if status is not None else []:
        info, bad = error_details_pb2.ErrorInfo(), error_details_pb2.BadRequest()
        if detail.Is(info.DESCRIPTOR) and detail.Unpack(info):
            reason, metadata = info.reason, dict(info.metadata)
        elif detail.Is(bad.DESCRIPTOR) and detail.Unpack(bad):
            violations = [FieldViolation(v.field, v.description) for v in bad.field_violations]
    error = CloudactError(err.details() or code.name, reason=reason, violations=violations, metadata=metadata)
    error.code = code
    error.retryable = code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.ABORTED)
    return error
