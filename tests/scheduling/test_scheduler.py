"""The scheduler of ``cloudact serve``: APScheduler passes that run due pipelines, catch up a missed
day, never overlap a credential's runs, and stop gracefully on SIGTERM."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import sys
from datetime import UTC, datetime, timedelta

from cloudact_cli.scheduling.run_due import Outcome
from cloudact_cli.scheduling.scheduler import PipelineScheduler
from cloudact_cli.supervisor import service_environment
from cloudact_shared.gen.cloudact.pipeline.v1 import pipeline_service_pb2 as pipe_pb
from cloudact_shared.readiness import await_until
from tests.scheduling.conftest import ORG, Scheduled, slot_day


def _succeeded(runs: list[pipe_pb.Run]) -> list[pipe_pb.Run]:
    return [r for r in runs if r.status == pipe_pb.RUN_STATUS_SUCCEEDED]


async def test_the_scheduler_runs_due_pipelines_and_catches_up_a_missed_day(scheduled: Scheduled) -> None:
    credential_id = await scheduled.credential()
    clock = [slot_day(1)]
    lines: list[str] = []
    scheduler = PipelineScheduler([ORG], interval_seconds=0.3, clock=lambda: clock[0], log=lines.append)

    target = {"runs": 1, "passes": 0}

    async def succeeded() -> list[pipe_pb.Run] | None:
        runs = await scheduled.runs(credential_id)
        return runs if len(_succeeded(runs)) >= target["runs"] else None

    async def passes() -> bool:
        return len(scheduler.reports) >= target["passes"]

    await scheduler.start(scheduled.services.settings)
    try:
        await await_until(succeeded, what="the first scheduled run", timeout=60)
        # More passes at the same clock start nothing: the slot's run is in the run log.
        target["passes"] = len(scheduler.reports) + 3
        await await_until(passes, what="three more passes", timeout=30)
        assert len(await scheduled.runs(credential_id)) == 1

        clock[0] = slot_day(3)  # day 2 was missed: the scheduler was down
        target["runs"] = 2
        await await_until(succeeded, what="the catch-up run", timeout=60)
        target["passes"] = len(scheduler.reports) + 2
        await await_until(passes, what="two more passes", timeout=30)
    finally:
        await scheduler.stop()
    runs = await scheduled.runs(credential_id)
    assert len(runs) == 2, "one run per slot, and the missed day's work was done by the day 3 run"
    newest, oldest = runs
    assert newest.scheduled_slot.ToDatetime(tzinfo=UTC) == slot_day(3, minutes_after=0)
    missed_month = f"{slot_day(2):%Y-%m}"
    assert missed_month in newest.billing_periods
    # Runs of a credential never overlap.
    assert newest.started_at.ToDatetime() >= oldest.finished_at.ToDatetime()
    catch_up = [s for r in scheduler.reports for s in r.started if s.slot == slot_day(3, minutes_after=0)]
    assert [s.outcome for s in catch_up] == [Outcome.SUCCEEDED]
    assert any("catching up since" in d.detail for r in scheduler.reports for d in r.decisions)


async def test_serve_runs_a_due_pipeline_with_its_scheduler_and_stops_on_sigterm(scheduled: Scheduled) -> None:
    settings = scheduled.services.settings
    now = datetime.now(UTC)
    credential_id = await scheduled.credential(schedule=f"daily@{now - timedelta(minutes=5):%H:%M}")
    # Created two days ago: the slot five minutes ago is due (slots before a credential existed are not).
    with sqlite3.connect(settings.data_dir / "credentials.sqlite") as db:
        db.execute(
            "UPDATE credentials SET created_at = ? WHERE credential_id = ?",
            ((now - timedelta(days=2)).isoformat(timespec="microseconds"), credential_id),
        )
    env = {
        **os.environ,
        **service_environment(settings),
        "CLOUDACT_SCHEDULER_ORGS": ORG,
        "CLOUDACT_SCHEDULER_INTERVAL_SECONDS": "0.5",
    }
    env.pop("CLOUDACT_TOKEN", None)  # serve mints its own operator token with the deployment's key
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "cloudact_cli.main",
        "serve",
        "--only",
        "scheduler",
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:

        async def run_done() -> pipe_pb.Run | None:
            assert process.returncode is None, "cloudact serve exited early"
            done = _succeeded(await scheduled.runs(credential_id))
            return done[0] if done else None

        run = await await_until(run_done, what="the scheduled run", timeout=90, interval=0.3)
        assert run.HasField("scheduled_slot")
        process.send_signal(signal.SIGTERM)
        out, _ = await asyncio.wait_for(process.communicate(), timeout=30)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    text = out.decode()
    assert process.returncode == 0, text
    assert "scheduler: running due pipelines of acme" in text
    assert f"credential {credential_id}: succeeded {run.run_id}" in text
    assert "scheduler stopped" in text
    assert "eyJ" not in text, "a token was printed"
    assert len(await scheduled.runs(credential_id)) == 1
