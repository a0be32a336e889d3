"""What is due: schedule specs, the default spread over the day, and ``decide`` over recorded runs."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

import pytest

from cloudact_cli.scheduling.due import RecordedRun, RetryPolicy, Verdict, decide
from cloudact_shared.errors import InvalidArgument
from cloudact_shared.gen.cloudact.pipeline.v1 import pipeline_service_pb2 as pipe_pb
from cloudact_shared.schedule import default_schedule, default_spec, parse_schedule, run_covers_slot, schedule_of

CREDENTIAL = "57175a76-7de3-4e8a-9c6f-0b6f2f1f3f11"
CREATED = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
DAILY = parse_schedule("daily@02:30")


def _at(day: str, time: str = "03:00") -> datetime:
    return datetime.fromisoformat(f"{day}T{time}:00+00:00")


def _run(
    status: int, started: datetime, *, slot: datetime | None = None, months: tuple[str, ...] = ("2026-11", "2026-12")
) -> RecordedRun:
    return RecordedRun(
        run_id=str(uuid.uuid4()),
        status=status,
        started_at=started,
        finished_at=started + timedelta(minutes=2),
        scheduled_slot=slot,
        billing_periods=tuple(date.fromisoformat(f"{m}-01") for m in months),
    )


def test_the_default_time_is_stable_per_credential_and_spread_over_the_day() -> None:
    assert default_spec(CREDENTIAL) == default_spec(CREDENTIAL.upper()) == default_spec(CREDENTIAL.replace("-", ""))
    assert default_schedule(CREDENTIAL).is_default
    assert schedule_of(CREDENTIAL, None) == default_schedule(CREDENTIAL)
    times = {default_spec(str(uuid.UUID(int=n * 7919 + 1))) for n in range(300)}
    assert all(t.startswith("daily@") for t in times)
    hours = {t[6:8] for t in times}
    assert len(times) > 200, "300 credentials should get (mostly) different minutes"
    assert len(hours) == 24, "every hour of the day gets some credentials"


def test_a_custom_schedule_gives_its_latest_and_next_slots() -> None:
    now = _at("2026-12-05", "01:00")  # a Saturday
    assert DAILY.latest_slot(now) == _at("2026-12-04", "02:30")
    assert DAILY.next_slot(now) == _at("2026-12-05", "02:30")
    assert DAILY.latest_slot(_at("2026-12-05", "02:30")) == _at("2026-12-05", "02:30")
    weekdays = parse_schedule("15  */6 * * 1-5")  # standard cron: 1-5 is Monday to Friday
    assert weekdays.spec == "15 */6 * * 1-5"
    assert weekdays.latest_slot(now) == _at("2026-12-04", "18:15")
    assert weekdays.next_slot(now) == _at("2026-12-07", "00:15")
    sundays = parse_schedule("0 4 * * 0")
    assert sundays.latest_slot(now) == _at("2026-11-29", "04:00")
    assert parse_schedule("0 3 1 * *").latest_slot(now) == _at("2026-12-01", "03:00")
    off = parse_schedule("OFF")
    assert off.spec == "off" and off.latest_slot(now) is None and off.next_slot(now) is None


@pytest.mark.parametrize(
    ("spec", "says"),
    [
        ("daily@25:00", "daily@HH:MM"),
        ("daily at 2", "daily@HH:MM"),
        ("* * * * *", "at most hourly"),
        ("*/5 1 * * *", "at most hourly"),
        ("hourly", "five fields"),
        ("0 0 31 2 *", "never fires"),
        ("0 25 * * *", "not a valid cron expression"),
        ("0 " * 60, "at most 100 characters"),
    ],
)
def test_an_invalid_schedule_is_refused_with_a_clear_message(spec: str, says: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        parse_schedule(spec)
    assert caught.value.reason == "INVALID_SCHEDULE"
    assert says in caught.value.message
    assert [v.field for v in caught.value.violations] == ["schedule"]


def test_slots_before_the_credential_existed_are_not_due() -> None:
    decision = decide(CREDENTIAL, DAILY, CREATED, [], _at("2026-11-21", "01:00"), window_months=2)
    assert decision.verdict is Verdict.NOT_DUE
    assert "2026-11-21 02:30" in decision.detail
    decision = decide(CREDENTIAL, DAILY, CREATED, [], _at("2026-11-21", "02:30"), window_months=2)
    assert decision.verdict is Verdict.DUE
    assert decision.slot == _at("2026-11-21", "02:30")
    assert decision.periods == (date(2026, 10, 1), date(2026, 11, 1))


def test_a_successful_run_covering_the_slot_makes_it_not_due_and_a_failed_one_does_not() -> None:
    now = _at("2026-12-05")
    slot = _at("2026-12-05", "02:30")
    done = _run(pipe_pb.RUN_STATUS_SUCCEEDED, _at("2026-12-05", "02:31"), slot=slot)
    assert decide(CREDENTIAL, DAILY, CREATED, [done], now, window_months=2).verdict is Verdict.NOT_DUE
    # A run by hand after the slot does its work too, if it re-read the slot's month.
    manual = _run(pipe_pb.RUN_STATUS_SUCCEEDED, _at("2026-12-05", "02:40"))
    assert decide(CREDENTIAL, DAILY, CREATED, [manual], now, window_months=2).verdict is Verdict.NOT_DUE
    old_month = _run(pipe_pb.RUN_STATUS_SUCCEEDED, _at("2026-12-05", "02:40"), months=("2023-11",))
    assert decide(CREDENTIAL, DAILY, CREATED, [old_month], now, window_months=2).verdict is Verdict.DUE
    assert not run_covers_slot(_at("2026-12-05", "02:29"), None, [date(2026, 12, 1)], slot)
    running = _run(pipe_pb.RUN_STATUS_RUNNING, _at("2026-12-04", "02:31"))
    assert decide(CREDENTIAL, DAILY, CREATED, [running], now, window_months=2).verdict is Verdict.IN_PROGRESS


def test_failed_runs_of_a_slot_are_retried_with_a_doubling_back_off_then_left_to_the_next_slot() -> None:
    slot = _at("2026-12-05", "02:30")
    retry = RetryPolicy(first_delay=timedelta(minutes=10), max_attempts=3)
    first = _run(pipe_pb.RUN_STATUS_FAILED, _at("2026-12-05", "02:31"), slot=slot)  # finished 02:33
    runs = [first]
    assert decide(
        CREDENTIAL, DAILY, CREATED, runs, _at("2026-12-05", "02:40"), window_months=2, retry=retry
    ).verdict is (Verdict.BACKING_OFF)
    assert decide(
        CREDENTIAL, DAILY, CREATED, runs, _at("2026-12-05", "02:43"), window_months=2, retry=retry
    ).verdict is (Verdict.DUE)
    second = _run(pipe_pb.RUN_STATUS_FAILED, _at("2026-12-05", "02:43"), slot=slot)  # finished 02:45: wait 20 min
    runs = [second, first]
    backing = decide(CREDENTIAL, DAILY, CREATED, runs, _at("2026-12-05", "03:04"), window_months=2, retry=retry)
    assert backing.verdict is Verdict.BACKING_OFF and "03:05" in backing.detail
    third = _run(pipe_pb.RUN_STATUS_FAILED, _at("2026-12-05", "03:05"), slot=slot)
    runs = [third, second, first]
    later = _at("2026-12-05", "23:00")
    assert decide(CREDENTIAL, DAILY, CREATED, runs, later, window_months=2, retry=retry).verdict is Verdict.GAVE_UP
    # The next slot starts afresh.
    tomorrow = _at("2026-12-06", "02:30")
    assert decide(CREDENTIAL, DAILY, CREATED, runs, tomorrow, window_months=2, retry=retry).verdict is Verdict.DUE


def test_missed_slots_are_caught_up_by_one_run_re_reading_their_months() -> None:
    last = _run(pipe_pb.RUN_STATUS_SUCCEEDED, _at("2026-12-04", "02:31"), slot=_at("2026-12-04", "02:30"))
    # Down on 5 December: the 6 December pass's run covers the missed day (same months).
    decision = decide(CREDENTIAL, DAILY, CREATED, [last], _at("2026-12-06", "03:00"), window_months=2)
    assert decision.verdict is Verdict.DUE
    assert decision.slot == _at("2026-12-06", "02:30")
    assert "catching up since 2026-12-05 02:30" in decision.detail
    assert decision.periods == (date(2026, 11, 1), date(2026, 12, 1))
    # Down until February: the run re-reads December too, beyond the two-month revision window.
    decision = decide(CREDENTIAL, DAILY, CREATED, [last], _at("2027-02-02", "03:00"), window_months=2)
    assert decision.periods == (date(2026, 12, 1), date(2027, 1, 1), date(2027, 2, 1))
    # Never more than a run may cover.
    decision = decide(CREDENTIAL, DAILY, CREATED, [last], _at("2030-06-01", "03:00"), window_months=2)
    assert len(decision.periods) == 36 and decision.periods[-1] == date(2030, 6, 1)


def test_an_off_schedule_is_never_due() -> None:
    decision = decide(CREDENTIAL, parse_schedule("off"), CREATED, [], _at("2026-12-05"), window_months=2)
    assert decision.verdict is Verdict.OFF
