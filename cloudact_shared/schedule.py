"""Credential schedules: parsing a spec, the default spread over the day, the slots a schedule fires at.

A spec is ``daily@HH:MM``, a five-field cron expression whose minute is one number (so at most hourly:
every run re-reads whole billing months, more often would only repeat the same work), or ``off``.
Every time is UTC. credential_svc validates specs and derives the default; ingest_svc decides with
``run_covers_slot`` whether a recorded run already did a slot's work; the scheduler asks a
``Schedule`` for its slots. APScheduler's ``CronTrigger`` does the calendar arithmetic.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from apscheduler.triggers.cron import CronTrigger

from cloudact_shared.errors import FieldViolation, InvalidArgument
from cloudact_shared.naming import echo

OFF = "off"
MAX_SPEC_LENGTH = 100
INVALID_SCHEDULE = "INVALID_SCHEDULE"
_DAILY = re.compile(r"daily@([01]\d|2[0-3]):([0-5]\d)")
_MINUTES_PER_DAY = 24 * 60
_ONE_SECOND = timedelta(seconds=1)
# Widening windows in which to look back for a schedule's latest slot: a daily or hourly schedule is
# found in the first, a monthly one by the third, a 29 February one by the last.
_LOOKBACKS = (timedelta(days=1), timedelta(days=8), timedelta(days=32), timedelta(days=367), timedelta(days=1462))
# Standard cron numbers days of the week from Sunday (0 and 7); APScheduler from Monday: names are unambiguous.
_WEEKDAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True)
class Schedule:
    """A parsed schedule: its normal spec, whether it is the derived default, and its trigger."""

    spec: str
    is_default: bool = False
    trigger: CronTrigger | None = field(default=None, compare=False, repr=False)
    """None for ``off``."""

    def next_slot(self, after: datetime) -> datetime | None:
        """The first slot strictly after ``after`` (None for ``off``)."""
        if self.trigger is None:
            return None
        fire: datetime | None = self.trigger.get_next_fire_time(None, after + timedelta(microseconds=1))
        return None if fire is None else fire.astimezone(UTC)

    def latest_slot(self, now: datetime) -> datetime | None:
        """The most recent slot at or before ``now`` (None for ``off``, or one not firing for 4 years)."""
        if self.trigger is None:
            return None
        for lookback in _LOOKBACKS:
            slot = self.next_slot(now - lookback - _ONE_SECOND)
            if slot is None or slot > now:
                continue
            while (following := self.next_slot(slot)) is not None and following <= now:
                slot = following
            return slot
        return None


def default_spec(credential_id: str) -> str:
    """The default schedule of a credential: daily, at a minute of the day its id hashes to.

    Stable for a credential (any spelling of its UUID), and spread over the day across credentials,
    so a deployment's runs do not all start at midnight.
    """
    digest = hashlib.sha256(_canonical(credential_id).encode()).digest()
    minute = int.from_bytes(digest[:8], "big") % _MINUTES_PER_DAY
    return f"daily@{minute // 60:02d}:{minute % 60:02d}"


def default_schedule(credential_id: str) -> Schedule:
    """``default_spec`` parsed, marked as the default."""
    parsed = parse_schedule(default_spec(credential_id))
    return Schedule(parsed.spec, True, parsed.trigger)


def schedule_of(credential_id: str, spec: str | None) -> Schedule:
    """A credential's schedule: its stored spec, or the default when it has none."""
    return default_schedule(credential_id) if not spec else parse_schedule(spec)


def parse_schedule(text: str, field_name: str = "schedule") -> Schedule:
    """Parses and normalises a schedule spec.

    Raises:
        InvalidArgument: ``INVALID_SCHEDULE``, with a field violation on ``field_name`` saying what
            is accepted, when ``text`` is not a spec.
    """
    spec = " ".join(text.split())
    if len(spec) > MAX_SPEC_LENGTH:
        raise _invalid(text, field_name, f"at most {MAX_SPEC_LENGTH} characters")
    if spec.lower() == OFF:
        return Schedule(OFF)
    if spec.lower().startswith("daily@"):
        match = _DAILY.fullmatch(spec.lower())
        if match is None:
            raise _invalid(text, field_name, "a daily schedule is daily@HH:MM, 00:00 to 23:59 (UTC)")
        hour, minute = int(match[1]), int(match[2])
        return Schedule(spec.lower(), trigger=CronTrigger(hour=hour, minute=minute, timezone=UTC))
    fields = spec.split(" ")
    if len(fields) != 5:
        raise _invalid(
            text,
            field_name,
            'expected daily@HH:MM, "off", or a cron expression of five fields (minute hour day month weekday)',
        )
    if not (fields[0].isdigit() and int(fields[0]) < 60):
        raise _invalid(text, field_name, "the minute must be one number from 0 to 59: a schedule runs at most hourly")
    fields[4] = _weekday_names(fields[4])
    try:
        trigger = CronTrigger.from_crontab(" ".join(fields), timezone=UTC)
    except ValueError as exc:
        raise _invalid(text, field_name, f"not a valid cron expression: {exc}") from None
    schedule = Schedule(spec, trigger=trigger)
    if (
        schedule.next_slot(datetime(2000, 1, 1, tzinfo=UTC)) is None
        or schedule.latest_slot(datetime(2100, 1, 1, tzinfo=UTC)) is None
    ):
        raise _invalid(text, field_name, "the cron expression never fires")
    return schedule


def run_covers_slot(
    started_at: datetime, scheduled_slot: datetime | None, billing_periods: Iterable[date], slot: datetime
) -> bool:
    """Whether a run (its status checked by the caller) did ``slot``'s work.

    It did when it started at or after the slot, or was started for the slot or a later one (a
    scheduler running behind, or one given a clock), and it re-read the slot's billing month.
    """
    when = started_at if scheduled_slot is None else max(started_at, scheduled_slot)
    return when >= slot and date(slot.year, slot.month, 1) in set(billing_periods)


def _weekday_names(text: str) -> str:
    return re.sub(r"\d+", lambda m: _WEEKDAYS[int(m[0])] if int(m[0]) < len(_WEEKDAYS) else m[0], text)


def _canonical(credential_id: str) -> str:
    try:
        return str(uuid.UUID(credential_id))
    except ValueError:
        return credential_id


def _invalid(text: str, field_name: str, why: str) -> InvalidArgument:
    return InvalidArgument(
        f"schedule {echo(text)} is not valid: {why}",
        reason=INVALID_SCHEDULE,
        violations=[FieldViolation(field_name, why)],
    )
