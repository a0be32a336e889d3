"""PipelineRunner with fakes around it: runs as background tasks, the run log, stopping, the credential check.

A real S3 (moto) and real Delta tables; credential_svc and focus_svc are replaced by fakes, so a
test can hold a run at the FOCUS conversion or at its raw commit, or fail the credential check, at will.
"""

from __future__ import annotations

import asyncio
import gc
import threading
import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from cloudact_providers.connector import ResolvedCredential
from cloudact_shared.errors import CloudactError, InvalidArgument, Unavailable
from cloudact_shared.lineage import Lineage
from cloudact_shared.storage import SliceKey
from cloudact_shared.storage.embedded import EmbeddedTableStore
from cloudact_shared.storage.schema import TableSchema
from cloudact_shared.workspace import WorkDirs
from ingest_svc.adapters.focus import ConversionResult
from ingest_svc.adapters.runs import SqliteRunLog
from ingest_svc.model import RunRecord, RunRequest, RunResult, RunStatus, Stage
from ingest_svc.service import PipelineRunner
from tests.e2e.helpers import put_legacy_delivery

ORG = "acme"
NOV_2023 = date(2023, 11, 1)
LEGACY_SMALL = Path(__file__).resolve().parents[1] / "data" / "aws" / "legacy_small.csv"
CREDENTIAL = "57175a76-7de3-4c2b-9b1d-1c9f0a6b2e11"
RAW = "cloud_aws_billing_raw_daily"


@dataclass
class FakeCredentials:
    """credential_svc: always the same AWS credential, reading the test's bucket on moto."""

    endpoint: str
    bucket: str

    async def decrypt(self, org_slug: str, credential_id: str, *, timeout: float) -> ResolvedCredential:
        config = {"bucket": self.bucket, "export_name": "cur", "prefix": "legacy", "layout": "legacy"}
        return ResolvedCredential(
            credential_id,
            "aws",
            {**config, "endpoint_url": self.endpoint},
            {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"},
        )


@dataclass
class GatedFocus:
    """focus_svc: records each conversion and, while ``gate`` is clear, holds it there."""

    gate: asyncio.Event = field(default_factory=asyncio.Event)
    entered: asyncio.Event = field(default_factory=asyncio.Event)
    calls: list[Lineage] = field(default_factory=list)

    async def convert(
        self, org_slug: str, provider: str, lineage: Lineage, periods: Sequence[date], *, timeout: float
    ) -> ConversionResult:
        self.calls.append(lineage)
        self.entered.set()
        await self.gate.wait()
        return ConversionResult(3, 3, 7)


class GatedStore(EmbeddedTableStore):
    """The lake, holding the raw table's commit in its worker thread while ``raw_gate`` is clear."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.raw_gate = threading.Event()
        self.raw_gate.set()
        self.raw_entered = threading.Event()
        self.raw_done = threading.Event()

    def replace_slice(
        self, dataset: str, schema: TableSchema, slice_key: SliceKey, data: Any, *, job_key: str | None = None
    ) -> int:
        if schema.table != RAW:
            return super().replace_slice(dataset, schema, slice_key, data, job_key=job_key)
        self.raw_entered.set()
        assert self.raw_gate.wait(30)
        try:
            return super().replace_slice(dataset, schema, slice_key, data, job_key=job_key)
        finally:
            self.raw_done.set()


@dataclass
class CredentialCheck:
    """The server's credential check: records what it was shown, and refuses it when told to."""

    checked: list[tuple[str, Mapping[str, str]]] = field(default_factory=list)
    refusal: CloudactError | None = None

    def __call__(self, provider: str, config: Mapping[str, str], secret: Mapping[str, str]) -> None:
        self.checked.append((provider, dict(config)))
        if self.refusal is not None:
            raise self.refusal


@dataclass
class Harness:
    runner: PipelineRunner
    runs: SqliteRunLog
    focus: GatedFocus
    store: GatedStore
    check: CredentialCheck


@pytest.fixture
async def harness(tmp_path: Path, s3_client: Any, s3_endpoint: str) -> AsyncIterator[Harness]:
    bucket = f"runner-{uuid.uuid4().hex[:12]}"
    s3_client.create_bucket(Bucket=bucket)
    put_legacy_delivery(s3_client, bucket, "cur", LEGACY_SMALL.read_bytes(), NOV_2023)
    runs = await SqliteRunLog.open(tmp_path / "runs.sqlite")
    store = GatedStore(tmp_path / "lake")
    focus = GatedFocus()
    check = CredentialCheck()
    runner = PipelineRunner(
        store,
        FakeCredentials(s3_endpoint, bucket),
        focus,
        runs,
        work_dirs=WorkDirs(tmp_path / "work"),
        batch_rows=1_000,
        memory_limit="256MB",
        owner=uuid.uuid4().hex,
        check_credential=check,
    )
    yield Harness(runner, runs, focus, store, check)
    store.raw_gate.set()
    await runner.aclose(0)
    await runs.close()


def _request(credential_id: str = CREDENTIAL) -> RunRequest:
    return RunRequest(ORG, "aws", "", "", credential_id, [NOV_2023])


async def _record(harness: Harness, run_id: str) -> RunRecord:
    record = await harness.runs.get(ORG, run_id)
    assert record is not None
    return record


async def _drain(events: AsyncIterator[object]) -> list[object]:
    return [event async for event in events]


async def test_a_run_is_recorded_from_its_first_moment_to_its_outcome(harness: Harness) -> None:
    handle = await harness.runner.start(_request(), deadline_seconds=60)

    started = await _record(harness, handle.run_id)
    assert (started.status, started.stage, started.credential_id) == (
        RunStatus.RUNNING,
        Stage.RESOLVING_CREDENTIAL,
        CREDENTIAL,
    )
    harness.focus.gate.set()
    events = await _drain(handle.events())

    result = events[-1]
    assert isinstance(result, RunResult) and result.lineage.run_id == handle.run_id
    done = await _record(harness, handle.run_id)
    assert done.status is RunStatus.SUCCEEDED and done.stage is Stage.DONE and done.error is None
    assert (done.rows_read, done.raw_rows_written, done.rows_quarantined) == (
        result.rows_read,
        result.raw_rows_written,
        result.rows_quarantined,
    )
    assert (done.focus_rows_written, done.focus_table_version, dict(done.quarantine)) == (3, 7, result.quarantine)
    assert done.raw_table_version == result.raw_table_version and done.finished_at is not None
    assert harness.check.checked == [("aws", harness.check.checked[0][1])]  # checked once, before the connector


async def test_stopping_gives_runs_the_grace_period_then_records_them_cancelled(harness: Harness) -> None:
    converting = await harness.runner.start(_request(), deadline_seconds=60)
    waiting = await harness.runner.start(_request(), deadline_seconds=60)  # same slice: waits its turn
    await asyncio.wait_for(harness.focus.entered.wait(), 30)

    stopping = asyncio.create_task(harness.runner.aclose(0.3))
    await asyncio.sleep(0.1)
    assert not stopping.done()  # the grace period
    await asyncio.wait_for(stopping, 10)

    cut = await _record(harness, converting.run_id)
    assert cut.status is RunStatus.FAILED and cut.error is not None
    assert (cut.error.code, cut.error.reason) == ("CANCELLED", "RUN_CANCELLED")
    assert cut.stage is Stage.CONVERTING_TO_FOCUS and cut.raw_table_version is not None
    assert cut.repair_pending  # raw written, FOCUS unknown: the reconciler checks it
    never = await _record(harness, waiting.run_id)
    assert never.status is RunStatus.FAILED and never.error is not None and never.error.code == "CANCELLED"
    assert never.raw_table_version is None and not never.repair_pending
    assert "the previous data was kept" in never.error.message
    with pytest.raises(Unavailable):
        await _drain(converting.events())
    with pytest.raises(Unavailable):
        await harness.runner.start(_request(), deadline_seconds=60)


async def test_a_run_that_finishes_within_the_grace_period_is_not_cancelled(harness: Harness) -> None:
    handle = await harness.runner.start(_request(), deadline_seconds=60)
    await asyncio.wait_for(harness.focus.entered.wait(), 30)

    asyncio.get_running_loop().call_later(0.2, harness.focus.gate.set)
    await harness.runner.aclose(10)

    assert (await _record(harness, handle.run_id)).status is RunStatus.SUCCEEDED


async def test_a_watcher_that_leaves_does_not_stop_the_run(harness: Harness) -> None:
    handle = await harness.runner.start(_request(), deadline_seconds=60)
    events = handle.events()
    await anext(events)
    await events.aclose()  # the caller hangs up

    harness.focus.gate.set()
    for _ in range(300):
        if (record := await _record(harness, handle.run_id)).status is not RunStatus.RUNNING:
            break
        await asyncio.sleep(0.05)
    assert record.status is RunStatus.SUCCEEDED


async def test_a_rejected_credential_fails_the_run_before_any_connector_is_built(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    harness.check.refusal = InvalidArgument("endpoint not allowed", reason="ENDPOINT_OVERRIDE_DISABLED")
    built: list[object] = []
    monkeypatch.setattr("ingest_svc.pipeline.registration", lambda name: built.append(name))

    handle = await harness.runner.start(_request(), deadline_seconds=60)
    with pytest.raises(InvalidArgument):
        await _drain(handle.events())

    record = await _record(harness, handle.run_id)
    assert record.status is RunStatus.FAILED and record.error is not None
    assert record.error.reason == "ENDPOINT_OVERRIDE_DISABLED" and record.stage is Stage.RESOLVING_CREDENTIAL
    assert not built and harness.store.version(f"{ORG}_prod", RAW) is None


async def test_the_decrypted_credential_is_dropped_once_the_downloads_are_done(harness: Harness) -> None:
    handle = await harness.runner.start(_request(), deadline_seconds=60)
    await asyncio.wait_for(harness.focus.entered.wait(), 30)  # staged and written: converting now

    gc.collect()
    assert not [o for o in gc.get_objects() if isinstance(o, ResolvedCredential)]
    harness.focus.gate.set()
    assert isinstance((await _drain(handle.events()))[-1], RunResult)


async def test_a_run_cancelled_during_its_raw_write_waits_for_the_commit_and_records_it(harness: Harness) -> None:
    harness.store.raw_gate.clear()
    handle = await harness.runner.start(_request(), deadline_seconds=60)
    await asyncio.to_thread(harness.store.raw_entered.wait, 30)
    run = next(task for task in asyncio.all_tasks() if task.get_name() == f"run-{handle.run_id}")

    run.cancel()  # as a stopping server does once the grace period is over, while the commit is held
    harness.store.raw_gate.set()
    await asyncio.wait([run], timeout=30)
    await asyncio.to_thread(harness.store.raw_done.wait, 30)

    record = await _record(harness, handle.run_id)
    assert record.status is RunStatus.FAILED and record.error is not None and record.error.code == "CANCELLED"
    assert record.stage is Stage.WRITING_RAW and record.repair_pending
    assert record.raw_table_version == harness.store.version(f"{ORG}_prod", RAW) is not None
    assert "its raw slice was written" in record.error.message and not harness.focus.calls


@pytest.mark.parametrize("spelling", [CREDENTIAL.upper(), CREDENTIAL.replace("-", ""), f"urn:uuid:{CREDENTIAL}"])
async def test_runs_lineage_slice_and_lock_use_the_canonical_credential_id(harness: Harness, spelling: str) -> None:
    handle = await harness.runner.start(_request(spelling), deadline_seconds=60)
    harness.focus.gate.set()
    await _drain(handle.events())

    assert harness.focus.calls[-1].credential_id == CREDENTIAL
    raw = harness.store.scan(f"{ORG}_prod", RAW).to_table()
    assert set(raw.column("x_credential_id").to_pylist()) == {CREDENTIAL}
    assert (await _record(harness, handle.run_id)).credential_id == CREDENTIAL
