"""The claim of a schedule slot in the run log: atomic, across processes, and never stuck.

ingest_svc records a scheduled run only if no run of its credential is RUNNING and no SUCCEEDED one
covers its slot, in one SQLite transaction; these tests hold it to that, directly on the run log
(two logs on one file, as two processes would open it) and over gRPC.
"""

from __future__ import annotations

import asyncio
import sqlite3
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import grpc
import pytest

from cloudact_shared.errors import AlreadyExists
from cloudact_shared.gen.cloudact.pipeline.v1 import pipeline_service_pb2 as pipe_pb
from cloudact_shared.gen.cloudact.pipeline.v1.pipeline_service_pb2_grpc import PipelineServiceStub
from cloudact_shared.lineage import Lineage
from ingest_svc.adapters.runs import SqliteRunLog
from ingest_svc.model import RunRecord, RunStatus, Stage
from tests.channels import org_channel
from tests.e2e.helpers import error_reason
from tests.scheduling.conftest import ORG, Scheduled, slot_day

SLOT = datetime(2026, 12, 5, 2, 0, tzinfo=UTC)
CREDENTIAL = "11111111-1111-4111-8111-111111111111"


def _scheduled(slot: datetime | None = SLOT, credential_id: str = CREDENTIAL, **changes: object) -> RunRecord:
    started = datetime.now(UTC)
    record = RunRecord(
        org_slug=ORG,
        provider="aws",
        lineage=Lineage("aws/cost/billing", credential_id, str(uuid.uuid4()), started, started.date()),
        billing_periods=(date(2026, 11, 1), date(2026, 12, 1)),
        status=RunStatus.RUNNING,
        stage=Stage.RESOLVING_CREDENTIAL,
        owner=uuid.uuid4().hex,
        scheduled_slot=slot,
    )
    return replace(record, **changes)  # type: ignore[arg-type]


@pytest.fixture
async def logs(tmp_path: Path) -> AsyncIterator[list[SqliteRunLog]]:
    path = tmp_path / "runs" / "runs.sqlite"
    opened = [await SqliteRunLog.open(path) for _ in range(4)]
    yield opened
    for log in opened:
        await log.close()


async def test_racing_claims_of_one_slot_record_one_run(logs: list[SqliteRunLog]) -> None:
    records = [_scheduled() for _ in range(8)]
    outcomes = await asyncio.gather(
        *(logs[i % len(logs)].claim_slot(record) for i, record in enumerate(records)), return_exceptions=True
    )
    won = [r for r, outcome in zip(records, outcomes, strict=True) if outcome is None]
    assert len(won) == 1
    assert all(isinstance(o, AlreadyExists) and o.reason == "RUN_IN_PROGRESS" for o in outcomes if o is not None)
    listed = await logs[0].list_org(ORG, credential_id=CREDENTIAL, limit=50, after=None)
    assert [r.run_id for r in listed] == [won[0].run_id]
    assert listed[0].scheduled_slot == SLOT


async def test_a_slot_is_free_again_once_its_run_failed_and_taken_once_one_succeeded(
    logs: list[SqliteRunLog],
) -> None:
    log = logs[0]
    first = _scheduled()
    await log.claim_slot(first)
    await log.save(replace(first, status=RunStatus.FAILED, finished_at=datetime.now(UTC)))
    retry = _scheduled()
    await log.claim_slot(retry)  # a failed run does not hold the slot
    await log.save(replace(retry, status=RunStatus.SUCCEEDED, finished_at=datetime.now(UTC)))
    with pytest.raises(AlreadyExists) as caught:
        await log.claim_slot(_scheduled())
    assert caught.value.reason == "SCHEDULED_RUN_EXISTS"
    assert caught.value.metadata == {"run_id": retry.run_id}
    # Another credential, and the next slot of this one, are free.
    await log.claim_slot(_scheduled(credential_id="22222222-2222-4222-8222-222222222222"))
    await log.claim_slot(_scheduled(slot=SLOT + timedelta(days=1)))


async def test_a_run_log_from_before_schedules_gets_the_column_and_keeps_its_runs(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    log = await SqliteRunLog.open(path)
    manual = _scheduled(slot=None, status=RunStatus.SUCCEEDED)
    await log.save(manual)
    await log.close()
    with sqlite3.connect(path) as db:
        db.execute("ALTER TABLE runs DROP COLUMN scheduled_slot")  # as the run log was before schedules
    log = await SqliteRunLog.open(path)
    try:
        assert await log.get(ORG, manual.run_id) == manual
        await log.claim_slot(_scheduled(slot=datetime.now(UTC) + timedelta(days=1)))
    finally:
        await log.close()


async def test_run_pipeline_starts_a_slot_once_over_grpc(scheduled: Scheduled) -> None:
    credential_id = await scheduled.credential()
    settings = scheduled.services.settings
    slot = slot_day(1, minutes_after=0)
    request = pipe_pb.RunPipelineRequest(
        org_slug=ORG,
        provider="aws",
        credential_id=credential_id.upper(),  # any spelling names the same credential
        billing_period=pipe_pb.BillingPeriod(year=slot.year, month=slot.month),
    )
    request.scheduled_slot.FromDatetime(slot)

    async def run() -> str | grpc.aio.AioRpcError:
        async with org_channel(settings, settings.ingest_address, ORG, role="operator") as channel:
            try:
                async for event in PipelineServiceStub(channel).RunPipeline(request, timeout=60):
                    if event.HasField("result"):
                        return event.result.lineage.run_id
            except grpc.aio.AioRpcError as err:
                return err
        raise AssertionError("no result")

    outcomes = await asyncio.gather(run(), run(), run())
    succeeded = [o for o in outcomes if isinstance(o, str)]
    refused = [o for o in outcomes if isinstance(o, grpc.aio.AioRpcError)]
    assert len(succeeded) == 1 and len(refused) == 2
    for err in refused:
        assert err.code() is grpc.StatusCode.ALREADY_EXISTS
        assert error_reason(err) in {"RUN_IN_PROGRESS", "SCHEDULED_RUN_EXISTS"}
    (run_record,) = await scheduled.runs(credential_id)
    assert run_record.scheduled_slot.ToDatetime(tzinfo=UTC) == slot
    # Once done, the slot stays taken.
    (late,) = await asyncio.gather(run())
    assert isinstance(late, grpc.aio.AioRpcError) and error_reason(late) == "SCHEDULED_RUN_EXISTS"


async def test_a_slot_outside_2000_to_2100_is_refused(scheduled: Scheduled) -> None:
    credential_id = await scheduled.credential()
    settings = scheduled.services.settings
    request = pipe_pb.RunPipelineRequest(org_slug=ORG, provider="aws", credential_id=credential_id)
    request.scheduled_slot.FromDatetime(datetime(2150, 1, 1, tzinfo=UTC))
    async with org_channel(settings, settings.ingest_address, ORG, role="operator") as channel:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            async for _ in PipelineServiceStub(channel).RunPipeline(request, timeout=30):
                pass
    assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "scheduled_slot" in (caught.value.details() or "")
    assert await scheduled.runs(credential_id) == []
