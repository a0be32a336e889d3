"""OCI FOCUS report files -> raw rows (the OCI build_raw_select): both FOCUS namings, quarantine."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pytest

from cloudact_providers.oci.formats import FOCUS_SOURCE_FORMAT, build_raw_select, month_sql, report_kind
from cloudact_shared.lineage import Lineage
from focus_svc.conversion import set_lineage
from tests.oci.conftest import FOCUS_FIXTURE, csv_bytes, focus_rows

# FOCUS 1.0 renamed these 1.0-preview columns; 1.0 custom columns carry the x_ prefix.
_FOCUS_1_0_NAMES = {
    "Provider": "ProviderName",
    "Publisher": "PublisherName",
    "InvoiceIssuer": "InvoiceIssuerName",
    "Region": "RegionId",
    "UsageQuantity": "ConsumedQuantity",
    "UsageUnit": "ConsumedUnit",
    "oci_ReferenceNumber": "x_oci_ReferenceNumber",
    "oci_BackReferenceNumber": "x_oci_BackReferenceNumber",
}


@pytest.fixture
def con() -> duckdb.DuckDBPyConnection:
    connection = duckdb.connect()
    set_lineage(connection, Lineage.new_run("oci/cost/billing", "cred-1"))
    return connection


def _rows(con: duckdb.DuckDBPyConnection, path: Path) -> list[dict[str, Any]]:
    relation = con.sql(build_raw_select(con, path, source_object="oci://bling/t/" + path.name))
    return [dict(zip(relation.columns, r, strict=True)) for r in relation.fetchall()]


def test_fixture_rows_land_in_the_focus_columns(con: duckdb.DuckDBPyConnection) -> None:
    rows = _rows(con, FOCUS_FIXTURE)

    assert len(rows) == 12 and all(r["_quarantine_reason"] is None for r in rows)
    assert {r["source_format"] for r in rows} == {FOCUS_SOURCE_FORMAT}
    assert {r["billing_period"] for r in rows} == {date(2025, 1, 1)}
    first = rows[0]
    assert first["oci_reference_number"] == "d2c8e7a1f0b34f6e9a51c3b7e2f40a01"
    assert first["focus_billing_account_id"] == "61839204"  # a number in the file, kept as text
    assert first["focus_billed_cost"] == Decimal("0.05")
    assert first["focus_charge_period_start"] == datetime(2025, 1, 14, 9, tzinfo=UTC)
    assert first["focus_billing_period_start"] == datetime(2025, 1, 1, tzinfo=UTC)
    assert (first["focus_provider_name"], first["focus_publisher_name"]) == ("OCI", "Oracle")
    assert (first["focus_region_id"], first["focus_consumed_quantity"]) == ("us-ashburn-1", Decimal("2"))
    assert first["focus_charge_subcategory"] == "On-Demand" and first["focus_invoice_issuer_name"] == "Oracle"
    assert first["tags"] == {
        "Oracle-Tags.CreatedBy": "default/jane.doe@example.com",
        "Oracle-Tags.CreatedOn": "2024-11-02T08:14:12.118Z",
        "Finance.CostCenter": "cc-1042",
    }
    # The cost report's columns stay empty: source_format says which set a row fills.
    assert first["line_item_reference_no"] is None and first["cost_my_cost"] is None
    assert first["extra_columns"] is None
    correction = next(r for r in rows if r["oci_reference_number"].endswith("c11"))
    assert correction["oci_back_reference_number"] == "d2c8e7a1f0b34f6e9a51c3b7e2f40a10"


def test_focus_1_0_names_fill_the_same_columns(con: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    preview = focus_rows()
    renamed = [{_FOCUS_1_0_NAMES.get(k, k): v for k, v in r.items()} for r in preview]
    for row in renamed:
        row["RegionName"] = "US East (Ashburn)" if row["RegionId"] == "us-ashburn-1" else ""
        row["ChargeClass"] = "Correction" if row["x_oci_BackReferenceNumber"] else ""
        row["x_Unknown"] = "kept"
    path = tmp_path / "focus-1.0.csv"
    path.write_bytes(csv_bytes(renamed))
    assert report_kind(renamed[0]) == "focus"

    before, after = _rows(con, FOCUS_FIXTURE), _rows(con, path)

    compared = [
        "oci_reference_number",
        "oci_back_reference_number",
        "focus_provider_name",
        "focus_region_id",
        "focus_consumed_quantity",
        "focus_consumed_unit",
        "focus_invoice_issuer_name",
        "focus_billed_cost",
    ]
    assert [[r[c] for c in compared] for r in after] == [[r[c] for c in compared] for r in before]
    assert after[0]["focus_region_name"] == "US East (Ashburn)"
    assert [r["focus_charge_class"] for r in after].count("Correction") == 2
    assert all(r["extra_columns"] == {"x_Unknown": "kept"} for r in after)


def test_bad_focus_rows_are_quarantined_with_reasons(con: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    rows = focus_rows()
    rows[1]["Tags"] = "{not json"
    rows[2]["ChargeCategory"] = "Refund"
    rows[3]["BillingPeriodStart"] = "2025-01-15T00:00:00.000Z"
    rows[4]["BilledCost"] = "n/a"
    rows[5]["ChargePeriodEnd"] = "2025-01-14T08:00Z"
    rows[6]["BillingCurrency"] = ""  # the file's one currency fills it (README: currency codes)
    path = tmp_path / "bad.csv"
    path.write_bytes(csv_bytes(rows))

    out = _rows(con, path)

    reasons = {r["_source_row_number"]: r["_quarantine_reason"] for r in out if r["_quarantine_reason"]}
    assert reasons == {
        2: "Tags is not a JSON object: '{not json'",
        3: "ChargeCategory is not a FOCUS category: 'Refund'",
        4: "BillingPeriodStart is not the start of a calendar month: 2025-01-15T00:00:00Z",
        5: "unparsable decimal in BilledCost: 'n/a'",
        6: "charge period end is before its start",
    }
    assert next(r for r in out if r["_source_row_number"] == 7)["focus_billing_currency"] == rows[0]["BillingCurrency"]
    assert json.loads(next(r["_record"] for r in out if r["_source_row_number"] == 2))["Tags"] == "{not json"


def test_month_of_a_row_is_read_from_the_report_kind(con: duckdb.DuckDBPyConnection) -> None:
    header = list(focus_rows()[0])
    assert report_kind(header) == "focus" and "BillingPeriodStart" in month_sql(header)
    assert report_kind(["lineItem/referenceNo", "cost/myCost"]) == "cost-csv"
    assert "lineItem/intervalUsageStart" in month_sql(["lineItem/referenceNo"])
    months = con.execute(f"SELECT DISTINCT {month_sql(header)} FROM read_csv('{FOCUS_FIXTURE}', all_varchar=true)")
    assert months.fetchall() == [(date(2025, 1, 1),)]
