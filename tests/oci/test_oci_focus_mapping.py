"""OCI FOCUS reports upgraded to FOCUS 1.3, and how corrections and duplicate deliveries count
(sql/mappings/oci.sql through ``cloudact convert``'s code path)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pytest

from cloudact_cli.convert import convert_files
from tests.oci.conftest import FOCUS_FIXTURE, csv_bytes, focus_rows, sample_rows

CORRECTED = "d2c8e7a1f0b34f6e9a51c3b7e2f40a10"
TWELVE = Decimal("1e-12")


def _focus(tmp_path: Path, inputs: list[Path]) -> list[dict[str, Any]]:
    output = tmp_path / f"focus-{len(list(tmp_path.iterdir()))}.parquet"
    result = convert_files("oci", inputs, output)
    assert result.rows_quarantined == 0, result.quarantine_reasons
    relation = duckdb.connect().sql(f"SELECT * FROM read_parquet('{output}')")
    return [dict(zip(relation.columns, r, strict=True)) for r in relation.fetchall()]


def _by_sku(rows: list[dict[str, Any]], description: str) -> dict[str, Any]:
    return next(r for r in rows if r["ChargeDescription"] == description and r["ChargeClass"] is None)


@pytest.fixture(scope="module")
def upgraded(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    return _focus(tmp_path_factory.mktemp("focus"), [FOCUS_FIXTURE])


def test_oci_values_are_kept_and_renamed_to_1_3(upgraded: list[dict[str, Any]]) -> None:
    row = _by_sku(upgraded, "Standard - E4")
    assert row["BilledCost"] == row["EffectiveCost"] == Decimal("0.05")
    assert (row["BillingAccountId"], row["BillingAccountName"], row["BillingAccountType"]) == (
        "61839204",
        "acmecorp",
        "Billing Account",
    )
    assert row["SubAccountId"].startswith("ocid1.tenancy.") and row["SubAccountType"] == "Tenancy"
    assert row["BillingPeriodStart"] == datetime(2025, 1, 1, tzinfo=UTC)
    assert row["BillingPeriodEnd"] == datetime(2025, 2, 1, tzinfo=UTC)
    assert (row["ChargePeriodStart"], row["ChargePeriodEnd"]) == (
        datetime(2025, 1, 14, 9, tzinfo=UTC),
        datetime(2025, 1, 14, 10, tzinfo=UTC),
    )
    # Renamed 1.0-preview columns, OCI's values.
    assert (row["ProviderName"], row["PublisherName"], row["InvoiceIssuerName"]) == ("OCI", "Oracle", "Oracle")
    assert (row["RegionId"], row["RegionName"]) == ("us-ashburn-1", "US East (Ashburn)")
    # The unit in FOCUS Unit Format; OCI's own spelling stays in x_consumed_unit_raw.
    assert (row["ConsumedQuantity"], row["ConsumedUnit"]) == (Decimal("2"), "OCPU-Hours")
    assert row["x_consumed_unit_raw"] == "OCPU Hours"
    # Derived: Oracle sells and hosts its own service; On-Demand is 1.0's Standard.
    assert row["ServiceProviderName"] == row["HostProviderName"] == "OCI"
    assert row["PricingCategory"] == "Standard" and row["ChargeClass"] is None
    assert (row["ServiceName"], row["ServiceCategory"], row["ServiceSubcategory"]) == (
        "COMPUTE",
        "Compute",
        "Virtual Machines",
    )
    assert row["ListCost"] == row["ListUnitPrice"] * row["PricingQuantity"] == row["ContractedCost"]
    assert row["ContractedUnitPrice"] == Decimal("0.025") and row["SkuPriceId"] == "B93113"
    assert json.loads(row["SkuPriceDetails"]) == {"x_OverageFlag": "N"}
    assert json.loads(row["Tags"])["Finance.CostCenter"] == "cc-1042"
    assert row["AvailabilityZone"] == "dXTm:US-ASHBURN-AD-1" and row["ResourceType"] == "instance"
    assert row["x_charge_type"] == "On-Demand" and row["x_source_provider"] == "oci"
    assert row["CommitmentDiscountId"] is None and row["CommitmentDiscountStatus"] is None


def test_what_1_3_requires_is_derived_where_the_data_allows(upgraded: list[dict[str, Any]]) -> None:
    # A service not in our reference: OCI's category, its "Other" subcategory (consistent with it).
    workspace = _by_sku(upgraded, "Data Integration - Workspace Usage")
    assert (workspace["ServiceCategory"], workspace["ServiceSubcategory"]) == ("Integration", "Other (Integration)")
    # No SkuPriceId from OCI on a priced line: the SKU is the price id, so 1.3's prices are set.
    retrieval = _by_sku(upgraded, "Monitoring Service - Retrieval")
    assert retrieval["SkuPriceId"] == "B90926" and retrieval["ListUnitPrice"] == Decimal("0.0015")
    assert retrieval["PricingCategory"] == "Standard" and retrieval["ConsumedUnit"] == "1000000 Datapoints"
    # Free-tier egress: billed 0, priced at list; ContractedCost follows the 1.3 identity.
    egress = _by_sku(upgraded, "Outbound Data Transfer Zone 1")
    assert egress["BilledCost"] == egress["EffectiveCost"] == 0
    assert egress["ListCost"] == egress["ContractedCost"] == Decimal("0.0272")
    frankfurt = _by_sku(upgraded, "MySQL Database Service - Storage")
    assert (frankfurt["RegionId"], frankfurt["RegionName"]) == ("eu-frankfurt-1", "Germany Central (Frankfurt)")
    assert frankfurt["Tags"] is None
    bucket = _by_sku(upgraded, "Object Storage - Storage")
    assert bucket["ResourceId"] == "idzq8kxh2f4p/nightly-backups" and bucket["ResourceType"] == "bucket"


def test_a_correction_supersedes_the_line_it_points_back_to(upgraded: list[dict[str, Any]]) -> None:
    rows = focus_rows()
    assert len(upgraded) == len(rows) - 1  # the corrected line is superseded, not summed
    corrections = [r for r in upgraded if r["ChargeClass"] == "Correction"]
    assert len(corrections) == 2
    matched = next(r for r in corrections if r["x_charge_type"] == "Correction")
    assert matched["BilledCost"] == Decimal("0.0375") and matched["ConsumedQuantity"] == Decimal("1.5")
    unmatched = next(r for r in corrections if r["x_charge_type"] != "Correction")
    assert unmatched["x_charge_type"] == "Correction (original not in period)"
    assert unmatched["BilledCost"] == Decimal("0.001164383562")
    expected = sum(Decimal(r["BilledCost"]).quantize(TWELVE) for r in rows if r["oci_ReferenceNumber"] != CORRECTED)
    assert sum(r["BilledCost"] for r in upgraded) == expected


def test_a_report_delivered_twice_counts_once(tmp_path: Path) -> None:
    copy = tmp_path / "focus_report_2025-01-14-redelivered.csv"
    copy.write_bytes(FOCUS_FIXTURE.read_bytes())

    once, twice = _focus(tmp_path, [FOCUS_FIXTURE]), _focus(tmp_path, [FOCUS_FIXTURE, copy])

    assert len(twice) == len(once) == 11
    assert sum(r["BilledCost"] for r in twice) == sum(r["BilledCost"] for r in once)


def test_a_correction_in_a_later_month_never_rewrites_the_earlier_one(tmp_path: Path) -> None:
    rows = focus_rows()
    december = {
        **rows[0],
        "oci_ReferenceNumber": "dec-1",
        "BillingPeriodStart": "2024-12-01T00:00:00.000Z",
        "BillingPeriodEnd": "2025-01-01T00:00:00.000Z",
        "ChargePeriodStart": "2024-12-31T22:00Z",
        "ChargePeriodEnd": "2024-12-31T23:00Z",
    }
    january = {**rows[0], "oci_ReferenceNumber": "jan-1", "oci_BackReferenceNumber": "dec-1", "BilledCost": "0.04"}
    dec_file, jan_file = tmp_path / "dec.csv", tmp_path / "jan.csv"
    dec_file.write_bytes(csv_bytes([december]))
    jan_file.write_bytes(csv_bytes([january]))

    separately = _focus(tmp_path, [dec_file]) + _focus(tmp_path, [jan_file])
    together = _focus(tmp_path, [dec_file, jan_file])

    def key(r: dict[str, Any]) -> tuple[Any, ...]:
        return (r["BillingPeriodStart"], r["BilledCost"], r["ChargeClass"], r["x_charge_type"])

    assert sorted(map(key, together)) == sorted(map(key, separately))
    assert sorted(map(key, together)) == [
        (datetime(2024, 12, 1, tzinfo=UTC), Decimal("0.05"), None, "On-Demand"),
        (datetime(2025, 1, 1, tzinfo=UTC), Decimal("0.04"), "Correction", "Correction (original not in period)"),
    ]


def test_cost_report_corrections_chain_and_duplicates(tmp_path: Path) -> None:
    base = sample_rows()[0]
    original = {**base, "lineItem/referenceNo": "orig"}
    first = {**base, "lineItem/referenceNo": "corr-1", "lineItem/isCorrection": "true"}
    first |= {"lineItem/backreferenceNo": "orig", "cost/myCost": "0.01"}
    second = {**base, "lineItem/referenceNo": "corr-2", "lineItem/isCorrection": "true"}
    second |= {"lineItem/backreferenceNo": "corr-1", "cost/myCost": "0.008"}
    path, again = tmp_path / "a.csv", tmp_path / "b.csv"
    path.write_bytes(csv_bytes([original, first, second]))
    again.write_bytes(path.read_bytes())

    rows = _focus(tmp_path, [path, again])

    # The latest statement of the line wins, once, however often the file was delivered.
    assert [(r["BilledCost"], r["ChargeClass"], r["x_charge_type"]) for r in rows] == [
        (Decimal("0.008"), "Correction", "Correction")
    ]
