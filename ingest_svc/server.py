"""PipelineService servicer: protobuf in, PipelineRunner events out as protobuf."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date
from typing import Any

import grpc
from google.protobuf.timestamp_pb2 import Timestamp

from cloudact_shared.clients import open_channel
from cloudact_shared.errors import FieldViolation, InvalidArgument
from cloudact_shared.gen.cloudact.pipeline.v1 import pipeline_service_pb2 as pb
from cloudact_shared.gen.cloudact.pipeline.v1 import pipeline_service_pb2_grpc as pb_grpc
from cloudact_shared.server import BuiltServer, ServiceRegistration, build_service_server, remaining_timeout
from cloudact_shared.settings import CloudactSettings
from cloudact_shared.storage import TableStore, open_store
from ingest_svc.adapters.credentials import CredentialClient
from ingest_svc.adapters.focus import FocusClient
from ingest_svc.config import all_pipeline_configs
from ingest_svc.service import PipelineRunner, Progress, RunRequest, RunResult, months_between

SERVICE_NAME = pb.DESCRIPTOR.services_by_name["PipelineService"].full_name


class PipelineServicer(pb_grpc.PipelineServiceServicer):
    """Streams a run's progress; the last message carries the result."""

    def __init__(self, runner: PipelineRunner, default_timeout: float) -> None:
        self._runner = runner
        self._default_timeout = default_timeout

    async def RunPipeline(
        self, request: pb.RunPipelineRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> AsyncIterator[pb.RunPipelineResponse]:
        run_request = _run_request(request)
        deadline = remaining_timeout(context, self._default_timeout)
        async for event in self._runner.run(run_request, deadline_seconds=deadline):
            if isinstance(event, RunResult):
                yield pb.RunPipelineResponse(result=_result(event))
            else:
                yield pb.RunPipelineResponse(progress=_progress(event))

    async def ListPipelines(
        self, request: pb.ListPipelinesRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.ListPipelinesResponse:
        return pb.ListPipelinesResponse(
            pipelines=[
                pb.PipelineInfo(
                    pipeline_id=c.pipeline_id,
                    provider=c.provider,
                    domain=c.domain,
                    pipeline=c.pipeline,
                    raw_table=c.raw_schema,
                    description=c.description,
                )
                for c in all_pipeline_configs().values()
            ]
        )


def _run_request(request: pb.RunPipelineRequest) -> RunRequest:
    kind = request.WhichOneof("period")
    if kind == "billing_period":
        year, month = request.billing_period.year, request.billing_period.month
        if not (2000 <= year <= 2100 and 1 <= month <= 12):
            raise InvalidArgument(
                f"billing_period {year}-{month:02d} is not a valid month",
                violations=[FieldViolation("billing_period", "year 2000-2100, month 1-12")],
            )
        periods = [date(year, month, 1)]
    elif kind == "date_range":
        start = _iso_date(request.date_range.start_date, "date_range.start_date")
        end = _iso_date(request.date_range.end_date, "date_range.end_date")
        periods = months_between(start, end)
    else:
        periods = []
    return RunRequest(
        org_slug=request.org_slug,
        provider=request.provider,
        domain=request.domain,
        pipeline=request.pipeline,
        credential_id=request.credential_id,
        periods=periods,
    )


def _iso_date(text: str, field: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise InvalidArgument(
            f"{field} {text!r} is not a date (YYYY-MM-DD)",
            violations=[FieldViolation(field, "must be YYYY-MM-DD")],
        ) from None


def _timestamp(value: Any) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(value)
    return stamp


def _progress(event: Progress) -> pb.ProgressEvent:
    return pb.ProgressEvent(
        stage=event.stage.value,  # type: ignore[arg-type]
        message=event.message,
        source_object=event.source_object,
        rows_read=event.rows_read,
        rows_quarantined=event.rows_quarantined,
        at=_timestamp(event.at),
    )


def _result(result: RunResult) -> pb.RunResult:
    return pb.RunResult(
        lineage=result.lineage.to_proto(),
        billing_periods=[f"{p:%Y-%m}" for p in result.billing_periods],
        files_read=result.files_read,
        rows_read=result.rows_read,
        raw_rows_written=result.raw_rows_written,
        rows_quarantined=result.rows_quarantined,
        quarantine=[pb.QuarantineCount(reason=r, rows=n) for r, n in result.quarantine.items()],
        focus_rows_written=result.focus_rows_written,
        raw_table_version=result.raw_table_version,
        focus_table_version=result.focus_table_version,
        duration_seconds=result.duration_seconds,
    )


async def build(
    settings: CloudactSettings, *, address: str | None = None, store: TableStore | None = None
) -> BuiltServer:
    """Builds ingest_svc's server with channels to credential_svc and focus_svc."""
    credential_channel = open_channel(settings.credential_address)
    focus_channel = open_channel(settings.focus_address)
    runner = PipelineRunner(
        store or open_store(settings),
        CredentialClient(credential_channel, settings.resolved_pipeline_token()),
        FocusClient(focus_channel),
        work_root=settings.data_dir / "tmp",
        batch_rows=settings.raw_batch_rows,
        memory_limit=settings.duckdb_memory_limit,
    )
    servicer = PipelineServicer(runner, settings.downstream_timeout_seconds)
    registration = ServiceRegistration(servicer, pb_grpc.add_PipelineServiceServicer_to_server, SERVICE_NAME)
    return build_service_server(
        [registration],
        address or settings.ingest_address,
        on_stop=[credential_channel.close, focus_channel.close],
    )
