"""What is due: a credential's schedule and its recorded runs in, one decision out. Pure, no I/O.

Due is decided from the run log, never from the memory of a process, so a scheduler that was down
(or a cron job that did not fire) catches up at its next pass, and any number of passes agree:

- the slot that matters is the schedule's most recent one at or before ``now`` (slots before the
  credential existed do not count);
- it is done when a SUCCEEDED run of the credential covers it (started, or was scheduled, at or
  after it and re-read its billing month: ``cloudact_shared.schedule.run_covers_slot``);
- a RUNNING run means "not now": runs of one credential never overlap;
- a slot whose scheduled runs failed is retried with a doubling back-off, at most ``max_attempts``
  times, then left to the next slot.

Missed slots are caught up by one run: every run re-reads whole billing months, so the run for the
latest slot re-reads the months of every slot missed since the last success (and at least the
pipeline's revision window: the current month and the one before, which providers restate).
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from cloudact_shared.gen.cloudact.pipeline.v1 import pipeline_service_pb2 as pipe_pb
from cloudact_shared.schedule import Schedule, run_covers_slot

MAX_RUN_MONTHS = 36
"""The most billing months one run may cover (ingest_svc refuses more)."""


class Verdict(enum.Enum):
    """What a pass does with a credential."""

    DUE = "due"
    NOT_DUE = "not due"
    OFF = "schedule off"
    IN_PROGRESS = "run in progress"
    BACKING_OFF = "backing off"
    GAVE_UP = "gave up until the next slot"


@dataclass(frozen=True)
class RecordedRun:
    """What the due logic needs of a run in the run log."""

    run_id: str
    status: int
    """A ``pipe_pb.RunStatus`` value."""
    started_at: datetime
    finished_at: datetime | None
    scheduled_slot: datetime | None
    billing_periods: tuple[date, ...]

    @classmethod
    def of(cls, run: pipe_pb.Run) -> RecordedRun:
        """The fields of a ``Run`` from ListRuns."""
        return cls(
            run_id=run.run_id,
            status=run.status,
            started_at=run.started_at.ToDatetime(tzinfo=UTC),
            finished_at=run.finished_at.ToDatetime(tzinfo=UTC) if run.HasField("finished_at") else None,
            scheduled_slot=run.scheduled_slot.ToDatetime(tzinfo=UTC) if run.HasField("scheduled_slot") else None,
            billing_periods=tuple(date.fromisoformat(f"{p}-01") for p in run.billing_periods),
        )

    @property
    def succeeded(self) -> bool:
        return self.status == pipe_pb.RUN_STATUS_SUCCEEDED

    @property
    def running(self) -> bool:
        return self.status == pipe_pb.RUN_STATUS_RUNNING

    @property
    def failed(self) -> bool:
        return self.status == pipe_pb.RUN_STATUS_FAILED


@dataclass(frozen=True)
class Decision:
    """A pass's decision for one credential."""

    credential_id: str
    verdict: Verdict
    slot: datetime | None = None
    """The slot the decision is about (the latest one at or before now)."""
    periods: tuple[date, ...] = ()
    """When due: the billing months (first days) the run re-reads, oldest first."""
    detail: str = ""
    """Why, for people: the run in progress, the run that did the slot, when the next try is..."""


@dataclass(frozen=True)
class RetryPolicy:
    """How a slot whose scheduled runs failed is tried again across passes."""

    first_delay: timedelta = timedelta(minutes=5)
    max_attempts: int = 4


def decide(
    credential_id: str,
    schedule: Schedule,
    created_at: datetime,
    runs: Sequence[RecordedRun],
    now: datetime,
    *,
    window_months: int,
    retry: RetryPolicy | None = None,
) -> Decision:
    """Whether the credential's pipeline is due at ``now``, and which months its run re-reads.

    Args:
        runs: The credential's recorded runs, newest first, back to its latest success at least.
        window_months: The pipeline's revision window (months re-read by every run, ending with now's).
        retry: Back-off for a slot whose scheduled runs failed.
    """
    retry = retry or RetryPolicy()
    slot = schedule.latest_slot(now)
    if schedule.trigger is None:
        return Decision(credential_id, Verdict.OFF, detail="manual runs only")
    if slot is None or slot < created_at:
        following = schedule.next_slot(max(now, created_at))
        return Decision(credential_id, Verdict.NOT_DUE, detail=f"first slot {_when(following)}")
    if running := next((r for r in runs if r.running), None):
        return Decision(credential_id, Verdict.IN_PROGRESS, slot, detail=f"run {running.run_id}")
    successes = [r for r in runs if r.succeeded]
    if done := next(
        (r for r in successes if run_covers_slot(r.started_at, r.scheduled_slot, r.billing_periods, slot)), None
    ):
        return Decision(credential_id, Verdict.NOT_DUE, slot, detail=f"done by run {done.run_id}")
    failures = [r for r in runs if r.failed and r.scheduled_slot == slot]
    if len(failures) >= retry.max_attempts:
        return Decision(credential_id, Verdict.GAVE_UP, slot, detail=f"{len(failures)} failed runs for this slot")
    if failures:
        last = max(failures, key=lambda r: r.finished_at or r.started_at)
        retry_at = (last.finished_at or last.started_at) + retry.first_delay * 2 ** (len(failures) - 1)
        if now < retry_at:
            return Decision(
                credential_id, Verdict.BACKING_OFF, slot, detail=f"run {last.run_id} failed; next try {_when(retry_at)}"
            )
    covered_until = _coverage(successes[0]) if successes else created_at
    first_missed = schedule.next_slot(covered_until) or slot
    periods = _months(first_missed, now, window_months)
    missed = "" if first_missed >= slot else f", catching up since {_when(first_missed)}"
    return Decision(credential_id, Verdict.DUE, slot, periods, detail=f"slot {_when(slot)}{missed}")


def _coverage(run: RecordedRun) -> datetime:
    return run.started_at if run.scheduled_slot is None else max(run.started_at, run.scheduled_slot)


def _months(first_missed: datetime, now: datetime, window_months: int) -> tuple[date, ...]:
    """The months from the earlier of the first missed slot's and the revision window's first, to now's."""
    last = now.year * 12 + now.month - 1
    first = min(first_missed.year * 12 + first_missed.month - 1, last - max(window_months, 1) + 1)
    first = max(first, last - MAX_RUN_MONTHS + 1)
    return tuple(date(i // 12, i % 12 + 1, 1) for i in range(first, last + 1))


def _when(value: datetime | None) -> str:
    return "never" if value is None else f"{value:%Y-%m-%d %H:%M} UTC"
