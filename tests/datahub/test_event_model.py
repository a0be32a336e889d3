"""One event checked on its own: its normalised form, or one precise error per bad field."""

from __future__ import annotations

from datetime import date

import pytest

from cloudact_providers.datahub.events import credential_id_for, validate_event
from tests.datahub.helpers import event


def test_a_good_event_is_normalised_for_the_inbox() -> None:
    checked, problems = validate_event(
        event(
            "e-1",
            usage_date_time="2025-12-01T10:30:00+02:00",
            export_time="2025-12-02 05:30:00.000000 UTC",
            cost=" 12.4500 ",
            currency="eur",
            usage_amount="1e-3",
            labels=[{"key": "team", "value": "web"}],
            metrics=[{"key": "cpu_utilization", "value": 45.2}],
            cost_type="credit",
        )
    )

    assert problems == [] and checked is not None
    record = checked.inbox_record(7)
    assert record["usage_date_time"] == "2025-12-01T08:30:00Z"  # in UTC
    assert record["export_time"] == "2025-12-02T05:30:00Z"
    assert (record["cost"], record["currency"], record["usage_amount"]) == ("12.45", "EUR", "0.001")
    assert record["labels"] == [{"key": "team", "value": "web"}] and record["upload_row"] == 7
    assert record["cost_type"] == "credit" and "project_id" not in record
    assert checked.billing_month == date(2025, 12, 1)


def test_a_date_is_a_day_and_amounts_keep_twelve_places() -> None:
    checked, _ = validate_event(event("e-2", usage_date_time="2025-01-31", cost="-0.1234567890125"))

    assert checked is not None
    assert checked.usage_date_time == "2025-01-31"
    assert checked.cost == "-0.123456789012"  # rounded half to even, as DuckDB casts to DECIMAL(38, 12)


@pytest.mark.parametrize(
    ("changes", "field", "reason"),
    [
        ({"event_id": ""}, "event_id", "Field required"),
        ({"event_id": "a\x00b"}, "event_id", "holds a control character"),
        ({"cloud": None}, "cloud", "Field required"),
        ({"billing_account_id": "x" * 513}, "billing_account_id", "String should have at most 512 characters"),
        ({"usage_date_time": "yesterday"}, "usage_date_time", "not an ISO 8601 date or date-time"),
        ({"usage_date_time": "2025-02-30"}, "usage_date_time", "'2025-02-30' is not a calendar date"),
        ({"usage_date_time": "1999-12-31 23:00:00"}, "usage_date_time", "year 1999 is outside 2000-2100"),
        ({"cost": "12,45"}, "cost", "not a decimal number"),
        ({"cost": "NaN"}, "cost", "not a finite number"),
        ({"cost": "1" * 27}, "cost", "too large: at most 26 digits before the decimal point"),
        ({"currency": "usd$"}, "currency", "not an ISO 4217 currency code"),
        ({"cost_type": "refund"}, "cost_type", "not a cost type"),
        ({"labels": [{"key": "team", "value": "a"}, {"key": "team", "value": "b"}]}, "labels", "key 'team' appears"),
        ({"labels": [{"key": "", "value": "a"}]}, "labels[0].key", "String should have at least 1 character"),
        ({"metrics": [{"key": "cpu", "value": float("inf")}]}, "metrics[0].value", "Input should be a finite number"),
        ({"colour": "blue"}, "colour", "not a field of a cost event"),
        ({"service_description": None}, "service_description", "service_description or service_id is required"),
    ],
)
def test_each_bad_field_is_named_with_its_reason(changes: dict[str, object], field: str, reason: str) -> None:
    checked, problems = validate_event({**event("e-3"), **changes})

    assert checked is None
    assert len(problems) == 1 and problems[0][0] == field and problems[0][1].startswith(reason), problems


def test_every_bad_field_of_an_event_is_named() -> None:
    _, problems = validate_event(event("e-4", cost="abc", currency="XYZ", usage_date_time=""))

    assert sorted(field for field, _ in problems) == ["cost", "currency", "usage_date_time"]


def test_an_orgs_credential_id_is_its_own_and_stable() -> None:
    assert credential_id_for("acme") == credential_id_for("acme") != credential_id_for("globex")
