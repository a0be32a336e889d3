"""Datadog's cost records (``formats.py``): the connector's JSON lines, their checks and what is refused."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from cloudact_cli.convert import convert_files
from cloudact_providers.datadog.formats import charge_records
from cloudact_providers.datadog.synthetic import month_elements, write_records
from cloudact_shared.errors import FailedPrecondition
from tests.datadog.conftest import raw_rows

ELEMENT = {
    "id": "org-1-202605",
    "type": "cost_by_org",
    "attributes": {
        "account_name": "Acme Corp",
        "account_public_id": "acc1",
        "org_name": "Acme",
        "public_id": "org1",
        "region": "us",
        "date": datetime(2026, 5, 1, tzinfo=UTC),
        "total_cost": 0.30000000000000004,
        "new_attribute": {"nested": True},
        "charges": [{"product_name": "infra_host", "charge_type": "committed", "cost": 0.1}],
    },
}


def _write(path: Path, records: list[dict[str, str | None]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def test_a_record_per_charge_keeps_the_decimals_datadog_wrote_and_unknown_fields() -> None:
    [record] = charge_records(ELEMENT, "historical_cost")

    assert record["cost"] == "0.1" and record["total_cost"] == "0.30000000000000004"  # a float's exact text
    assert record["date"] == "2026-05-01T00:00:00+00:00" and record["cost_source"] == "historical_cost"
    assert record["new_attribute"] == '{"nested": true}'
    with pytest.raises(ValueError, match="cost_source"):
        list(charge_records(ELEMENT, "projected_cost"))


def test_unknown_fields_land_in_extra_columns_and_an_unknown_source_is_quarantined(tmp_path: Path) -> None:
    [good] = charge_records(ELEMENT, "estimated_cost")
    bad = {**good, "cost_source": "projected_cost"}
    rows = raw_rows(_write(tmp_path / "cost.jsonl", [good, bad]))

    assert rows[0]["extra_columns"] == {"new_attribute": '{"nested": true}'} and rows[0]["_quarantine_reason"] is None
    assert rows[1]["_quarantine_reason"] == "unknown cost_source: 'projected_cost'"


def test_a_file_that_is_not_the_connectors_is_refused_naming_what_it_is(tmp_path: Path) -> None:
    other = _write(tmp_path / "other.jsonl", [{"name": "foo", "amount": "1"}])
    with pytest.raises(FailedPrecondition) as caught:
        convert_files("datadog", [other], tmp_path / "focus.parquet")
    assert caught.value.reason == "NOT_A_DATADOG_COST_FILE" and "not a Datadog cost file" in caught.value.message

    csv = tmp_path / "cost.csv"
    csv.write_text("product_name,cost\ninfra_host,1\n")
    with pytest.raises(FailedPrecondition, match=r"expected the connector's \.jsonl"):
        convert_files("datadog", [csv], tmp_path / "focus.parquet")


def test_converted_together_the_final_answer_of_a_month_wins_over_its_estimate(tmp_path: Path) -> None:
    month = date(2026, 3, 1)
    final, estimate = month_elements(month), month_elements(month, estimate=True)
    source = write_records(tmp_path / "both.jsonl", [(estimate, "estimated_cost"), (final, "historical_cost")])

    convert_files("datadog", [source], tmp_path / "focus.parquet")
    rows = pq.read_table(tmp_path / "focus.parquet").to_pylist()

    assert {r["x_operation"] for r in rows} == {"historical_cost"} and len(rows) == 16  # 2 orgs x 4 products x 2
    kept = [c for e in final for c in e["attributes"]["charges"] if c["charge_type"] != "total"]
    assert sum(r["BilledCost"] for r in rows) == sum(Decimal(str(c["cost"])) for c in kept)
