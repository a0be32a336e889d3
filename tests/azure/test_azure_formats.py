"""Azure cost details files -> raw rows: header normalization, dates, tags, datasets, formats, bad input."""

from __future__ import annotations

import csv
import gzip
import io
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pytest

from cloudact_providers.azure.formats import RAW_TABLE, build_raw_select, normalize_header
from cloudact_shared.errors import FailedPrecondition
from cloudact_shared.storage import load_schema
from tests.azure.conftest import EA_ACTUAL, EA_AMORTIZED, FFS_ACTUAL, write_csv

MCA_ROW = {
    "billingAccountId": "acct-1",
    "billingAccountName": "Contoso MCA",
    "billingPeriodStartDate": "2024-03-01",
    "billingPeriodEndDate": "2024-03-31",
    "billingProfileId": "BP-1",
    "billingProfileName": "Contoso Profile",
    "invoiceId": "G123",
    "subscriptionId": "sub-1",
    "subscriptionName": "Prod",
    "date": "2024-03-05",
    "productId": "DZH318Z0BQPS",
    "productName": "Virtual Machines D2s v3",
    "meterId": "m-1",
    "meterCategory": "Virtual Machines",
    "meterName": "D2s v3",
    "unitOfMeasure": "1 Hour",
    "quantity": "10",
    "effectivePrice": "0.09",
    "unitPrice": "0.1",
    "PayGPrice": "0.1",
    "costInBillingCurrency": "0.9",
    "paygCostInBillingCurrency": "1.0",
    "costInPricingCurrency": "1.0",
    "billingCurrency": "EUR",
    "pricingCurrency": "USD",
    "exchangeRatePricingToBilling": "0.9",
    "resourceLocation": "westeurope",
    "consumedService": "Microsoft.Compute",
    "resourceId": "/subscriptions/sub-1/resourceGroups/RG/providers/Microsoft.Compute/virtualMachines/vm1",
    "tags": '{"team": "core"}',
    "additionalInfo": '{"ServiceType": "Standard_D2s_v3"}',
    "chargeType": "Usage",
    "frequency": "UsageBased",
    "pricingModel": "OnDemand",
    "publisherType": "Azure",
    "partnerName": "",
    "someNewColumn": "kept",
}


def _con() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    for name, value in (
        ("ingestion_date", "2026-11-23"),
        ("x_pipeline_id", "azure/cost/billing"),
        ("x_credential_id", "c1"),
        ("x_run_id", "r1"),
        ("x_ingested_at", "2026-11-23 00:00:00+00"),
        ("x_pipeline_run_date", "2026-11-23"),
    ):
        con.execute(f"SET VARIABLE {name} = '{value}'")
    return con


def _rows(path: Path, source_object: str | None = None) -> list[dict[str, Any]]:
    con = _con()
    sql = build_raw_select(con, path, source_object=source_object or str(path))
    cursor = con.execute(sql)
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, r, strict=True)) for r in cursor.fetchall()]


def test_select_yields_the_raw_schema_in_order() -> None:
    con = _con()
    sql = build_raw_select(con, EA_ACTUAL, source_object="x")
    names = [d[0] for d in con.execute(f"SELECT * FROM ({sql}) LIMIT 0").description]
    assert names == [*load_schema(RAW_TABLE).column_names, "_quarantine_reason", "_source_row_number", "_record"]


def test_ea_actual_sample_older_headers() -> None:
    rows = _rows(EA_ACTUAL)
    assert len(rows) == 11 and all(r["_quarantine_reason"] is None for r in rows)
    assert {r["dataset"] for r in rows} == {"actual"}  # from the file name
    assert {r["source_format"] for r in rows} == {"azure_ea_csv"}
    purchase = next(r for r in rows if r["charge_type"] == "Purchase")
    assert purchase["cost_in_billing_currency"] == Decimal("3.25")  # older "Cost" column
    assert purchase["billing_currency"] == "USD"  # older "BillingCurrency" column
    assert purchase["date"] == date(2023, 9, 21) and purchase["billing_period"] == date(2023, 9, 1)
    assert purchase["billing_period_end_date"] == date(2023, 9, 30)
    assert purchase["benefit_id"].startswith("/providers/Microsoft.Capacity/")  # camelCase benefitId
    assert purchase["product_name"].startswith("Virtual Machines BS Series")  # older "Product"
    storage = next(r for r in rows if r["tags"] and "databricks-environment" in r["tags"])
    assert storage["tags"] == {
        "CostCenter": "1234",
        "env": "prod",
        "org": "trey",
        "application": "databricks",
        "databricks-environment": "true",
    }
    assert [r["_source_row_number"] for r in rows] == list(range(1, 12))


def test_ea_amortized_sample_additional_info_kept() -> None:
    rows = _rows(EA_AMORTIZED)
    assert len(rows) == 28 and {r["dataset"] for r in rows} == {"amortized"}
    covered = next(r for r in rows if r["pricing_model"] == "Reservation")
    assert covered["additional_info"].startswith('{"UsageType":"ComputeHR"')
    assert covered["quantity"] == Decimal(8) and covered["cost_in_billing_currency"] == Decimal("0.493152")


def test_finops_foundation_sample_us_dates_braceless_tags_exponents() -> None:
    rows = _rows(FFS_ACTUAL)
    assert len(rows) == 27 and all(r["_quarantine_reason"] is None for r in rows)
    first = rows[0]
    assert first["date"] == date(2023, 9, 2) and first["billing_period_start_date"] == date(2023, 9, 1)
    assert first["tags"] == {"tagA": "valueA", "tagB": "valueB", "tagC": "valueC"}
    assert first["billing_currency"] == "CAD"  # BillingCurrencyCode
    assert rows[1]["cost_in_billing_currency"] == Decimal("0.0000564902")  # 5.64902E-05
    assert {r["dataset"] for r in rows} == {"actual"}


def test_dataset_from_the_manifest_fragment_wins(tmp_path: Path) -> None:
    path = tmp_path / "part_0_0001.csv"
    path.write_bytes(FFS_ACTUAL.read_bytes())
    rows = _rows(path, "https://a.blob.core.windows.net/c/part_0_0001.csv#dataset=amortized")
    assert {r["dataset"] for r in rows} == {"amortized"}
    assert {r["source_object"] for r in rows} == {"https://a.blob.core.windows.net/c/part_0_0001.csv"}


def test_dataset_detected_from_unused_charge_types(tmp_path: Path) -> None:
    rows = list(csv.DictReader(io.StringIO(FFS_ACTUAL.read_text())))
    rows[0]["ChargeType"] = "UnusedReservation"
    assert {r["dataset"] for r in _rows(write_csv(tmp_path / "part_1.csv", rows))} == {"amortized"}


def test_mca_camel_case_headers_gzip_and_extras(tmp_path: Path) -> None:
    path = tmp_path / "part_0_0001.csv.gz"
    plain = write_csv(tmp_path / "plain.csv", [MCA_ROW])
    path.write_bytes(gzip.compress(plain.read_bytes()))
    (row,) = _rows(path)
    assert row["source_format"] == "azure_mca_csv" and row["_quarantine_reason"] is None
    assert row["billing_profile_id"] == "BP-1" and row["invoice_id"] == "G123" and row["product_id"] == "DZH318Z0BQPS"
    assert row["date"] == date(2024, 3, 5) and row["exchange_rate_pricing_to_billing"] == Decimal("0.9")
    assert row["tags"] == {"team": "core"}
    assert row["extra_columns"] == {"someNewColumn": "kept"}
    assert row["partner_name"] is None  # empty cell -> NULL


def test_parquet_export(tmp_path: Path) -> None:
    path = tmp_path / "part_0_0001.parquet"
    duckdb.execute(f"COPY (SELECT * FROM read_csv('{FFS_ACTUAL}', all_varchar = true)) TO '{path}' (FORMAT parquet)")
    rows = _rows(path)
    assert len(rows) == 27 and rows[0]["date"] == date(2023, 9, 2) and rows[0]["source_format"] == "azure_ea_parquet"
    assert rows[0]["_source_row_number"] == 1


def test_unparsable_values_quarantine_their_row_only(tmp_path: Path) -> None:
    rows = list(csv.DictReader(io.StringIO(FFS_ACTUAL.read_text())))
    rows[0]["Date"] = "31/31/2023"
    rows[1]["Quantity"] = "lots"
    rows[2]["Tags"] = '"broken: "x'
    rows[3]["BillingPeriodStartDate"] = ""
    out = _rows(write_csv(tmp_path / "bad.csv", rows))
    reasons = [r["_quarantine_reason"] for r in out]
    assert reasons[0] == "unparsable date in Date: '31/31/2023'"
    assert reasons[1] == "unparsable decimal in Quantity: 'lots'"
    assert reasons[2].startswith("unparsable JSON tags in Tags")
    assert reasons[3] == "missing billing period start (BillingPeriodStartDate)"
    assert all(r is None for r in reasons[4:])
    assert out[1]["_record"] is not None and '"Quantity":"lots"' in out[1]["_record"]


def test_not_an_azure_export(tmp_path: Path) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(FailedPrecondition, match="empty"):
        _rows(empty)
    header_only = tmp_path / "header.csv"
    header_only.write_text("Date,Cost\n")
    with pytest.raises(FailedPrecondition, match="required columns missing: BillingPeriodStartDate"):
        _rows(header_only)
    other = write_csv(tmp_path / "other.csv", [{"Date": "9/2/2023", "SubscriptionId": "s"}])
    with pytest.raises(FailedPrecondition, match="required columns missing: BillingPeriodStartDate"):
        _rows(other)
    with pytest.raises(FailedPrecondition, match="expected"):
        _rows(tmp_path / "x.json")


def test_header_normalization() -> None:
    assert normalize_header("\ufeffCostInBillingCurrency") == "costinbillingcurrency"
    assert normalize_header("costInBillingCurrency") == normalize_header("cost_in_billing_currency")
