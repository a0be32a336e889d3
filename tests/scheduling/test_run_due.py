"""``cloudact pipeline run-due`` against the four services on loopback: idempotent, never starting a
slot's run twice (passes at once, in one process or two), and catching up missed slots."""

from __future__ import annotations

import asyncio
import os
import sys
from datetime import UTC, date, datetime, timedelta

from cloudact_cli.scheduling.due import Verdict
from cloudact_cli.scheduling.run_due import Outcome
from cloudact_cli.supervisor import service_environment
from cloudact_shared.gen.cloudact.pipeline.v1 import pipeline_service_pb2 as pipe_pb
from tests.channels import org_token
from tests.scheduling.conftest import ORG, Scheduled, slot_day


def _slot(run: pipe_pb.Run) -> datetime:
    assert run.HasField("scheduled_slot"), f"run {run.run_id} is not a scheduled run"
    return run.scheduled_slot.ToDatetime(tzinfo=UTC)


def _month(at: datetime) -> str:
    return f"{at:%Y-%m}"


async def test_run_due_twice_in_a_row_starts_nothing_the_second_time(scheduled: Scheduled) -> None:
    credential_id = await scheduled.credential()
    now = slot_day(1)

    first = await scheduled.run_due(now)
    assert [(s.credential_id, s.outcome) for s in first.started] == [(credential_id, Outcome.SUCCEEDED)]
    runs = await scheduled.runs(credential_id)
    assert len(runs) == 1 and runs[0].status == pipe_pb.RUN_STATUS_SUCCEEDED
    assert _slot(runs[0]) == now - timedelta(minutes=30)
    assert runs[0].billing_periods[-1] == _month(now)

    for later in (now, now + timedelta(hours=3)):
        again = await scheduled.run_due(later)
        assert again.started == ()
        (decision,) = again.decisions
        assert decision.verdict is Verdict.NOT_DUE
        assert runs[0].run_id in decision.detail
    assert len(await scheduled.runs(credential_id)) == 1


async def test_concurrent_passes_start_each_due_run_once(scheduled: Scheduled) -> None:
    credentials = [await scheduled.credential("sched-a"), await scheduled.credential("sched-b")]
    settings = scheduled.services.settings
    env = {
        **os.environ,
        **service_environment(settings),
        "CLOUDACT_TOKEN": org_token(settings.tokens_path, ORG, "operator"),
    }
    now = slot_day(1)
    # Two `cloudact pipeline run-due` processes at once.
    command = [sys.executable, "-m", "cloudact_cli.main", "pipeline", "run-due", "--org", ORG]
    command += ["--as-of", now.strftime("%Y-%m-%dT%H:%M:%S")]
    processes = [
        await asyncio.create_subprocess_exec(
            *command, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
        )
        for _ in range(2)
    ]
    outputs = await asyncio.wait_for(asyncio.gather(*(p.communicate() for p in processes)), timeout=120)
    for process, (out, err) in zip(processes, outputs, strict=True):
        assert process.returncode == 0, (out.decode(), err.decode())
    for credential_id in credentials:
        (run,) = await scheduled.runs(credential_id)
        assert run.status == pipe_pb.RUN_STATUS_SUCCEEDED
        assert _slot(run) == now - timedelta(minutes=30)

    # Three passes at once in one process, for the next day's slot.
    tomorrow = slot_day(2)
    reports = await asyncio.gather(*(scheduled.run_due(tomorrow) for _ in range(3)))
    started = [s for report in reports for s in report.started if s.outcome is not Outcome.TAKEN]
    assert sorted(s.credential_id for s in started) == sorted(credentials)
    assert all(s.outcome is Outcome.SUCCEEDED for s in started)
    for credential_id in credentials:
        runs = await scheduled.runs(credential_id)
        assert [_slot(r) for r in runs] == [tomorrow - timedelta(minutes=30), now - timedelta(minutes=30)]


async def test_a_pass_after_a_missed_day_runs_the_missed_work_once(scheduled: Scheduled) -> None:
    credential_id = await scheduled.credential()
    first = await scheduled.run_due(slot_day(1))
    assert [s.outcome for s in first.started] == [Outcome.SUCCEEDED]

    # Nothing ran on day 2 (the scheduler was down); the day 3 pass catches up.
    day_3 = slot_day(3)
    missed = day_3 - timedelta(days=1, minutes=30)
    report = await scheduled.run_due(day_3)
    (decision,) = report.decisions
    assert decision.verdict is Verdict.DUE
    assert f"catching up since {missed:%Y-%m-%d %H:%M}" in decision.detail
    (started,) = report.started
    assert started.outcome is Outcome.SUCCEEDED
    run = (await scheduled.runs(credential_id))[0]
    assert run.run_id == started.run_id
    assert _slot(run) == day_3 - timedelta(minutes=30)
    assert _month(missed) in run.billing_periods and _month(day_3) in run.billing_periods
    assert (await scheduled.run_due(day_3)).started == ()
    assert len(await scheduled.runs(credential_id)) == 2


async def test_a_pass_after_two_months_down_re_reads_every_missed_month(scheduled: Scheduled) -> None:
    credential_id = await scheduled.credential()
    await scheduled.run_due(slot_day(1))
    back = slot_day(66)
    report = await scheduled.run_due(back)
    (started,) = report.started
    assert started.outcome is Outcome.SUCCEEDED, started.error
    run = (await scheduled.runs(credential_id))[0]
    first_missed = slot_day(2)
    first, last = first_missed.year * 12 + first_missed.month - 1, back.year * 12 + back.month - 1
    expected = [f"{date(i // 12, i % 12 + 1, 1):%Y-%m}" for i in range(first, last + 1)]
    assert len(expected) >= 3, "two months down spans three months at least"
    assert list(run.billing_periods) == expected


async def test_a_credential_with_its_schedule_off_is_never_run(scheduled: Scheduled) -> None:
    await scheduled.credential(schedule="off")
    report = await scheduled.run_due(slot_day(5))
    assert [d.verdict for d in report.decisions] == [Verdict.OFF]
    assert report.started == ()


async def test_run_due_without_a_token_or_with_a_viewer_token_says_why(scheduled: Scheduled) -> None:
    await scheduled.credential()
    settings = scheduled.services.settings
    env = {**os.environ, **service_environment(settings)}
    env.pop("CLOUDACT_TOKEN", None)
    command = [sys.executable, "-m", "cloudact_cli.main", "pipeline", "run-due", "--org", ORG]
    process = await asyncio.create_subprocess_exec(*command, env=env, stderr=asyncio.subprocess.PIPE)
    _, err = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode == 2 and b"CLOUDACT_TOKEN" in err
    viewer = org_token(settings.tokens_path, ORG, "viewer")
    process = await asyncio.create_subprocess_exec(
        *command,
        "--as-of",
        slot_day(1).strftime("%Y-%m-%dT%H:%M:%S"),
        env={**env, "CLOUDACT_TOKEN": viewer},
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode == 1 and b"PERMISSION_DENIED" in err, err.decode()
    assert viewer.encode() not in err
