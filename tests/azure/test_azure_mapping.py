"""Azure raw rows -> FOCUS 1.3 (sql/mappings/azure.sql), asserted on the samples and on synthetic rows."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from tests.azure.conftest import EA_ACTUAL, EA_AMORTIZED, FFS_ACTUAL, focus_rows, write_csv
from tests.azure.test_azure_formats import MCA_ROW

SEP = datetime(2023, 9, 1, tzinfo=UTC)
OCT = datetime(2023, 10, 1, tzinfo=UTC)


def _ffs_rows() -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(FFS_ACTUAL.read_text())))


def test_actual_plus_amortized_follows_microsofts_rules(tmp_path: Path) -> None:
    rows = focus_rows([EA_ACTUAL, EA_AMORTIZED], tmp_path)
    # 28 amortized rows + the actual reservation purchase; no actual usage row is counted twice.
    assert len(rows) == 29
    purchase = next(r for r in rows if r["ChargeCategory"] == "Purchase")
    assert purchase["BilledCost"] == Decimal("3.25") and purchase["EffectiveCost"] == 0
    assert purchase["ChargeFrequency"] == "Recurring" and purchase["ChargeClass"] is None
    assert purchase["PricingCategory"] == "Standard" and purchase["CommitmentDiscountStatus"] is None
    assert purchase["CommitmentDiscountType"] == "Reservation" and purchase["CommitmentDiscountCategory"] == "Usage"
    assert purchase["CommitmentDiscountId"].startswith("/providers/microsoft.capacity/reservationorders/49ed0e4d")

    covered = next(r for r in rows if r["CommitmentDiscountType"] == "Reservation" and r["ChargeCategory"] == "Usage")
    assert covered["BilledCost"] == 0 and covered["EffectiveCost"] == Decimal("0.493152")
    assert covered["CommitmentDiscountStatus"] == "Used" and covered["PricingCategory"] == "Committed"
    assert covered["CommitmentDiscountId"] == (
        "/providers/microsoft.capacity/reservationorders/a965d46f-aedf-4176-8ff1-2617943b8960"
        "/reservations/f39d1c73-af74-4308-9083-fbf5efab37d1"
    )
    assert covered["CommitmentDiscountName"] == "ProdDS1VMReservation"
    assert covered["CommitmentDiscountQuantity"] == 8 and covered["CommitmentDiscountUnit"] == "Hours"
    # EA writes PayGPrice 0 on covered rows: the list price is then UnitPrice.
    assert covered["ListUnitPrice"] == Decimal("0.146") and covered["ListCost"] == Decimal("1.168")
    assert covered["SkuPriceDetails"].startswith('{"x_UsageType":"ComputeHR"')

    plan = next(r for r in rows if r["CommitmentDiscountType"] == "Savings Plan")
    assert plan["CommitmentDiscountCategory"] == "Spend" and plan["CommitmentDiscountUnit"] == "USD"
    assert plan["CommitmentDiscountId"].startswith("/providers/microsoft.billingbenefits/savingsplanorders/")
    assert plan["BilledCost"] == 0 and plan["EffectiveCost"] == plan["CommitmentDiscountQuantity"]

    assert sum(r["BilledCost"] for r in rows) == Decimal("3.25") + Decimal("15.797780136169")
    assert sum(r["EffectiveCost"] for r in rows) == Decimal("16.296932136637")
    for r in rows:
        assert r["BillingPeriodStart"] == SEP and r["BillingPeriodEnd"] == OCT
        assert r["ChargePeriodEnd"] - r["ChargePeriodStart"] == (OCT - SEP) / 30
        assert r["ProviderName"] == r["ServiceProviderName"] == r["PublisherName"] == "Microsoft"
        assert r["InvoiceIssuerName"] == "Microsoft" and r["BillingAccountId"] == "8611537"
        assert r["ServiceCategory"] != "Other", r["ServiceName"]
        assert r["x_source_provider"] == "azure"


def test_actual_only_keeps_every_actual_row(tmp_path: Path) -> None:
    rows = focus_rows([EA_ACTUAL], tmp_path)
    assert len(rows) == 11
    assert sum(r["BilledCost"] for r in rows) == Decimal("8.545007786742")


def test_finops_foundation_sample_values(tmp_path: Path) -> None:
    rows = focus_rows([FFS_ACTUAL], tmp_path)
    assert len(rows) == 27 and all(r["BillingCurrency"] == "CAD" for r in rows)
    queue = next(r for r in rows if r["SkuMeter"] == "Class 2 Operations")
    assert queue["ServiceName"] == "Storage Accounts" and queue["ServiceCategory"] == "Storage"
    assert queue["ServiceSubcategory"] == "Object Storage"
    assert queue["RegionId"] == "centralus" and queue["RegionName"] == "Central US"
    assert queue["Tags"] == '{"tagA":"valueA","tagB":"valueB","tagC":"valueC"}'
    assert queue["PricingUnit"] == "10000 Units" and queue["PricingQuantity"] == Decimal("0.0129")
    assert queue["ConsumedQuantity"] == Decimal("129") and queue["ConsumedUnit"] == "Units"
    assert queue["ChargePeriodStart"] == datetime(2023, 9, 2, tzinfo=UTC)
    assert queue["BilledCost"] == Decimal("0.0000564902") and queue["ChargeFrequency"] == "Usage-Based"
    spot = [r for r in rows if r["SkuMeter"] and "Spot" in r["SkuMeter"]]
    assert spot and {r["PricingCategory"] for r in spot} == {"Dynamic"}
    services = {(r["x_service_code"], r["ServiceName"], r["ServiceCategory"]) for r in rows}
    assert all(category != "Other" for _, _, category in services), services


def test_refund_unused_marketplace_and_tax_rows(tmp_path: Path) -> None:
    base = _ffs_rows()[0]
    order = "/providers/Microsoft.Capacity/reservationOrders/o1/reservations/r1"
    refund = base | {
        "ChargeType": "Refund",
        "PricingModel": "Reservation",
        "Frequency": "OneTime",
        "CostInBillingCurrency": "-5",
        "benefitId": order,
    }
    unused = base | {
        "ChargeType": "UnusedReservation",
        "PricingModel": "Reservation",
        "CostInBillingCurrency": "2",
        "benefitId": order,
    }
    market = base | {"PublisherType": "Marketplace", "PublisherName": "Datadog", "ResourceId": ""}
    rounding = base | {"ChargeType": "RoundingAdjustment", "CostInBillingCurrency": "0.01"}
    rows = focus_rows([write_csv(tmp_path / "Amortized_part.csv", [refund, unused, market, rounding])], tmp_path)
    by_type = {r["x_charge_type"] + (r["PublisherName"] if r["PublisherName"] != "Microsoft" else ""): r for r in rows}
    r = by_type["Refund"]
    assert (r["ChargeCategory"], r["ChargeClass"], r["ChargeFrequency"]) == ("Purchase", "Correction", "One-Time")
    assert r["BilledCost"] == -5 and r["EffectiveCost"] == 0
    u = by_type["UnusedReservation"]
    assert (u["ChargeCategory"], u["CommitmentDiscountStatus"]) == ("Usage", "Unused")
    assert u["BilledCost"] == 0 and u["EffectiveCost"] == 2 and u["ConsumedQuantity"] is None
    m = by_type["UsageDatadog"]
    assert m["ServiceProviderName"] == m["PublisherName"] == m["HostProviderName"] == "Datadog"
    assert m["InvoiceIssuerName"] == "Microsoft" and m["ProviderName"] == "Microsoft"
    assert by_type["RoundingAdjustment"]["ChargeCategory"] == "Adjustment"


def test_mca_row(tmp_path: Path) -> None:
    (row,) = focus_rows([write_csv(tmp_path / "mca_actual.csv", [MCA_ROW])], tmp_path)
    assert row["BillingAccountId"] == "BP-1" and row["BillingAccountType"] == "Billing Profile"
    assert row["InvoiceId"] == "G123" and row["SkuId"] == "DZH318Z0BQPS"
    assert row["BillingCurrency"] == "EUR" and row["PricingCurrency"] == "USD"
    assert row["ListUnitPrice"] == Decimal("0.09") and row["ListCost"] == Decimal("0.9")  # 0.1 USD x 0.9
    assert row["PricingCurrencyListUnitPrice"] == Decimal("0.1")
    assert row["BillingPeriodStart"] == datetime(2024, 3, 1, tzinfo=UTC)
    assert row["BillingPeriodEnd"] == datetime(2024, 4, 1, tzinfo=UTC)
    assert row["RegionName"] == "West Europe" and row["ResourceType"] == "microsoft.compute/virtualmachines"
    assert row["ResourceName"] == "vm1"
