"""Microsoft's FOCUS export (FocusCost 1.0 / 1.0r2 / 1.2-preview) -> raw -> FOCUS 1.3: file parsing,
the upgrade mapping, Parquet parts and precedence over cost details (the validator gate is
tests/conformance/test_focus_validator.py, parametrized from the registration)."""

from __future__ import annotations

import csv
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pytest

from cloudact_cli.convert import convert_files
from cloudact_shared.errors import FailedPrecondition
from cloudact_shared.lineage import LINEAGE_COLUMNS
from tests.azure.conftest import EA_ACTUAL, write_csv
from tests.azure.test_azure_formats import _rows as _raw

DATA = Path(__file__).resolve().parents[1] / "data" / "azure"
FOCUS_10 = DATA / "FocusCost_1.0_ea.csv"
FOCUS_10R2 = DATA / "FocusCost_1.0r2_ea.csv"
FOCUS_12 = DATA / "FocusCost_1.2-preview_mca.csv"
FIXTURES = [FOCUS_10, FOCUS_10R2, FOCUS_12]
IDS = ["1.0", "1.0r2", "1.2-preview"]


def _rows(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(path.open(newline="")))


def _focus(inputs: list[Path], tmp_path: Path) -> list[dict[str, Any]]:
    output = tmp_path / "focus.parquet"
    result = convert_files("azure", inputs, output)
    assert result.rows_quarantined == 0
    cursor = duckdb.connect().execute(f"SELECT * FROM '{output}' ORDER BY ChargePeriodStart, BilledCost, EffectiveCost")
    names = [d[0] for d in cursor.description]
    # Lineage differs per conversion run; the rows are compared without it.
    return [{k: v for k, v in zip(names, r, strict=True) if k not in LINEAGE_COLUMNS} for r in cursor.fetchall()]


def _sum(rows: list[dict[str, str]], column: str) -> Decimal:
    return sum((Decimal(r[column] or "0") for r in rows), Decimal(0))


# -- raw ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("path", FIXTURES, ids=IDS)
def test_focuscost_is_recognised_by_its_columns_and_lands_in_the_focus_columns(path: Path) -> None:
    source = _rows(path)
    raw = _raw(path)
    assert len(raw) == len(source) and all(r["_quarantine_reason"] is None for r in raw)
    assert {r["dataset"] for r in raw} == {"focus"}
    assert {r["source_format"] for r in raw} == {"azure_focus_csv"}
    assert {str(r["billing_period"]) for r in raw} == {"2024-09-01"}
    assert sum(r["billed_cost"] for r in raw) == _sum(source, "BilledCost")
    first = raw[0]
    assert first["charge_period_start"].isoformat() == "2024-09-02T00:00:00+00:00"
    # x_ columns restating a cost-details column land in it; the others are kept verbatim.
    # (1.2-preview delivers SkuMeter instead of x_SkuMeterName.)
    assert (first["meter_name"] or first["sku_meter"]) == "D4s v3" and first["resource_group"] == "rg-prod"
    assert first["extra_columns"]["x_ResourceType"] == "microsoft.compute/virtualmachines"
    assert first["tags"] == {"env": "prod", "team": "web"}


def test_version_1_0_columns_are_renamed_into_1_2_places(tmp_path: Path) -> None:
    rows = _rows(FOCUS_10)[:1]
    rows[0]["x_InvoiceId"] = "G012345678"
    rows[0]["x_PricingCurrency"] = "USD"
    raw = _raw(write_csv(tmp_path / "one.csv", rows))[0]
    assert (raw["invoice_id"], raw["pricing_currency"], raw["meter_name"]) == ("G012345678", "USD", "D4s v3")
    focus = _focus([tmp_path / "one.csv"], tmp_path)[0]
    assert (focus["InvoiceId"], focus["PricingCurrency"], focus["SkuMeter"]) == ("G012345678", "USD", "D4s v3")


def test_manifest_and_columns_must_agree(tmp_path: Path) -> None:
    cost_details = write_csv(tmp_path / "cd.csv", [{"Date": "9/2/2023", "CostInBillingCurrency": "1"}])
    with pytest.raises(FailedPrecondition, match="says FocusCost"):
        _raw(cost_details, source_object="https://x/part.csv#dataset=focus")
    with pytest.raises(FailedPrecondition, match="FocusCost columns"):
        _raw(FOCUS_12, source_object="https://x/part.csv#dataset=actual")
    rows = [{k: v for k, v in r.items() if k != "ChargePeriodEnd"} for r in _rows(FOCUS_12)]
    with pytest.raises(FailedPrecondition, match="required columns missing: ChargePeriodEnd"):
        _raw(write_csv(tmp_path / "partial.csv", rows))


def test_bad_values_quarantine_their_row(tmp_path: Path) -> None:
    rows = _rows(FOCUS_10R2)
    rows[0]["ChargePeriodStart"] = "yesterday"
    rows[1]["BilledCost"] = ""
    raw = _raw(write_csv(tmp_path / "bad.csv", rows))
    reasons = [r["_quarantine_reason"] for r in raw]
    assert reasons[0] == "unparsable timestamp in ChargePeriodStart: 'yesterday'"
    assert reasons[1] == "missing billed cost (BilledCost)"
    assert all(r is None for r in reasons[2:])


# -- the upgrade to 1.3 ---------------------------------------------------------------------------------
@pytest.mark.parametrize("path", FIXTURES, ids=IDS)
def test_microsofts_values_are_kept(path: Path, tmp_path: Path) -> None:
    source = _rows(path)
    focus = _focus([path], tmp_path)
    assert len(focus) == len(source)
    for column in ("BilledCost", "EffectiveCost", "ListCost", "ContractedCost"):
        assert sum(r[column] for r in focus) == _sum(source, column), column
    assert sorted(r["ChargeCategory"] for r in focus) == sorted(r["ChargeCategory"] for r in source)
    assert [r["ChargeClass"] for r in focus].count("Correction") == 1
    assert {r["CommitmentDiscountId"] for r in focus} == {r["CommitmentDiscountId"] or None for r in source}
    vm = next(r for r in focus if r["ResourceName"] == "vm-web-01" and r["ServiceName"] == "Virtual Machines")
    assert (vm["ServiceCategory"], vm["ServiceSubcategory"]) == ("Compute", "Virtual Machines")
    assert vm["Tags"] == '{"env":"prod","team":"web"}'


@pytest.mark.parametrize("path", FIXTURES, ids=IDS)
def test_providers_and_derived_columns(path: Path, tmp_path: Path) -> None:
    focus = _focus([path], tmp_path)
    saas = next(r for r in focus if r["ChargeDescription"].startswith("Contoso Analytics SaaS"))
    # Marketplace SaaS: the vendor sells and hosts it; Microsoft invoices it.
    assert (saas["ServiceProviderName"], saas["HostProviderName"], saas["InvoiceIssuerName"]) == (
        "Fabrikam Software", "Fabrikam Software", "Microsoft")  # fmt: skip
    assert (saas["ProviderName"], saas["PublisherName"], saas["ServiceName"]) == (
        "Microsoft", "Fabrikam Software", "Fabrikam Software")  # fmt: skip
    assert saas["SkuPriceId"] is None and saas["PricingQuantity"] is None and saas["ListUnitPrice"] is None
    firewall = next(r for r in focus if r["ServiceName"] == "Fabrikam Firewall")
    assert (firewall["ServiceProviderName"], firewall["HostProviderName"]) == ("Fabrikam Software", "Microsoft")
    # Reservation use: normalized hours (x_SkuDetails RINormalizationRatio 2) in the consumed unit.
    used = next(
        r for r in focus if r["CommitmentDiscountStatus"] == "Used" and r["CommitmentDiscountType"] == "Reservation"
    )
    assert (used["CommitmentDiscountQuantity"], used["CommitmentDiscountUnit"]) == (Decimal(48), "Hours")
    unused_sp = next(
        r for r in focus if r["CommitmentDiscountStatus"] == "Unused" and r["CommitmentDiscountCategory"] == "Spend"
    )
    # No price: 1.3 nulls the priced columns; no description from Microsoft: named after the commitment.
    assert unused_sp["SkuPriceId"] is None and unused_sp["CommitmentDiscountQuantity"] is None
    assert unused_sp["ChargeDescription"] == "Unused Savings Plan Compute_SP_1yr"
    assert unused_sp["PublisherName"] == "Microsoft" and unused_sp["ConsumedQuantity"] is None
    purchase = next(
        r for r in focus if r["ChargeCategory"] == "Purchase" and r["CommitmentDiscountId"] and not r["ChargeClass"]
    )
    assert purchase["EffectiveCost"] == 0 and purchase["CommitmentDiscountStatus"] is None
    assert purchase["ServiceName"] == "Virtual Machines" and purchase["SkuMeter"] == "Reservations"
    assert purchase["ServiceSubcategory"] == "Virtual Machines"


def test_pricing_currency_columns_from_the_exchange_rate(tmp_path: Path) -> None:
    focus = _focus([FOCUS_12], tmp_path)
    vm = next(r for r in focus if r["ResourceName"] == "vm-web-01" and r["ServiceName"] == "Virtual Machines")
    assert (vm["BillingCurrency"], vm["PricingCurrency"], vm["InvoiceId"]) == ("EUR", "USD", "E0600BR1KX")
    assert vm["PricingCurrencyListUnitPrice"] == Decimal("0.192")  # 0.1728 EUR / 0.9
    assert vm["PricingCurrencyEffectiveCost"] == Decimal("4.1472")
    assert {r["BillingAccountType"] for r in focus} == {"Billing Profile"}


def test_1_0_and_1_0r2_differ_only_in_date_format(tmp_path: Path) -> None:
    first = _focus([FOCUS_10], tmp_path / "a")
    second = _focus([FOCUS_10R2], tmp_path / "b")
    assert first == second


def test_parquet_part_gives_the_same_rows_as_csv(tmp_path: Path) -> None:
    parquet = tmp_path / "part_0_0001.parquet"
    # As Microsoft writes Parquet: typed timestamps and decimals, the rest strings.
    typed = {"BilledCost", "EffectiveCost", "ListCost", "ContractedCost", "ListUnitPrice", "ContractedUnitPrice",
             "PricingQuantity", "ConsumedQuantity", "x_BillingExchangeRate"}  # fmt: skip
    stamps = {"BillingPeriodStart", "BillingPeriodEnd", "ChargePeriodStart", "ChargePeriodEnd"}
    header = list(_rows(FOCUS_12)[0])
    casts = ", ".join(
        f'CAST("{c}" AS DECIMAL(38, 12)) AS "{c}"' if c in typed
        else f'CAST("{c}" AS TIMESTAMPTZ) AS "{c}"' if c in stamps
        else f'"{c}"'
        for c in header
    )  # fmt: skip
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute(
        f"COPY (SELECT {casts} FROM read_csv('{FOCUS_12}', all_varchar = true)) TO '{parquet}' (FORMAT parquet)"
    )
    assert {r["source_format"] for r in _raw(parquet)} == {"azure_focus_parquet"}
    assert _focus([parquet], tmp_path / "p") == _focus([FOCUS_12], tmp_path / "c")


def test_focuscost_wins_over_cost_details_of_the_same_account_and_month(tmp_path: Path) -> None:
    # The EA sample is enrollment 8611537, September 2023: move the FocusCost fixture there.
    moved = tmp_path / "focus_2023_09.csv"
    moved.write_text(FOCUS_10R2.read_text().replace("2024-09-", "2023-09-").replace("2024-10-01", "2023-10-01"))
    both = _focus([EA_ACTUAL, moved], tmp_path / "both")
    alone = _focus([moved], tmp_path / "alone")
    assert both == alone
    # Another month of the same account is untouched.
    assert len(_focus([EA_ACTUAL, FOCUS_10R2], tmp_path / "apart")) == len(_focus([EA_ACTUAL], tmp_path / "ea")) + 10
