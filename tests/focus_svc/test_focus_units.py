"""Units in FOCUS Unit Format: the wrapper maps every unit a mapping states, the raw unit stays in x_*.

The Unit Format check (tests/focus_svc/unit_format.py) is written from the FOCUS attribute's text,
independently of the conversion's reference map and rules.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest

from cloudact_shared.storage import load_schema
from focus_svc import conversion
from tests.conftest import REPO
from tests.focus_svc import unit_format
from tests.focus_svc.wrapped import REQUIRED, create_raw, wrapped_rows

UNIT_MAP = REPO / "sql" / "reference" / "focus_units.csv"
# The FOCUS columns in Unit Format, each with the custom column that keeps the unit the mapping stated.
UNIT_COLUMNS = {
    "ConsumedUnit": "x_consumed_unit_raw",
    "PricingUnit": "x_pricing_unit_raw",
    "CommitmentDiscountUnit": "x_commitment_discount_unit_raw",
}
# A priced, committed Usage row stating r.unit in every unit column (no null rule applies to it).
PRICED = REQUIRED | {
    "SkuId": "'sku'",
    "SkuPriceId": "'price'",
    "ListUnitPrice": "focus_money(1)",
    "ContractedUnitPrice": "focus_money(1)",
    "PricingCategory": "'Committed'",
    "PricingQuantity": "focus_money(1)",
    "PricingUnit": "r.unit",
    "ConsumedQuantity": "focus_money(1)",
    "ConsumedUnit": "r.unit",
    "CommitmentDiscountId": "'commitment'",
    "CommitmentDiscountCategory": "'Usage'",
    "CommitmentDiscountName": "'commitment'",
    "CommitmentDiscountType": "'Reserved'",
    "CommitmentDiscountStatus": "'Used'",
    "CommitmentDiscountQuantity": "focus_money(1)",
    "CommitmentDiscountUnit": "r.unit",
}

# (unit as the provider writes it, its FOCUS unit): units of the samples, fixtures and generators.
SEEN = [
    ("Lambda-GB-Second", "GB-Seconds"),  # AWS Lambda duration (CUR pricing/unit)
    ("Hrs", "Hours"),
    ("hours", "Hours"),
    ("GB-Mo", "GB-Months"),
    ("NodeHour", "Node-Hours"),
    ("DPU-Hour", "DPU-Hours"),
    ("Obj-Month", "Object-Months"),
    ("Request", "Requests"),
    ("API Request", "API Requests"),
    ("ReadRequestUnits", "ReadRequestUnits"),
    ("1M API Calls", "1000000 API Calls"),  # OCI
    ("Million Datapoints", "1000000 Datapoints"),
    ("OCPU Hours", "OCPU-Hours"),
    ("GB Months", "GB-Months"),
    ("Instance per hour", "Instance-Hours"),
    ("Gigabytes Per Hour", "GB-Hours"),
    ("GB Of Data Transferred", "GB"),
    ("seconds", "Seconds"),  # GCP
    ("requests", "Requests"),
    ("gibibyte month", "GiB-Months"),
    ("hour", "Hours"),
    ("count", "Counts"),
    ("bytes", "B"),
    ("Units/Month", "Units/Month"),  # Azure, as its mapping states them
    ("10000 Units", "10000 Units"),
]
# Units in no sample: derived by rule (spacing, case, separators, spelled-out names, multipliers).
DERIVED = [
    ("Widget Hours", "Widget-Hours"),
    ("widget-hrs", "Widget-Hours"),
    ("  TB   Months ", "TB-Months"),
    ("CacheHour", "Cache-Hours"),
    ("5M API Calls", "5000000 API Calls"),
    ("10K requests", "10000 Requests"),
    ("Queries per second", "Queries/Second"),
    ("GB/Hours", "GB/Hour"),
    ("gigabyte-seconds", "GB-Seconds"),
    ("Thing/3 month", "Thing/3 Months"),
    ("REQUESTS", "Requests"),
    ("1000 token", "1000 Tokens"),
    ("Unit", "Units"),
]
# Nothing conforming can be derived: the provider's value is kept as it is.
KEPT = ["1.5 GB", "$ per unit", "per-request fee (tiered)"]


@pytest.fixture
def con() -> Iterator[duckdb.DuckDBPyConnection]:
    connection = duckdb.connect()
    conversion.prepare(connection)
    yield connection
    connection.close()


def _converted(con: duckdb.DuckDBPyConnection, units: list[str]) -> list[dict[str, Any]]:
    create_raw(con, [{"unit": unit} for unit in units])
    return wrapped_rows(con, PRICED)


def _unit_map() -> list[dict[str, str]]:
    with UNIT_MAP.open(newline="") as handle:
        return list(csv.DictReader(handle))


def test_the_checker_reads_unit_format_as_the_spec_writes_it() -> None:
    spec_examples = ["GB", "Seconds", "GB-Hours", "MB-Days", "GB/Hour", "PB/Day", "1000 Tokens", "Units/3 Months"]
    assert [u for u in spec_examples if not unit_format.conforms(u)] == []
    # The text's own counter-examples, and what the issue found in real exports.
    invalid = ["gigabyte-seconds", "terabyte", "GBs", "YB", "Lambda-GB-Second", "1M API Calls", "OCPU Hours"]
    assert [u for u in invalid if unit_format.conforms(u)] == []


def test_the_schema_keeps_the_stated_units_in_custom_columns() -> None:
    columns = load_schema("cost_data_standard_1_3").column_names
    assert set(UNIT_COLUMNS.values()) <= set(columns)
    focus_columns = [c for c in columns if not c.startswith("x_")]
    assert columns[: len(focus_columns)] == focus_columns  # custom columns after every FOCUS column


@pytest.mark.parametrize(("stated", "focus_unit"), SEEN + DERIVED, ids=[u for u, _ in SEEN + DERIVED])
def test_the_wrapper_maps_a_unit_to_unit_format(con: duckdb.DuckDBPyConnection, stated: str, focus_unit: str) -> None:
    [row] = _converted(con, [stated])
    assert unit_format.violations(focus_unit) == []
    for column, raw_column in UNIT_COLUMNS.items():
        assert (row[column], row[raw_column]) == (focus_unit, stated), column


@pytest.mark.parametrize("stated", KEPT)
def test_a_unit_nothing_conforming_derives_from_is_kept(con: duckdb.DuckDBPyConnection, stated: str) -> None:
    [row] = _converted(con, [stated])
    assert all((row[column], row[raw]) == (stated, stated) for column, raw in UNIT_COLUMNS.items())


def test_the_unit_map_is_unit_format_and_maps_each_unit_once(con: duckdb.DuckDBPyConnection) -> None:
    entries = _unit_map()
    stated = [e["provider_unit"] for e in entries]
    assert sorted({s for s in stated if stated.count(s) > 1}) == []
    assert {
        e["focus_unit"]: unit_format.violations(e["focus_unit"])
        for e in entries
        if not unit_format.conforms(e["focus_unit"])
    } == {}
    # Through the wrapper: every entry maps to its FOCUS unit, and a FOCUS unit maps to itself.
    rows = _converted(con, stated + [e["focus_unit"] for e in entries])
    assert [r["PricingUnit"] for r in rows] == [e["focus_unit"] for e in entries] * 2


def test_every_unit_of_every_sample_is_in_unit_format(focus_outputs: dict[str, list[dict[str, Any]]]) -> None:
    wrong = {
        (case, column, row[column]): unit_format.violations(row[column])
        for case, rows in focus_outputs.items()
        for row in rows
        for column in UNIT_COLUMNS
        if row[column] is not None and not unit_format.conforms(row[column])
    }
    assert wrong == {}


def test_every_sample_keeps_the_unit_its_mapping_stated(focus_outputs: dict[str, list[dict[str, Any]]]) -> None:
    mapped = {e["provider_unit"]: e["focus_unit"] for e in _unit_map()}
    for case, rows in focus_outputs.items():
        for column, raw in UNIT_COLUMNS.items():
            assert [r for r in rows if (r[column] is None) != (r[raw] is None)] == [], (case, column)
            # A unit of the map is its FOCUS unit, whichever provider states it.
            differ = {(r[raw], r[column]) for r in rows if r[raw] in mapped and mapped[r[raw]] != r[column]}
            assert differ == set(), (case, column)


def test_a_unit_map_that_states_a_unit_twice_is_refused(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # Joined to every row: a unit mapped twice would repeat the rows that state it.
    twice = tmp_path / "focus_units.csv"
    twice.write_text("provider_unit,focus_unit,seen_in\nHrs,Hours,aws\nHrs,Hours,oci\n")
    monkeypatch.setattr(conversion, "UNIT_MAP", twice)
    with pytest.raises(ValueError, match="Hrs"):
        conversion.prepare(duckdb.connect())


def test_a_mapping_may_state_the_raw_unit_itself(con: duckdb.DuckDBPyConnection) -> None:
    # Azure's UnitOfMeasure '10K' is a block size as well as a unit: its mapping states the FOCUS
    # unit beside a PricingQuantity in blocks, and may keep the export's own text as the raw unit.
    create_raw(con, [{"unit": "10000 Units"}])
    [row] = wrapped_rows(con, PRICED | {"x_pricing_unit_raw": "'10K'"})
    assert (row["PricingUnit"], row["x_pricing_unit_raw"]) == ("10000 Units", "10K")
    assert (row["ConsumedUnit"], row["x_consumed_unit_raw"]) == ("10000 Units", "10000 Units")
