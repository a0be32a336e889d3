"""OCI cost report files -> raw rows (the OCI build_raw_select) on DuckDB."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pytest

from cloudact_providers.oci.formats import RAW_TABLE, build_raw_select, oci_to_snake
from cloudact_shared.errors import FailedPrecondition
from cloudact_shared.lineage import Lineage
from cloudact_shared.storage import load_schema
from focus_svc.conversion import set_lineage
from tests.oci.conftest import SAMPLE, csv_bytes, sample_rows


@pytest.fixture
def con() -> duckdb.DuckDBPyConnection:
    connection = duckdb.connect()
    set_lineage(connection, Lineage.new_run("oci/cost/billing", "cred-1"))
    return connection


def _rows(con: duckdb.DuckDBPyConnection, path: Path) -> list[dict[str, Any]]:
    relation = con.sql(build_raw_select(con, path, source_object="oci://bling/t/" + path.name))
    return [dict(zip(relation.columns, r, strict=True)) for r in relation.fetchall()]


def test_snake_names() -> None:
    assert oci_to_snake("lineItem/intervalUsageStart") == "line_item_interval_usage_start"
    assert oci_to_snake("product/Description") == "product_description"
    assert oci_to_snake("cost/myCostOverage") == "cost_my_cost_overage"
    assert oci_to_snake("lineItem/backreferenceNo") == "line_item_backreference_no"


def test_sample_reads_every_row_in_schema_order(con: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    path = tmp_path / "0000000030000269.csv.gz"
    path.write_bytes(gzip.compress(SAMPLE.read_bytes()))
    rows = _rows(con, path)

    assert len(rows) == 506
    assert list(rows[0])[: len(load_schema(RAW_TABLE).column_names)] == list(load_schema(RAW_TABLE).column_names)
    assert all(r["_quarantine_reason"] is None for r in rows)
    assert [r["_source_row_number"] for r in rows] == list(range(1, 507))
    first = rows[0]
    assert first["line_item_reference_no"] == "7108a1f83bdbad70487bf0cf99cbe260"
    assert first["billing_period"] == date(2023, 11, 1)
    assert first["line_item_interval_usage_start"] == datetime(2023, 11, 13, 10, tzinfo=UTC)  # "2023-11-13T10:00Z"
    assert first["line_item_interval_usage_end"] == datetime(2023, 11, 13, 11, tzinfo=UTC)
    assert first["cost_my_cost"] == Decimal("0.012264277500")
    assert first["usage_billed_quantity"] == Decimal("0.083333333333")
    assert first["line_item_is_correction"] is False
    assert first["product_description"] == "Oracle APEX Application Development"
    assert first["tags"]["Oracle-Tags.CreatedBy"] == "default/phil.newman@oracle.com"
    assert first["tags"]["Valtest.Cat"] == "boots"
    assert "DevRel\\redbull-analytics-hol-4cb4.release" not in first["tags"]  # empty cell: not set
    assert first["extra_columns"] is None
    assert first["source_format"] == "oci_cost_csv" and first["x_pipeline_id"] == "oci/cost/billing"
    # The second row has no tag at all: the map is NULL, never empty.
    assert rows[1]["tags"] is None
    # Exponent notation in cost/myCost ("2.323760000E-9") parses.
    assert rows[1]["cost_my_cost"] == Decimal("2.324E-9")
    expected = sum(Decimal(r["cost/myCost"]) for r in sample_rows())
    assert abs(sum(r["cost_my_cost"] for r in rows) - expected) < Decimal("1e-9")


def test_unparsable_and_missing_values_are_quarantined_with_reasons(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    rows = sample_rows()
    rows[2]["cost/myCost"] = "twelve dollars"
    rows[4]["lineItem/intervalUsageStart"] = "yesterday"
    rows[6]["lineItem/isCorrection"] = "maybe"
    rows[8]["cost/currencyCode"] = ""  # the file's one currency fills it (README: currency codes)
    rows[10]["lineItem/intervalUsageEnd"] = "2023-11-13T01:00Z"  # before its start
    path = tmp_path / "bad.csv"
    path.write_bytes(csv_bytes(rows))

    out = _rows(con, path)

    reasons = {r["_source_row_number"]: r["_quarantine_reason"] for r in out if r["_quarantine_reason"]}
    assert reasons == {
        3: "unparsable decimal in cost/myCost: 'twelve dollars'",
        5: "unparsable timestamp in lineItem/intervalUsageStart: 'yesterday'",
        7: "unparsable boolean in lineItem/isCorrection: 'maybe'",
        11: "interval usage end is before its start",
    }
    filled = next(r for r in out if r["_source_row_number"] == 9)
    assert filled["cost_currency_code"] == rows[0]["cost/currencyCode"]
    record = json.loads(next(r["_record"] for r in out if r["_source_row_number"] == 3))
    assert (
        record["cost/myCost"] == "twelve dollars" and record["lineItem/referenceNo"] == rows[2]["lineItem/referenceNo"]
    )


def test_tag_columns_vary_between_files_and_unknown_columns_are_kept(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    header = {
        "lineItem/referenceNo": "r1",
        "lineItem/tenantId": "ocid1.tenancy.oc1..t",
        "lineItem/intervalUsageStart": "2024-02-29T23:00Z",
        "lineItem/intervalUsageEnd": "2024-03-01T00:00Z",
        "product/service": "COMPUTE",
        "cost/myCost": "-1.5",
        "cost/currencyCode": "EUR",
        "lineItem/isCorrection": "true",
        "lineItem/backreferenceNo": "r0",
        "tags/Team.Name": "data",
        "product/newThing": "x",
    }
    path = tmp_path / "one.csv"
    path.write_bytes(csv_bytes([header]))

    (row,) = _rows(con, path)

    assert row["_quarantine_reason"] is None
    assert row["billing_period"] == date(2024, 2, 1)
    assert row["line_item_is_correction"] is True and row["line_item_backreference_no"] == "r0"
    assert row["tags"] == {"Team.Name": "data"}
    assert row["extra_columns"] == {"product/newThing": "x"}
    assert row["cost_my_cost"] == Decimal("-1.5") and row["usage_billed_quantity"] is None


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty"),
        (b"lineItem/referenceNo,cost/myCost\n", "required columns missing: lineItem/tenantId"),
        (b"name,amount\nfoo,1\n", "required columns missing"),
        (
            b"BilledCost,ChargePeriodStart,oci_ReferenceNumber,Provider\n1,2024-01-01T00:00Z,r,OCI\n",
            "not an OCI FOCUS report, required columns missing: BillingAccountId",
        ),
    ],
)
def test_not_a_cost_report_fails_the_file(
    con: duckdb.DuckDBPyConnection, tmp_path: Path, content: bytes, message: str
) -> None:
    path = tmp_path / "x.csv"
    path.write_bytes(content)
    with pytest.raises(FailedPrecondition, match=message):
        build_raw_select(con, path, source_object="x")


def test_missing_required_column_is_named(con: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    rows = [{k: v for k, v in r.items() if k != "cost/myCost"} for r in sample_rows()[:3]]
    path = tmp_path / "x.csv"
    path.write_bytes(csv_bytes(rows))
    with pytest.raises(FailedPrecondition, match="cost/myCost") as caught:
        build_raw_select(con, path, source_object="x")
    assert caught.value.reason == "NOT_AN_OCI_REPORT"
