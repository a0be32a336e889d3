"""Azure layouts other than EA / MCA cost details: legacy pay-as-you-go usage details and partner (CSP) exports.

- Pay-as-you-go (MOSP) usage details, schema 2019-11-01 (``SubscriptionGuid``, ``UsageDateTime``,
  ``PreTaxCost`` ...), with PascalCase and camelCase headers: no billing period, no billing account,
  no charge type columns.
- Cost details of a Microsoft Partner Agreement at subscription scope (CSP customers): MCA columns
  without ``billingAccountId`` / ``billingProfileId``; the billing account is the customer's tenant,
  else the subscription.

Expected values are read from the fixtures themselves, so a test checks the conversion, not a number.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pytest

from cloudact_providers.azure.formats import build_raw_select, normalize_header
from cloudact_providers.registry import registration
from cloudact_shared.errors import FailedPrecondition
from tests.azure.conftest import focus_rows, write_csv
from tests.conformance.validator import assert_sample_conforms
from tests.conftest import DATA

PAYG = DATA / "azure" / "PAYG_UsageDetails_2024-03.csv"
PAYG_CAMEL = DATA / "azure" / "PAYG_UsageDetails_camelCase_2024-02.csv"
CSP_ACTUAL = DATA / "azure" / "CSP_ActualCost_subscription_2024-03.csv"
CSP_AMORTIZED = DATA / "azure" / "CSP_AmortizedCost_subscription_2024-03.csv"
NEW_SAMPLES = ("payg_usage_details", "payg_usage_details_camelcase", "csp_subscription_actual_plus_amortized")
_COMMITMENTS = ("Reservation", "SavingsPlan")


def _source(path: Path) -> list[dict[str, str]]:
    """The file's rows keyed by normalized header, so PascalCase and camelCase files read alike."""
    return [{normalize_header(k): v for k, v in row.items()} for row in csv.DictReader(io.StringIO(path.read_text()))]


def _raw(path: Path) -> list[dict[str, Any]]:
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    cursor = con.execute(build_raw_select(con, path, source_object=path.name))
    names = [d[0] for d in cursor.description]
    rows = [dict(zip(names, r, strict=True)) for r in cursor.fetchall()]
    return sorted(rows, key=lambda r: int(r["_source_row_number"]))


def _day(text: str) -> date:
    """A usage date as the exports write it: ISO (2024-03-01) or US (02/29/2024)."""
    return datetime.strptime(text[:10], "%m/%d/%Y" if "/" in text else "%Y-%m-%d").date()


def _total(rows: list[dict[str, str]], column: str) -> Decimal:
    return sum((Decimal(r[column]) for r in rows if r[column]), Decimal(0))


# ---- pay-as-you-go usage details (2019-11-01) ----


@pytest.mark.parametrize("path", [PAYG, PAYG_CAMEL], ids=["PascalCase", "camelCase"])
def test_payg_usage_details_layout_detected(path: Path) -> None:
    source, rows = _source(path), _raw(path)
    assert len(rows) == len(source) and all(r["_quarantine_reason"] is None for r in rows)
    assert {r["source_format"] for r in rows} == {"azure_payg_csv"}
    # Only usage in this layout ("Cost and Usage Details (Usage Only)"): actual cost, every row a Usage charge.
    assert {r["dataset"] for r in rows} == {"actual"} and {r["charge_type"] for r in rows} == {"Usage"}
    for raw, src in zip(rows, source, strict=True):
        assert raw["subscription_id"] == src["subscriptionguid"]
        assert raw["date"] == _day(src["usagedatetime"]) and raw["billing_period"] == raw["date"].replace(day=1)
        assert raw["cost_in_billing_currency"] == Decimal(src["pretaxcost"])
        assert raw["quantity"] == Decimal(src["usagequantity"])
        assert raw["effective_price"] == Decimal(src["resourcerate"])
        assert raw["billing_currency"] == src["currency"] and raw["resource_id"] == src["instanceid"]
        assert raw["meter_category"] == src["metercategory"] and raw["unit_of_measure"] == src["unitofmeasure"]
    tagged = next(r for r, s in zip(rows, source, strict=True) if s["tags"])
    assert tagged["tags"] and all(isinstance(v, str) for v in tagged["tags"].values())


@pytest.mark.parametrize("path", [PAYG, PAYG_CAMEL], ids=["PascalCase", "camelCase"])
def test_payg_money_conserved_per_billing_period(path: Path, tmp_path: Path) -> None:
    source, rows = _source(path), focus_rows([path], tmp_path)
    assert len(rows) == len(source)
    expected: dict[datetime, Decimal] = defaultdict(Decimal)
    for src in source:
        day = _day(src["usagedatetime"]).replace(day=1)
        expected[datetime(day.year, day.month, 1, tzinfo=UTC)] += Decimal(src["pretaxcost"])
    for metric in ("BilledCost", "EffectiveCost", "ListCost", "ContractedCost"):
        got: dict[datetime, Decimal] = defaultdict(Decimal)
        for r in rows:
            got[r["BillingPeriodStart"]] += r[metric]
        assert got == expected, metric
    assert {r["ChargeCategory"] for r in rows} == {"Usage"}
    assert all(r["ServiceCategory"] != "Other" and r["RegionId"] for r in rows), {r["ServiceName"] for r in rows}


@pytest.mark.parametrize("path", [PAYG, PAYG_CAMEL], ids=["PascalCase", "camelCase"])
def test_payg_billing_account_is_the_subscription(path: Path, tmp_path: Path) -> None:
    (subscription,) = {s["subscriptionguid"] for s in _source(path)}
    for r in focus_rows([path], tmp_path):
        assert r["BillingAccountId"] == r["SubAccountId"] == subscription
        assert r["BillingAccountType"] == "Subscription" and r["SubAccountType"] == "Subscription"


def test_legacy_usage_details_without_currency_is_refused_as_payg(tmp_path: Path) -> None:
    # The EA 2019-10-01 legacy layout has the same cost and date columns but no currency: named, not guessed.
    rows = [{k: v for k, v in r.items() if k != "Currency"} for r in csv.DictReader(io.StringIO(PAYG.read_text()))]
    with pytest.raises(FailedPrecondition, match=r"not an Azure pay-as-you-go usage details export.*BillingCurrency"):
        _raw(write_csv(tmp_path / "legacy.csv", rows))


# ---- partner (CSP) cost details at subscription scope ----


def test_partner_export_layout_detected() -> None:
    for path, dataset in ((CSP_ACTUAL, "actual"), (CSP_AMORTIZED, "amortized")):
        source, rows = _source(path), _raw(path)
        assert len(rows) == len(source) and all(r["_quarantine_reason"] is None for r in rows)
        assert {r["source_format"] for r in rows} == {"azure_mca_csv"} and {r["dataset"] for r in rows} == {dataset}
        for raw, src in zip(rows, source, strict=True):
            assert raw["billing_account_id"] is None and raw["billing_profile_id"] is None
            assert raw["customer_tenant_id"] == src["customertenantid"] and raw["partner_name"] == src["partnername"]
            assert raw["cost_in_billing_currency"] == Decimal(src["costinbillingcurrency"])


def test_partner_money_conserved_actual_plus_amortized(tmp_path: Path) -> None:
    actual, amortized = _source(CSP_ACTUAL), _source(CSP_AMORTIZED)
    rows = focus_rows([CSP_ACTUAL, CSP_AMORTIZED], tmp_path)
    # Microsoft's conversion: every amortized row + the actual commitment purchases and refunds.
    purchases = [r for r in actual if r["chargetype"] in ("Purchase", "Refund") and r["pricingmodel"] in _COMMITMENTS]
    assert purchases and len(rows) == len(amortized) + len(purchases)
    assert sum(r["BilledCost"] for r in rows) == _total(actual, "costinbillingcurrency")
    assert sum(r["EffectiveCost"] for r in rows) == _total(amortized, "costinbillingcurrency")
    # Pricing currency (USD) amounts are the billing currency (EUR) ones back through the exchange rate.
    assert {(r["BillingCurrency"], r["PricingCurrency"]) for r in rows} == {("EUR", "USD")}
    priced = sum(r["PricingCurrencyEffectiveCost"] for r in rows)
    assert abs(priced - _total(amortized, "costinusd")) < Decimal("0.0001"), priced
    market = [r for r in rows if r["ServiceProviderName"] != "Microsoft"]
    assert {(r["ServiceProviderName"], r["HostProviderName"]) for r in market} == {("Canonical", "Microsoft")}
    commitments = [r for r in rows if r["CommitmentDiscountId"] and r["ChargeCategory"] == "Usage"]
    assert {r["CommitmentDiscountStatus"] for r in commitments} == {"Used", "Unused"}


def test_partner_billing_account_is_the_customer_tenant(tmp_path: Path) -> None:
    source = _source(CSP_ACTUAL)
    ((tenant, customer, partner, subscription),) = {
        (s["customertenantid"], s["customername"], s["partnername"], s["subscriptionid"]) for s in source
    }
    for r in focus_rows([CSP_ACTUAL, CSP_AMORTIZED], tmp_path):
        assert (r["BillingAccountId"], r["BillingAccountName"]) == (tenant, customer)
        assert r["BillingAccountType"] == "Customer"
        assert r["SubAccountId"] == subscription and r["InvoiceIssuerName"] == partner


def test_partner_billing_account_falls_back_to_the_subscription(tmp_path: Path) -> None:
    rows = list(csv.DictReader(io.StringIO(CSP_ACTUAL.read_text())))
    for row in rows[::2]:
        row.update(customerTenantId="", customerName="")
    focus = focus_rows([write_csv(tmp_path / "csp_actual.csv", rows)], tmp_path)
    by_account = {r["BillingAccountId"]: r for r in focus}
    tenant = next(r["customerTenantId"] for r in rows if r["customerTenantId"])
    subscription = rows[0]["SubscriptionId"]
    assert set(by_account) == {tenant, subscription}
    fallback = by_account[subscription]
    assert fallback["BillingAccountName"] == rows[0]["subscriptionName"]
    assert fallback["BillingAccountType"] == "Subscription"
    assert sum(r["BilledCost"] for r in focus) == sum(Decimal(r["costInBillingCurrency"]) for r in rows)

    # Neither a tenant nor a subscription: the row has no billing account and is quarantined, not guessed.
    rows[1].update(customerTenantId="", SubscriptionId="")
    (bad,) = [r for r in _raw(write_csv(tmp_path / "csp_bad.csv", rows)) if r["_quarantine_reason"]]
    assert bad["_source_row_number"] == 2
    assert bad["_quarantine_reason"] == "missing billing account (CustomerTenantId / SubscriptionId)"


# ---- the FOCUS validator gate, on the samples registered for these layouts ----


@pytest.mark.timeout(960)
@pytest.mark.parametrize("name", NEW_SAMPLES)
def test_new_layout_samples_pass_the_focus_validator(name: str, tmp_path: Path) -> None:
    spec = registration("azure")
    sample = next((s for s in spec.samples if s.name == name), None)
    assert sample is not None, f"{name} is not a registered azure sample"
    assert assert_sample_conforms(spec, sample, tmp_path).startswith("Total:")
