"""Events files -> raw rows -> FOCUS rows with ``cloudact convert``: the format and the mapping."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from cloudact_cli.convert import convert_files
from tests.conftest import DATA
from tests.datahub.helpers import event

SAMPLE = DATA / "datahub" / "custom_events.csv"


def _convert(tmp_path: Path, *inputs: Path) -> tuple[list[dict[str, Any]], dict[str, int]]:
    output = tmp_path / "focus.parquet"
    result = convert_files("datahub", list(inputs), output)
    return pq.read_table(output).to_pylist(), result.quarantine_reasons


def _jsonl(path: Path, events: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(e) + "\n" for e in events))
    return path


def test_the_sample_converts_one_focus_row_per_event(tmp_path: Path) -> None:
    rows, quarantined = _convert(tmp_path, SAMPLE)

    assert len(rows) == 14 and quarantined == {}
    assert {r["x_source_provider"] for r in rows} == {"datahub"}
    assert {r["ServiceProviderName"] for r in rows} == {"GCP", "Snowflake", "MongoDB Atlas", "Datadog", "OpenAI"}
    for row in rows:  # one amount, no price: every cost metric is it
        assert row["BilledCost"] == row["EffectiveCost"] == row["ListCost"] == row["ContractedCost"]
    gcp = next(r for r in rows if r["ServiceProviderName"] == "GCP")
    assert (gcp["ServiceName"], gcp["ServiceCategory"], gcp["ServiceSubcategory"]) == (
        "Compute Engine", "Compute", "Virtual Machines",  # the GCP service id, as GCP's own export maps it
    )  # fmt: skip
    sub_account = (gcp["SubAccountId"], gcp["SubAccountName"], gcp["SubAccountType"])
    assert sub_account == ("123456789012", "Data Analytics", "Project")
    assert (gcp["RegionId"], gcp["RegionName"], gcp["AvailabilityZone"]) == ("us-central1", "Iowa", "us-central1-a")
    assert gcp["ResourceId"] == "gcp-us-central1-12345" and gcp["SkuId"] == "B53E-74B8-60C9"
    assert json.loads(gcp["Tags"]) == {"Data-Tier": "Gold", "team": "frontend", "datahub:cloud.region": "us-central1"}
    categories = {r["ChargeCategory"] for r in rows}
    assert categories == {"Usage", "Credit", "Tax"}
    # Each row keeps its event's id (datahub_dci's event_id).
    event_ids = [line.split(",", 1)[0] for line in SAMPLE.read_text().splitlines()[1:]]
    assert sorted(r["x_source_record_id"] for r in rows) == sorted(event_ids)


def test_a_date_is_a_day_and_a_time_its_hour(tmp_path: Path) -> None:
    source = _jsonl(
        tmp_path / "events.jsonl",
        [event("hourly", usage_date_time="2025-01-10T10:42:00Z"), event("daily", usage_date_time="2025-01-31")],
    )

    rows, _ = _convert(tmp_path, source)

    periods = [(r["ChargePeriodStart"], r["ChargePeriodEnd"]) for r in rows]
    assert sorted(periods) == [
        (datetime(2025, 1, 10, 10, tzinfo=UTC), datetime(2025, 1, 10, 11, tzinfo=UTC)),
        (datetime(2025, 1, 31, tzinfo=UTC), datetime(2025, 2, 1, tzinfo=UTC)),
    ]
    assert {r["BillingPeriodStart"] for r in rows} == {datetime(2025, 1, 1, tzinfo=UTC)}


def test_typed_json_lines_convert_as_text_does(tmp_path: Path) -> None:
    """Records, objects and numbers as DuckDB types them convert like their text in a CSV cell."""
    typed = event(
        "e-1",
        cost=12.45,
        labels=[{"key": "team", "value": "web"}, {"key": "env", "value": "prod"}],
        project_labels={"tier": "gold"},
        metrics=[{"key": "cpu", "value": 45.2}],
        is_marketplace=True,
        cost_type="PURCHASE",
    )
    rows, quarantined = _convert(tmp_path, _jsonl(tmp_path / "typed.jsonl", [typed]))

    assert quarantined == {}
    (row,) = rows
    assert row["BilledCost"] == Decimal("12.45") and row["ChargeCategory"] == "Purchase"
    assert row["ChargeFrequency"] == "One-Time"
    assert json.loads(row["Tags"]) == {"tier": "gold", "team": "web", "env": "prod"}


def test_a_bad_row_is_quarantined_with_its_reason_and_the_others_convert(tmp_path: Path) -> None:
    source = _jsonl(
        tmp_path / "mixed.jsonl",
        [
            event("good"),
            {k: v for k, v in event("no-cost").items() if k != "cost"},
            event("odd-type", cost_type="refund"),
            event("bad-labels", labels="team=web"),
            event("bad-currency", currency="usd$"),
            event("bad-time", usage_date_time="yesterday"),
        ],
    )

    rows, quarantined = _convert(tmp_path, source)

    assert len(rows) == 1
    assert quarantined == {
        "missing cost (cost)": 1,
        "unknown cost_type": 1,
        "unparsable key/value records in labels": 1,
        "invalid currency code in currency": 1,
        "unparsable timestamp in usage_date_time": 1,
    }


def test_a_bad_value_past_duckdbs_type_sample_is_one_quarantined_row(tmp_path: Path) -> None:
    # DuckDB types a JSON-lines file from its first 20,480 lines; the file's columns are then stated,
    # so a value on a later line that does not fit the guess sets aside its row, not the file.
    good = [event(f"e{i:05d}", usage_date_time="2025-01-10T10:00:00Z") for i in range(20_600)]
    source = _jsonl(tmp_path / "events.jsonl", [*good, event("late-bad", usage_date_time="the tenth of January")])

    rows, quarantined = _convert(tmp_path, source)

    assert len(rows) == 20_600
    assert sum(quarantined.values()) == 1 and "usage_date_time" in next(iter(quarantined))
