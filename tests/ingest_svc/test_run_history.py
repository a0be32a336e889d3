"""The run log in SQLite and GetRun / ListRuns over it: round trips, org scoping, newest-first pages."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from cloudact_shared.errors import InvalidArgument, NotFound
from cloudact_shared.lineage import Lineage
from ingest_svc.adapters.runs import SqliteRunLog
from ingest_svc.model import RunError, RunRecord, RunStatus, Stage
from ingest_svc.runs import MAX_PAGE_SIZE, RunHistory

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
CREDENTIALS = ("11111111-1111-4111-8111-111111111111", "22222222-2222-4222-8222-222222222222")


def _record(org: str, credential_id: str, started: datetime, **changes: object) -> RunRecord:
    lineage = Lineage("aws/cost/billing", credential_id, str(uuid.uuid4()), started, started.date())
    record = RunRecord(
        org_slug=org,
        provider="aws",
        lineage=lineage,
        billing_periods=(date(2025, 1, 1), date(2025, 2, 1)),
        status=RunStatus.RUNNING,
        stage=Stage.RESOLVING_CREDENTIAL,
        owner=uuid.uuid4().hex,
    )
    return replace(record, **changes)  # type: ignore[arg-type]


@pytest.fixture
async def log(tmp_path: Path) -> AsyncIterator[SqliteRunLog]:
    runs = await SqliteRunLog.open(tmp_path / "runs" / "runs.sqlite")
    yield runs
    await runs.close()


async def test_a_record_round_trips_with_every_field(log: SqliteRunLog) -> None:
    record = _record(
        "acme",
        CREDENTIALS[0],
        T0,
        status=RunStatus.FAILED,
        stage=Stage.CONVERTING_TO_FOCUS,
        error=RunError("UNAVAILABLE", "UNAVAILABLE", "focus_svc is down"),
        files_read=2,
        rows_read=10,
        raw_rows_written=9,
        rows_quarantined=1,
        quarantine={"bad cost": 1},
        raw_table_version=0,
        finished_at=T0 + timedelta(seconds=3),
        repair_pending=True,
    )

    await log.save(record)

    assert await log.get("acme", record.run_id) == record
    assert [r.run_id for r in await log.unresolved()] == [record.run_id]
    await log.save(replace(record, status=RunStatus.SUCCEEDED, repair_pending=False, repaired=True))
    assert await log.unresolved() == []


async def test_a_run_is_only_found_in_its_own_org(log: SqliteRunLog) -> None:
    record = _record("acme", CREDENTIALS[0], T0)
    await log.save(record)
    history = RunHistory(log)

    assert (await history.get("acme", record.run_id.upper())).run_id == record.run_id
    with pytest.raises(NotFound):
        await history.get("globex", record.run_id)
    assert (await history.list("globex")).runs == ()
    with pytest.raises(InvalidArgument):
        await history.get("acme", "../etc")


async def test_pages_are_newest_first_and_never_repeat_or_skip(log: SqliteRunLog) -> None:
    saved = [_record("acme", CREDENTIALS[i % 2], T0 + timedelta(minutes=i)) for i in range(7)]
    twin = _record("acme", CREDENTIALS[0], saved[3].started_at)  # same start time: the run id decides
    for record in [*saved, twin, _record("globex", CREDENTIALS[0], T0)]:
        await log.save(record)
    history = RunHistory(log)

    seen, token = [], ""
    while True:
        page = await history.list("acme", page_size=3, page_token=token)
        seen += [r.run_id for r in page.runs]
        if not (token := page.next_page_token):
            break

    expected = sorted([*saved, twin], key=lambda r: (r.started_at, r.run_id), reverse=True)
    assert seen == [r.run_id for r in expected]
    filtered = await history.list("acme", credential_id=CREDENTIALS[1].upper().replace("-", ""))
    assert [r.run_id for r in filtered.runs] == [r.run_id for r in expected if r.credential_id == CREDENTIALS[1]]


async def test_page_size_and_token_are_checked(log: SqliteRunLog) -> None:
    for i in range(3):
        await log.save(_record("acme", CREDENTIALS[0], T0 + timedelta(minutes=i)))
    history = RunHistory(log)
    token = (await history.list("acme", page_size=1)).next_page_token

    with pytest.raises(InvalidArgument):
        await history.list("acme", page_size=-1)
    for org, credential, bad in [
        ("acme", CREDENTIALS[0], token),  # another filter
        ("acme", "", token + "x"),
        ("acme", "", "not a token"),
    ]:
        with pytest.raises(InvalidArgument) as caught:
            await history.list(org, credential_id=credential, page_token=bad)
        assert caught.value.reason == "INVALID_PAGE_TOKEN"
    assert len((await history.list("acme", page_size=10 * MAX_PAGE_SIZE)).runs) == 3
