"""OCI raw rows -> FOCUS 1.3 (sql/mappings/oci.sql) with asserted values."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pytest

from cloudact_cli.convert import convert_files
from tests.oci.conftest import SAMPLE, csv_bytes, sample_rows

TENANCY = "ocid1.tenancy.oc1..aaaaaaaadsyhydp66mjpsohqocfcgzaabtrit47ex2igzu2j6lhuadrrglca"


def _focus(tmp_path: Path, inputs: list[Path]) -> list[dict[str, Any]]:
    output = tmp_path / "focus.parquet"
    result = convert_files("oci", inputs, output)
    assert result.rows_quarantined == 0, result.quarantine_reasons
    relation = duckdb.connect().sql(f"SELECT * FROM read_parquet('{output}')")
    return [dict(zip(relation.columns, r, strict=True)) for r in relation.fetchall()]


@pytest.fixture(scope="module")
def sample_focus(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    return _focus(tmp_path_factory.mktemp("focus"), [SAMPLE])


def test_first_sample_row(sample_focus: list[dict[str, Any]]) -> None:
    row = next(
        r
        for r in sample_focus
        if r["SkuMeter"] == "Oracle APEX Application Development"
        and r["ChargePeriodStart"] == datetime(2023, 11, 13, 10, tzinfo=UTC)
        and r["BilledCost"] == Decimal("0.012264277500")
    )
    assert row["BilledCost"] == row["EffectiveCost"] == row["ContractedCost"] == Decimal("0.012264277500")
    assert row["ListUnitPrice"] == row["ContractedUnitPrice"] == Decimal("0.147171330000")
    assert row["PricingQuantity"] == row["ConsumedQuantity"] == Decimal("0.083333333333")
    assert row["ListCost"] == (Decimal("0.147171330000") * Decimal("0.083333333333")).quantize(Decimal("1e-12"))
    assert row["PricingUnit"] == row["ConsumedUnit"] == "Hours"
    assert row["BillingAccountId"] == TENANCY and row["BillingAccountType"] == "Tenancy"
    assert row["SubAccountId"] == TENANCY and row["SubAccountName"] == "platformpm2022"
    assert row["SubAccountType"] == "Compartment"
    assert row["BillingCurrency"] == row["PricingCurrency"] == "USD"
    assert row["BillingPeriodStart"] == datetime(2023, 11, 1, tzinfo=UTC)
    assert row["BillingPeriodEnd"] == datetime(2023, 12, 1, tzinfo=UTC)
    assert row["ChargePeriodStart"] == datetime(2023, 11, 13, 10, tzinfo=UTC)
    assert row["ChargePeriodEnd"] == datetime(2023, 11, 13, 11, tzinfo=UTC)
    assert (row["ChargeCategory"], row["ChargeClass"], row["ChargeFrequency"]) == ("Usage", None, "Usage-Based")
    assert row["ServiceName"] == "Oracle Database"
    assert (row["ServiceCategory"], row["ServiceSubcategory"]) == ("Databases", "Relational Databases")
    assert row["SkuId"] == row["SkuPriceId"] == "B92911"
    assert json.loads(row["SkuPriceDetails"]) == {
        "x_BillingUnitReadable": "1 NONE HOURS INSTANCE",
        "x_OverageFlag": "false",
    }
    assert row["PricingCategory"] == "Standard"
    assert (row["RegionId"], row["RegionName"]) == ("us-sanjose-1", "US West (San Jose)")
    assert row["AvailabilityZone"] == "sj-1"
    assert row["ResourceType"] == "autonomousdatabase"
    assert {
        row[c]
        for c in ("ProviderName", "PublisherName", "InvoiceIssuerName", "ServiceProviderName", "HostProviderName")
    } == {"Oracle"}
    assert json.loads(row["Tags"])["Valtest.Cat"] == "boots"
    assert row["CommitmentDiscountId"] is None and row["CommitmentDiscountStatus"] is None
    assert row["x_source_provider"] == "oci" and row["x_service_code"] == "DATABASE"


def test_every_sample_service_is_categorized_and_periods_match(sample_focus: list[dict[str, Any]]) -> None:
    assert len(sample_focus) == 506
    assert {r["ServiceCategory"] for r in sample_focus} <= {
        "Compute",
        "Storage",
        "Databases",
        "Networking",
        "Integration",
        "Management and Governance",
    }
    assert not [r for r in sample_focus if r["ServiceSubcategory"].startswith("Other")]
    assert {r["BillingPeriodStart"].date() for r in sample_focus} == {date(2023, 11, 1)}
    assert sum(r["BilledCost"] for r in sample_focus) == sum(
        Decimal(r["cost/myCost"]).quantize(Decimal("1e-12")) for r in sample_rows()
    )
    # Non-OCID resource ids get the service as their type; ResourceType is set whenever ResourceId is.
    assert all(r["ResourceType"] for r in sample_focus if r["ResourceId"])
    telemetry = next(r for r in sample_focus if r["x_service_code"] == "TELEMETRY")
    assert telemetry["ResourceType"] == "TELEMETRY" and telemetry["PricingUnit"] == "1000000 Datapoints"


def test_correction_overage_and_month_boundary(tmp_path: Path) -> None:
    base = sample_rows()[0]
    correction = {
        **base,
        "lineItem/referenceNo": "corr-1",
        "lineItem/isCorrection": "true",
        "lineItem/backreferenceNo": base["lineItem/referenceNo"],
        "cost/myCost": "-0.012264277499950943",
        "usage/billedQuantity": "-0.083333333333",
    }
    overage = {**base, "lineItem/referenceNo": "ovg-1", "cost/overageFlag": "true"}
    # Usage starting 23:00 UTC on the last day of a month belongs to that month.
    late = {
        **base,
        "lineItem/referenceNo": "late-1",
        "lineItem/intervalUsageStart": "2023-11-30T23:00Z",
        "lineItem/intervalUsageEnd": "2023-12-01T00:00Z",
        "product/service": "SOMETHING_NEW",
        "cost/productSku": "",
    }
    path = tmp_path / "c.csv"
    path.write_bytes(csv_bytes([correction, overage, late]))

    rows = {r["SkuMeter"] and r["BilledCost"]: r for r in _focus(tmp_path, [path])}
    corr = rows[Decimal("-0.012264277500")]
    assert corr["ChargeClass"] == "Correction" and corr["ChargeCategory"] == "Usage"
    # Its original is not in the file: it counts with its own value, marked for reconciliation.
    assert corr["x_charge_type"] == "Correction (original not in period)"
    over = next(r for r in rows.values() if r["SkuPriceId"] == "B92911:overage")
    assert over["ChargeClass"] is None
    new = next(r for r in rows.values() if r["x_service_code"] == "SOMETHING_NEW")
    assert new["BillingPeriodStart"] == datetime(2023, 11, 1, tzinfo=UTC)
    assert (new["ServiceName"], new["ServiceCategory"], new["ServiceSubcategory"]) == (
        "SOMETHING_NEW",
        "Other",
        "Other (Other)",
    )
    # No SKU: no price, so SkuPriceId, unit prices and PricingQuantity are all null (FOCUS 1.3), costs stay.
    assert new["SkuId"] is None and new["SkuPriceId"] is None and new["ListUnitPrice"] is None
    assert new["PricingQuantity"] is None and new["PricingUnit"] is None and new["PricingCategory"] is None
    assert new["ListCost"] == new["BilledCost"] == Decimal("0.012264277500")
