"""PipelineService servicer: protobuf in, PipelineRunner events and run-log records out as protobuf.

The server also hosts EventsService (custom cost events, ``events_server.py``), on the same runner.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from typing import Any

import grpc
from google.protobuf.timestamp_pb2 import Timestamp

from cloudact_providers.registry import validate_credential
from cloudact_shared.clients import open_channel
from cloudact_shared.errors import FieldViolation, InvalidArgument
from cloudact_shared.gen.cloudact.events.v1 import events_service_pb2 as events_pb
from cloudact_shared.gen.cloudact.events.v1 import events_service_pb2_grpc as events_pb_grpc
from cloudact_shared.gen.cloudact.pipeline.v1 import pipeline_service_pb2 as pb
from cloudact_shared.gen.cloudact.pipeline.v1 import pipeline_service_pb2_grpc as pb_grpc
from cloudact_shared.naming import parse_date
from cloudact_shared.server import BuiltServer, ServiceRegistration, build_service_server, remaining_timeout
from cloudact_shared.settings import CloudactSettings
from cloudact_shared.storage import TableStore, open_store, start_housekeeping
from cloudact_shared.workspace import WorkDirs
from ingest_svc.adapters.credentials import CredentialChooser, CredentialClient
from ingest_svc.adapters.focus import FocusClient
from ingest_svc.adapters.leases import ProcessLease, leases_dir, owner_alive
from ingest_svc.adapters.runs import SqliteRunLog, run_log_path
from ingest_svc.adapters.slices import TableSliceInspector
from ingest_svc.config import all_pipeline_configs
from ingest_svc.events import DataHubCredentials, EventUploads
from ingest_svc.events_server import EventsServicer
from ingest_svc.model import Progress, RunRecord, RunRequest, RunResult
from ingest_svc.reconcile import Reconciler
from ingest_svc.runs import RunHistory
from ingest_svc.service import CredentialSource, PipelineRunner, SliceLocks, months_between

SERVICE_NAME = pb.DESCRIPTOR.services_by_name["PipelineService"].full_name


class PipelineServicer(pb_grpc.PipelineServiceServicer):
    """Streams a run's progress (the last message carries the result) and reads the run log."""

    def __init__(
        self,
        runner: PipelineRunner,
        history: RunHistory,
        default_timeout: float,
        chooser: CredentialChooser | None = None,
    ) -> None:
        self._runner = runner
        self._history = history
        self._default_timeout = default_timeout
        self._chooser = chooser

    async def _with_credential(
        self, run_request: RunRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> RunRequest:
        """The request, with the org's only credential of the provider when it names none (the
        seed's HTTP route, ``POST /pipelines/run/{org}/{provider}/cost/billing``, names none)."""
        if run_request.credential_id or self._chooser is None:
            return run_request
        authorization = dict(context.invocation_metadata() or ()).get("authorization", "")
        chosen = await self._chooser.only_one(
            run_request.org_slug, run_request.provider, str(authorization), timeout=self._default_timeout
        )
        return replace(run_request, credential_id=chosen)

    async def RunPipeline(
        self, request: pb.RunPipelineRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> AsyncIterator[pb.RunPipelineResponse]:
        run_request = await self._with_credential(_run_request(request), context)
        deadline = remaining_timeout(context, self._default_timeout)
        # The run is a background task: if this stream is cancelled, only the watching stops.
        handle = await self._runner.start(run_request, deadline_seconds=deadline)
        async for event in handle.events():
            if isinstance(event, RunResult):
                yield pb.RunPipelineResponse(result=_result(event))
            else:
                yield pb.RunPipelineResponse(progress=_progress(event, handle.run_id))

    async def StartRun(
        self, request: pb.StartRunRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.StartRunResponse:
        run_request = await self._with_credential(_run_request(request), context)
        # Not this call's deadline: the call ends once the run is recorded, the run goes on.
        handle = await self._runner.start(run_request, deadline_seconds=self._default_timeout)
        record = await self._history.get(run_request.org_slug, handle.run_id)
        return pb.StartRunResponse(run_id=handle.run_id, run=_run(record))

    async def GetRun(self, request: pb.GetRunRequest, context: grpc.aio.ServicerContext[Any, Any]) -> pb.GetRunResponse:
        record = await self._history.get(request.org_slug, request.run_id)
        return pb.GetRunResponse(run=_run(record))

    async def ListRuns(
        self, request: pb.ListRunsRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.ListRunsResponse:
        page = await self._history.list(
            request.org_slug,
            credential_id=request.credential_id,
            page_size=request.page_size,
            page_token=request.page_token,
        )
        return pb.ListRunsResponse(runs=[_run(r) for r in page.runs], next_page_token=page.next_page_token)

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


def _run_request(request: pb.RunPipelineRequest | pb.StartRunRequest) -> RunRequest:
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
        start = parse_date(request.date_range.start_date, "date_range.start_date")
        end = parse_date(request.date_range.end_date, "date_range.end_date")
        periods = months_between(start, end)
    else:
        periods = []
    slot = (
        request.scheduled_slot.ToDatetime(tzinfo=UTC)
        if isinstance(request, pb.RunPipelineRequest) and request.HasField("scheduled_slot")
        else None
    )
    if slot is not None and not 2000 <= slot.year <= 2100:
        raise InvalidArgument(
            f"scheduled_slot {slot:%Y-%m-%d %H:%M} is not a schedule slot",
            violations=[FieldViolation("scheduled_slot", "must lie in 2000..2100")],
        )
    return RunRequest(
        org_slug=request.org_slug,
        provider=request.provider,
        domain=request.domain,
        pipeline=request.pipeline,
        credential_id=request.credential_id,
        periods=periods,
        scheduled_slot=slot,
    )


def _timestamp(value: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(value)
    return stamp


def _progress(event: Progress, run_id: str) -> pb.ProgressEvent:
    return pb.ProgressEvent(
        stage=event.stage.value,  # type: ignore[arg-type]
        message=event.message,
        source_object=event.source_object,
        rows_read=event.rows_read,
        rows_quarantined=event.rows_quarantined,
        at=_timestamp(event.at),
        run_id=run_id,
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


def _run(record: RunRecord) -> pb.Run:
    run = pb.Run(
        run_id=record.run_id,
        org_slug=record.org_slug,
        provider=record.provider,
        pipeline_id=record.pipeline_id,
        credential_id=record.credential_id,
        billing_periods=[f"{p:%Y-%m}" for p in record.billing_periods],
        lineage=record.lineage.to_proto(),
        status=record.status.value,  # type: ignore[arg-type]
        last_stage=record.stage.value,  # type: ignore[arg-type]
        files_read=record.files_read,
        rows_read=record.rows_read,
        raw_rows_written=record.raw_rows_written,
        rows_quarantined=record.rows_quarantined,
        quarantine=[pb.QuarantineCount(reason=r, rows=n) for r, n in record.quarantine.items()],
        focus_rows_written=record.focus_rows_written,
        started_at=_timestamp(record.started_at),
        repaired=record.repaired,
        repair_pending=record.repair_pending,
    )
    if record.error is not None:
        run.error.CopyFrom(
            pb.RunError(code=record.error.code, reason=record.error.reason, message=record.error.message)
        )
    if record.raw_table_version is not None:
        run.raw_table_version = record.raw_table_version
    if record.focus_table_version is not None:
        run.focus_table_version = record.focus_table_version
    if record.finished_at is not None:
        run.finished_at.CopyFrom(_timestamp(record.finished_at))
    if record.scheduled_slot is not None:
        run.scheduled_slot.CopyFrom(_timestamp(record.scheduled_slot))
    return run


async def build(
    settings: CloudactSettings, *, address: str | None = None, store: TableStore | None = None
) -> BuiltServer:
    """Builds ingest_svc's server with channels to credential_svc and focus_svc."""
    # ingest_svc proves itself with its own certificate on the other services' mutual-TLS ports.
    credential_channel = open_channel(settings, settings.credential_internal_address, service="ingest_svc")
    focus_channel = open_channel(settings, settings.focus_internal_address, service="ingest_svc")
    # The public port, for listing credentials with a caller's token (CredentialChooser).
    listing_channel = open_channel(settings, settings.credential_address, service="ingest_svc")
    # An org's DataHub credential is resolved here, every other one by credential_svc (events.py).
    credentials = DataHubCredentials(CredentialClient(credential_channel), settings.data_dir)
    runs = await _start_runs(settings, store or open_store(settings), credentials, FocusClient(focus_channel))
    servicer = PipelineServicer(
        runs.runner, runs.history, settings.downstream_timeout_seconds, CredentialChooser(listing_channel)
    )
    registration = ServiceRegistration(
        servicer, pb_grpc.add_PipelineServiceServicer_to_server, pb.DESCRIPTOR.services_by_name["PipelineService"]
    )
    events = ServiceRegistration(
        EventsServicer(EventUploads(runs.runner, settings.data_dir), settings.downstream_timeout_seconds),
        events_pb_grpc.add_EventsServiceServicer_to_server,
        events_pb.DESCRIPTOR.services_by_name["EventsService"],
    )
    try:
        return build_service_server(
            [registration, events],
            settings,
            "ingest_svc",
            address=address,
            on_drain=[runs.drain],
            on_stop=[runs.stop, credential_channel.close, focus_channel.close, listing_channel.close],
        )
    except BaseException:
        # No server to stop later: release the lease and the run log now (the port may be taken).
        await runs.stop()
        raise


@dataclass(frozen=True)
class _Runs:
    """The run side of ingest_svc: the runner, the run log reader, and how to drain and stop them."""

    runner: PipelineRunner
    history: RunHistory
    drain: Callable[[], Awaitable[None]]
    """Stops the reconciler and gives running runs the shutdown grace (before the server stops)."""
    stop: Callable[[], Awaitable[None]]
    """Drains if that has not happened, then closes the run log, the lease and the housekeeping."""


async def _start_runs(
    settings: CloudactSettings, store: TableStore, credentials: CredentialSource, focus: FocusClient
) -> _Runs:
    """Cleans up after a killed process, opens the run log, takes this process's lease, builds the
    runner and starts the reconciler and the vacuum of the raw and quarantine tables."""
    work_dirs = WorkDirs(settings.data_dir / "tmp")
    stop_housekeeping = await start_housekeeping(
        store,
        work_dirs,
        interval_hours=settings.vacuum_interval_hours,
        retention_hours=settings.vacuum_retention_hours,
        select=lambda _dataset, table: table.startswith("cloud_"),
    )
    runs = await SqliteRunLog.open(run_log_path(settings.data_dir))
    lease = await asyncio.to_thread(ProcessLease.acquire, leases_dir(settings.data_dir))
    locks = SliceLocks()
    runner = PipelineRunner(
        store,
        credentials,
        focus,
        runs,
        work_dirs=work_dirs,
        batch_rows=settings.memory_plan.batch_rows,
        memory_limit=settings.memory_plan.duckdb_memory_limit,
        owner=lease.owner,
        check_credential=functools.partial(
            validate_credential, allow_endpoint_overrides=settings.allow_endpoint_overrides
        ),
        locks=locks,
    )
    reconciler = Reconciler(
        runs,
        TableSliceInspector(store),
        focus,
        locks,
        owner=lease.owner,
        owner_alive=functools.partial(_owner_alive, settings),
        timeout=settings.downstream_timeout_seconds,
        clock=lambda: datetime.now(UTC),
    )
    reconciling = asyncio.create_task(reconciler.run(settings.reconcile_interval_seconds), name="reconcile")

    async def drain() -> None:
        # Reconciler first (it may hold a slice lock), then the runs get their grace.
        reconciling.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reconciling
        await runner.aclose(settings.shutdown_grace_seconds)

    async def stop() -> None:
        await drain()  # a no-op when the server drained already
        await runs.close()
        await asyncio.to_thread(lease.release)
        await stop_housekeeping()

    return _Runs(runner, RunHistory(runs), drain, stop)


def _owner_alive(settings: CloudactSettings, owner: str) -> Awaitable[bool]:
    return asyncio.to_thread(owner_alive, leases_dir(settings.data_dir), owner)
