"""EventsService servicer: a stream of UploadEventsRequest in, ``events.EventUploads`` outcome out as protobuf."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import grpc

from cloudact_providers.datahub.events import TEXT_FIELDS
from cloudact_shared.errors import FieldViolation, InvalidArgument
from cloudact_shared.gen.cloudact.events.v1 import events_service_pb2 as pb
from cloudact_shared.gen.cloudact.events.v1 import events_service_pb2_grpc as pb_grpc
from cloudact_shared.gen.cloudact.pipeline.v1 import pipeline_service_pb2 as pipe_pb
from cloudact_shared.naming import echo
from cloudact_shared.server import remaining_timeout
from ingest_svc.events import EventUploads, UploadOutcome
from ingest_svc.model import RunResult

SERVICE_NAME = pb.DESCRIPTOR.services_by_name["EventsService"].full_name


class EventsServicer(pb_grpc.EventsServiceServicer):
    """Takes uploads of custom cost events (DataHub); the authorisation interceptor has checked every
    message's org_slug against the caller's token before the stream reaches here."""

    def __init__(self, uploads: EventUploads, default_timeout: float) -> None:
        self._uploads = uploads
        self._default_timeout = default_timeout

    async def UploadEvents(
        self, request_iterator: AsyncIterator[pb.UploadEventsRequest], context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.UploadEventsResponse:
        deadline = remaining_timeout(context, self._default_timeout)
        first = await anext(aiter(request_iterator), None)
        if first is None:
            raise InvalidArgument("the upload sent no message", reason="EMPTY_STREAM")
        org_slug = first.org_slug

        async def batches() -> AsyncIterator[list[dict[str, object]]]:
            yield [_event(e) for e in first.events]
            async for request in request_iterator:
                if request.org_slug != org_slug:
                    raise InvalidArgument(
                        f"every message of an upload names the same org ({org_slug!r}), not {echo(request.org_slug)}",
                        violations=[FieldViolation("org_slug", "must be the same on every message")],
                    )
                yield [_event(e) for e in request.events]

        outcome = await self._uploads.upload(org_slug, batches(), deadline_seconds=deadline)
        return _response(outcome)


def _event(event: pb.CostEvent) -> dict[str, object]:
    """A CostEvent as the fields it gives (empty text and empty lists are "not given")."""
    data: dict[str, object] = {name: getattr(event, name) for name in TEXT_FIELDS if getattr(event, name)}
    data["is_marketplace"] = event.is_marketplace
    for name in ("project_labels", "labels", "system_labels"):
        if entries := getattr(event, name):
            data[name] = [{"key": e.key, "value": e.value} for e in entries]
    if event.metrics:
        data["metrics"] = [{"key": m.key, "value": m.value} for m in event.metrics]
    return data


def _response(outcome: UploadOutcome) -> pb.UploadEventsResponse:
    response = pb.UploadEventsResponse(
        accepted=outcome.accepted,
        rejected=outcome.rejected,
        errors=[pb.EventError(row=e.row, event_id=e.event_id, field=e.field, reason=e.reason) for e in outcome.errors],
        errors_truncated=outcome.errors_truncated,
        upload_id=outcome.upload_id,
        credential_id=outcome.credential_id,
    )
    if outcome.run is not None:
        response.run.CopyFrom(_run(outcome.run))
    return response


def _run(result: RunResult) -> pipe_pb.RunResult:
    return pipe_pb.RunResult(
        lineage=result.lineage.to_proto(),
        billing_periods=[f"{p:%Y-%m}" for p in result.billing_periods],
        files_read=result.files_read,
        rows_read=result.rows_read,
        raw_rows_written=result.raw_rows_written,
        rows_quarantined=result.rows_quarantined,
        quarantine=[pipe_pb.QuarantineCount(reason=r, rows=n) for r, n in result.quarantine.items()],
        focus_rows_written=result.focus_rows_written,
        raw_table_version=result.raw_table_version,
        focus_table_version=result.focus_table_version,
        duration_seconds=result.duration_seconds,
    )
