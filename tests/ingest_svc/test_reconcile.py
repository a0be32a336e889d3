"""The reconciler's decisions, table state by table state, with the slices and focus_svc faked."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from cloudact_shared.errors import CloudactError, FailedPrecondition, Unavailable
from cloudact_shared.lineage import Lineage
from ingest_svc.adapters.focus import ConversionResult
from ingest_svc.adapters.runs import SqliteRunLog
from ingest_svc.adapters.slices import RunRows, RunSlice, SliceRuns
from ingest_svc.model import RunError, RunRecord, RunStatus, Stage
from ingest_svc.reconcile import Reconciler
from ingest_svc.service import SliceLocks

T0 = datetime(2025, 3, 1, 12, tzinfo=UTC)
ME, DEAD, ALIVE = "a" * 32, "d" * 32, "e" * 32
CREDENTIAL = "57175a76-7de3-4c2b-9b1d-1c9f0a6b2e11"
OLDER, NEWER = "00000000-0000-4000-8000-000000000001", "00000000-0000-4000-8000-000000000002"


@dataclass
class FakeSlices:
    """What the raw and FOCUS slices hold, by run id -> (rows, start time)."""

    raw: dict[str, RunRows] = field(default_factory=dict)
    focus: dict[str, RunRows] = field(default_factory=dict)
    read: int = 0

    async def raw_runs(self, key: RunSlice, raw_table: str) -> SliceRuns:
        self.read += 1
        return SliceRuns(dict(self.raw), 4)

    async def focus_runs(self, key: RunSlice) -> SliceRuns:
        return SliceRuns(dict(self.focus), 9)


@dataclass
class FakeFocus:
    error: CloudactError | None = None
    calls: list[Lineage] = field(default_factory=list)

    async def convert(
        self, org_slug: str, provider: str, lineage: Lineage, periods: Sequence[date], *, timeout: float
    ) -> ConversionResult:
        self.calls.append(lineage)
        if self.error is not None:
            raise self.error
        return ConversionResult(5, 6, 10)


def _run(stage: Stage = Stage.CONVERTING_TO_FOCUS, **changes: object) -> RunRecord:
    lineage = Lineage("aws/cost/billing", CREDENTIAL, str(uuid.uuid4()), T0, T0.date())
    record = RunRecord("acme", "aws", lineage, (date(2025, 2, 1),), RunStatus.RUNNING, stage, DEAD)
    return replace(record, **changes)  # type: ignore[arg-type]


@pytest.fixture
async def log(tmp_path: Path) -> AsyncIterator[SqliteRunLog]:
    runs = await SqliteRunLog.open(tmp_path / "runs.sqlite")
    yield runs
    await runs.close()


async def _reconcile(log: SqliteRunLog, record: RunRecord, slices: FakeSlices, focus: FakeFocus) -> RunRecord:
    await log.save(record)

    async def alive(owner: str) -> bool:
        return owner == ALIVE

    reconciler = Reconciler(
        log,
        slices,
        focus,
        SliceLocks(),
        owner=ME,
        owner_alive=alive,
        timeout=5,
        clock=lambda: T0,
    )
    await reconciler.reconcile_once()
    found = await log.get("acme", record.run_id)
    assert found is not None
    return found


def _rows(n: int, minutes: int = 0) -> RunRows:
    return RunRows(n, T0 + timedelta(minutes=minutes))


async def test_a_run_killed_before_its_raw_write_kept_the_previous_data(log: SqliteRunLog) -> None:
    slices = FakeSlices()

    done = await _reconcile(log, _run(Stage.READING_SOURCE), slices, FakeFocus())

    assert done.status is RunStatus.FAILED and done.error is not None and done.error.reason == "RUN_INTERRUPTED"
    assert "previous data was kept" in done.error.message and slices.read == 0


async def test_focus_already_holding_the_run_means_it_succeeded(log: SqliteRunLog) -> None:
    record = _run()
    slices = FakeSlices(raw={record.run_id: _rows(5)}, focus={record.run_id: _rows(6)})
    focus = FakeFocus()

    done = await _reconcile(log, record, slices, focus)

    assert done.status is RunStatus.SUCCEEDED and not done.repaired and not focus.calls
    assert (done.raw_rows_written, done.focus_rows_written, done.raw_table_version, done.focus_table_version) == (
        5, 6, 4, 9,
    )  # fmt: skip


@pytest.mark.parametrize("status", [RunStatus.RUNNING, RunStatus.FAILED])
async def test_raw_holding_the_run_and_focus_lagging_is_repaired(log: SqliteRunLog, status: RunStatus) -> None:
    record = _run(status=status, repair_pending=status is RunStatus.FAILED, raw_table_version=4, raw_rows_written=5)
    if status is RunStatus.FAILED:
        record = replace(record, error=RunError("UNAVAILABLE", "UNAVAILABLE", "focus_svc down"))
    slices = FakeSlices(raw={record.run_id: _rows(5)}, focus={OLDER: _rows(3, -60)})
    focus = FakeFocus()

    done = await _reconcile(log, record, slices, focus)

    assert [c.run_id for c in focus.calls] == [record.run_id] and focus.calls[0] == record.lineage
    assert done.status is RunStatus.SUCCEEDED and done.repaired and not done.repair_pending and done.error is None
    assert (done.focus_rows_written, done.focus_table_version, done.stage) == (6, 10, Stage.DONE)


async def test_a_repair_focus_cannot_do_yet_waits_for_the_next_pass(log: SqliteRunLog) -> None:
    record = _run()
    slices = FakeSlices(raw={record.run_id: _rows(5)})

    done = await _reconcile(log, record, slices, FakeFocus(Unavailable("focus_svc is down")))

    assert done.status is RunStatus.FAILED and done.repair_pending and done.error is not None
    assert done.error.reason == "RUN_INTERRUPTED" and done.raw_table_version == 4
    again = await _reconcile(log, done, slices, FakeFocus())
    assert again.status is RunStatus.SUCCEEDED and again.repaired


@pytest.mark.parametrize(
    ("raw", "focus_error", "names"),
    [
        ({NEWER: _rows(5, 60)}, None, NEWER),  # replaced by a newer run
        ({"self": _rows(2), NEWER: _rows(3, 60)}, None, NEWER),  # partly replaced
        ({"self": _rows(5)}, FailedPrecondition("newer run", reason="STALE_RUN"), "a newer run"),  # raced
    ],
)
async def test_a_superseded_run_says_so(
    log: SqliteRunLog, raw: dict[str, RunRows], focus_error: CloudactError | None, names: str
) -> None:
    record = _run()
    slices = FakeSlices(raw={record.run_id if k == "self" else k: v for k, v in raw.items()})

    done = await _reconcile(log, record, slices, FakeFocus(focus_error))

    assert done.status is RunStatus.FAILED and done.error is not None and done.error.reason == "SUPERSEDED"
    assert names in done.error.message and not done.repair_pending


@pytest.mark.parametrize(
    ("raw", "focus", "changes", "reason"),
    [
        ({OLDER: _rows(5, -60)}, {}, {}, "RUN_INTERRUPTED"),  # the raw write never landed
        ({}, {}, {}, "RUN_INTERRUPTED"),  # nothing anywhere
        ({}, {OLDER: _rows(3, -60)}, {"raw_table_version": 4, "raw_rows_written": 5}, "RUN_DATA_GONE"),
    ],
)
async def test_a_run_whose_rows_are_not_in_the_raw_slice_is_failed(
    log: SqliteRunLog, raw: dict[str, RunRows], focus: dict[str, RunRows], changes: dict[str, object], reason: str
) -> None:
    record = replace(_run(), **changes)  # type: ignore[arg-type]
    fake_focus = FakeFocus()

    done = await _reconcile(log, record, FakeSlices(raw=raw, focus=focus), fake_focus)

    assert done.status is RunStatus.FAILED and done.error is not None and done.error.reason == reason
    assert not fake_focus.calls and not done.repair_pending


@pytest.mark.parametrize("owner", [ME, ALIVE])
async def test_a_run_of_a_live_process_is_left_alone(log: SqliteRunLog, owner: str) -> None:
    record = _run(owner=owner)
    slices = FakeSlices(raw={record.run_id: _rows(5)})

    done = await _reconcile(log, record, slices, FakeFocus())

    assert done == record and slices.read == 0
