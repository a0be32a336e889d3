"""Runs outlive their callers: the run log, GetRun / ListRuns, and the reconciler that repairs FOCUS."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
import pytest

from cloudact_shared.gen.cloudact.pipeline.v1 import pipeline_service_pb2 as pipe_pb
from cloudact_shared.gen.cloudact.pipeline.v1.pipeline_service_pb2_grpc import PipelineServiceStub
from cloudact_shared.lineage import Lineage
from cloudact_shared.settings import CloudactSettings
from focus_svc.server import build as build_focus
from ingest_svc.adapters.leases import ProcessLease, leases_dir
from ingest_svc.adapters.runs import SqliteRunLog, run_log_path
from ingest_svc.model import RunRecord, RunStatus, Stage
from ingest_svc.server import build as build_ingest
from tests.channels import org_channel
from tests.conftest import LEGACY_CUR_SAMPLE, Services
from tests.e2e.helpers import (
    create_credential,
    error_reason,
    get_run,
    list_runs,
    pipeline_request,
    put_legacy_delivery,
    read_table,
    run_pipeline,
    run_pipeline_until_error,
    wait_for_run,
)

ORG = "acme"
NOV_2023 = datetime(2023, 11, 1).date()
RAW = "cloud_aws_billing_raw_daily"
FOCUS = "cost_data_standard_1_3"


@dataclass
class Exports:
    """A bucket of the test's own holding legacy CUR exports, and credentials that read them."""

    settings: CloudactSettings
    s3: Any
    endpoint: str
    bucket: str

    async def credential(self, export: str = "legacy-cur") -> str:
        """Uploads the legacy CUR sample as ``export`` and returns a new credential reading it."""
        delivery = put_legacy_delivery(self.s3, self.bucket, export, LEGACY_CUR_SAMPLE.read_bytes(), NOV_2023)
        return await create_credential(self.settings, ORG, delivery, self.endpoint)


@pytest.fixture
def exports(s3_client: Any, s3_endpoint: str, services: Services, request: pytest.FixtureRequest) -> Exports:
    bucket = f"runs-{abs(hash(request.node.name)) % 10**8}"
    s3_client.create_bucket(Bucket=bucket)
    return Exports(services.settings, s3_client, s3_endpoint, bucket)


async def _stop(services: Services, name: str) -> None:
    await services.servers.pop(name).stop(0)


async def _start_focus(services: Services) -> None:
    settings = services.settings
    built = await build_focus(
        settings, address=settings.focus_address, internal_address=settings.focus_internal_address
    )
    await built.start()
    services.servers["focus_svc"] = built


async def _start_ingest(services: Services, **overrides: Any) -> None:
    """A new ingest_svc process, as it were: a new owner, a start-up reconcile pass."""
    settings = services.settings.model_copy(update=overrides)
    built = await build_ingest(settings, address=services.settings.ingest_address)
    await built.start()
    services.servers["ingest_svc"] = built


def _run_ids(services: Services, table: str, credential_id: str) -> set[str]:
    rows = read_table(services.settings, ORG, table)
    return {r for r, c in zip(rows["x_run_id"].to_pylist(), rows["x_credential_id"].to_pylist(), strict=True)
            if c == credential_id}  # fmt: skip


async def test_get_run_and_list_runs_tell_a_runs_outcome(
    services: Services, exports: Exports, caplog: pytest.LogCaptureFixture
) -> None:
    credential_id = await exports.credential()
    caplog.set_level(logging.INFO, logger="ingest_svc")

    progress, result = await run_pipeline(services.settings, ORG, credential_id, NOV_2023)
    _, second = await run_pipeline(services.settings, ORG, credential_id, NOV_2023)

    run_id = result.lineage.run_id
    assert progress[0].run_id == run_id and {p.run_id for p in progress} == {run_id}
    run = await get_run(services.settings, ORG, run_id)
    assert run.status == pipe_pb.RUN_STATUS_SUCCEEDED and run.last_stage == pipe_pb.STAGE_DONE
    assert (run.org_slug, run.provider, run.pipeline_id, run.credential_id) == (
        ORG, "aws", "aws/cost/billing", credential_id,
    )  # fmt: skip
    assert run.lineage == result.lineage and list(run.billing_periods) == ["2023-11"]
    assert (run.files_read, run.rows_read, run.raw_rows_written, run.focus_rows_written) == (1, 1281, 1281, 1281)
    assert run.raw_table_version == result.raw_table_version
    assert run.focus_table_version == result.focus_table_version
    assert run.finished_at.ToDatetime() >= run.started_at.ToDatetime()
    assert not run.HasField("error") and not run.repaired and not run.repair_pending

    listed = await list_runs(services.settings, ORG)
    assert [r.run_id for r in listed.runs] == [second.lineage.run_id, run_id] and not listed.next_page_token
    first_page = await list_runs(services.settings, ORG, page_size=1)
    second_page = await list_runs(services.settings, ORG, page_size=1, page_token=first_page.next_page_token)
    assert [r.run_id for r in (*first_page.runs, *second_page.runs)] == [second.lineage.run_id, run_id]
    assert not second_page.next_page_token

    # One line at the start and one at the end of each run, with what an operator looks for.
    lines = [r.getMessage() for r in caplog.records if run_id in r.getMessage()]
    assert len(lines) == 2, lines
    assert "started" in lines[0] and "SUCCEEDED" in lines[1] and "raw_rows=1281" in lines[1]
    assert all(f"org={ORG}" in line and credential_id in line and "2023-11" in line for line in lines)
    assert "testing" not in caplog.text  # the S3 secret


async def test_a_run_is_only_visible_in_its_own_org(services: Services, exports: Exports) -> None:
    credential_id = await exports.credential()
    _, result = await run_pipeline(services.settings, ORG, credential_id, NOV_2023)

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await get_run(services.settings, "globex", result.lineage.run_id)
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    assert not (await list_runs(services.settings, "globex")).runs
    with pytest.raises(grpc.aio.AioRpcError) as bad_id:
        await get_run(services.settings, ORG, "not-a-run")
    assert bad_id.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_a_failed_run_is_recorded_with_the_error_its_caller_got(services: Services, exports: Exports) -> None:
    credential_id = await exports.credential()
    put_legacy_delivery(
        exports.s3,
        exports.bucket,
        "legacy-cur",
        b"x\n",
        NOV_2023,
        extra_manifest_keys=["legacy/legacy-cur/missing/part-2.csv.gz"],
    )

    progress, error = await run_pipeline_until_error(services.settings, ORG, credential_id, NOV_2023)

    run = await get_run(services.settings, ORG, progress[0].run_id)
    assert run.status == pipe_pb.RUN_STATUS_FAILED
    assert (run.error.code, run.error.reason) == ("FAILED_PRECONDITION", error_reason(error))
    assert run.error.message == error.details()
    assert run.last_stage == pipe_pb.STAGE_LISTING_SOURCE
    assert not run.HasField("raw_table_version") and not run.repair_pending


async def test_focus_down_leaves_a_failed_run_with_raw_written_that_the_reconciler_repairs(
    services: Services, exports: Exports
) -> None:
    credential_id = await exports.credential()
    _, before = await run_pipeline(services.settings, ORG, credential_id, NOV_2023)
    await _stop(services, "focus_svc")

    progress, error = await run_pipeline_until_error(services.settings, ORG, credential_id, NOV_2023)

    assert error.code() == grpc.StatusCode.UNAVAILABLE
    run_id = progress[0].run_id
    failed = await get_run(services.settings, ORG, run_id)
    assert failed.status == pipe_pb.RUN_STATUS_FAILED and failed.error.code == "UNAVAILABLE"
    assert failed.last_stage == pipe_pb.STAGE_CONVERTING_TO_FOCUS
    assert failed.HasField("raw_table_version") and not failed.HasField("focus_table_version")
    assert failed.repair_pending and not failed.repaired
    assert _run_ids(services, RAW, credential_id) == {run_id}
    assert _run_ids(services, FOCUS, credential_id) == {before.lineage.run_id}  # stale

    # A new ingest_svc reconciles at start-up (focus_svc still down: deferred) and then periodically.
    await _stop(services, "ingest_svc")
    await _start_ingest(services, reconcile_interval_seconds=0.5)
    assert (await get_run(services.settings, ORG, run_id)).repair_pending
    await _start_focus(services)

    repaired = await wait_for_run(services.settings, ORG, run_id, lambda r: r.status == pipe_pb.RUN_STATUS_SUCCEEDED)
    assert repaired.repaired and not repaired.repair_pending and not repaired.HasField("error")
    assert repaired.focus_rows_written == 1281 and repaired.HasField("focus_table_version")
    assert _run_ids(services, FOCUS, credential_id) == {run_id}
    assert read_table(services.settings, ORG, FOCUS).num_rows == 1281


async def test_runs_left_running_by_a_killed_ingest_are_resolved_at_the_next_start(
    services: Services, exports: Exports
) -> None:
    # Slice 1: a run that completed, but whose process died before recording it.
    committed = await exports.credential("export-one")
    _, one = await run_pipeline(services.settings, ORG, committed, NOV_2023)
    # Slice 2: a run killed right after its raw commit, before FOCUS converted it.
    converting = await exports.credential("export-two")
    _, two = await run_pipeline(services.settings, ORG, converting, NOV_2023)
    await _stop(services, "focus_svc")
    progress, _ = await run_pipeline_until_error(services.settings, ORG, converting, NOV_2023)
    killed_id = progress[0].run_id
    await _start_focus(services)
    await _stop(services, "ingest_svc")

    runs = await SqliteRunLog.open(run_log_path(services.settings.data_dir))
    live = ProcessLease.acquire(leases_dir(services.settings.data_dir))  # another ingest_svc, alive
    try:
        done = await runs.get(ORG, one.lineage.run_id)
        killed = await runs.get(ORG, killed_id)
        assert done is not None and killed is not None
        started = done.started_at
        await runs.save(_as_running(done, Stage.CONVERTING_TO_FOCUS))
        await runs.save(replace(_as_running(killed, Stage.CONVERTING_TO_FOCUS), raw_table_version=None))
        downloading = _fabricated(done, started + timedelta(minutes=1), Stage.READING_SOURCE)
        writing = _fabricated(done, started + timedelta(minutes=2), Stage.WRITING_RAW)
        overtaken = _fabricated(done, started - timedelta(minutes=1), Stage.WRITING_RAW)
        elsewhere = replace(_fabricated(done, started - timedelta(hours=1), Stage.READING_SOURCE), owner=live.owner)
        for record in (downloading, writing, overtaken, elsewhere):
            await runs.save(record)
    finally:
        await runs.close()

    try:
        await _start_ingest(services)

        def settled(run: pipe_pb.Run) -> bool:
            return run.status != pipe_pb.RUN_STATUS_RUNNING

        recorded = await wait_for_run(services.settings, ORG, one.lineage.run_id, settled)
        assert recorded.status == pipe_pb.RUN_STATUS_SUCCEEDED and not recorded.repaired
        assert recorded.focus_rows_written == 1281 and recorded.last_stage == pipe_pb.STAGE_DONE
        repaired = await wait_for_run(services.settings, ORG, killed_id, settled)
        assert repaired.status == pipe_pb.RUN_STATUS_SUCCEEDED and repaired.repaired
        assert _run_ids(services, FOCUS, converting) == {killed_id} != {two.lineage.run_id}
        for kept in (downloading, writing):
            run = await wait_for_run(services.settings, ORG, kept.run_id, settled)
            assert run.status == pipe_pb.RUN_STATUS_FAILED and run.error.reason == "RUN_INTERRUPTED"
            assert "the previous data was kept" in run.error.message
        superseded = await wait_for_run(services.settings, ORG, overtaken.run_id, settled)
        assert superseded.status == pipe_pb.RUN_STATUS_FAILED and superseded.error.reason == "SUPERSEDED"
        assert one.lineage.run_id in superseded.error.message
        still = await get_run(services.settings, ORG, elsewhere.run_id)
        assert still.status == pipe_pb.RUN_STATUS_RUNNING  # its process holds its lease
        assert _run_ids(services, RAW, committed) == _run_ids(services, FOCUS, committed) == {one.lineage.run_id}
    finally:
        live.release()


async def test_a_run_whose_caller_cancels_the_stream_still_completes(services: Services, exports: Exports) -> None:
    credential_id = await exports.credential()
    request = pipeline_request(ORG, credential_id, NOV_2023)
    async with org_channel(services.settings, services.settings.ingest_address, ORG, role="operator") as channel:
        stub = PipelineServiceStub(channel)
        first = stub.RunPipeline(request, timeout=120)
        await first.read()  # the first run holds the credential's slice lock from its first event on
        # The second run of the same credential waits for the first: it is surely mid-run when cut off.
        second = stub.RunPipeline(request, timeout=120)
        opening = await second.read()
        second.cancel()
        cancelled_at = datetime.now(UTC)
        while await first.read() is not grpc.aio.EOF:
            pass

    run_id = opening.progress.run_id
    run = await wait_for_run(services.settings, ORG, run_id, lambda r: r.status != pipe_pb.RUN_STATUS_RUNNING)
    assert run.status == pipe_pb.RUN_STATUS_SUCCEEDED, run.error
    assert run.finished_at.ToDatetime(tzinfo=UTC) > cancelled_at
    assert _run_ids(services, RAW, credential_id) == _run_ids(services, FOCUS, credential_id) == {run_id}


def _as_running(record: RunRecord, stage: Stage) -> RunRecord:
    """The record as a process killed at ``stage`` left it."""
    return replace(
        record,
        status=RunStatus.RUNNING,
        stage=stage,
        error=None,
        focus_rows_written=0,
        focus_table_version=None,
        finished_at=None,
        repair_pending=False,
    )


def _fabricated(like: RunRecord, started: datetime, stage: Stage) -> RunRecord:
    """A RUNNING run of the same slice, started at ``started``, whose (dead) process got to ``stage``."""
    lineage = Lineage(like.pipeline_id, like.credential_id, str(uuid.uuid4()), started, started.date())
    return _as_running(
        replace(like, lineage=lineage, raw_table_version=None, raw_rows_written=0, owner=uuid.uuid4().hex), stage
    )
