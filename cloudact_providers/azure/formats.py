"""Azure Cost Management export files: their declared format.

Kinds of export, told apart by their columns: cost details (ActualCost / AmortizedCost, EA and MCA),
Microsoft's FOCUS export (FocusCost, dataset versions 1.0, 1.0r2 and 1.2-preview), and two layouts
without a billing account column: pay-as-you-go usage details (schema 2019-11-01: ``SubscriptionGuid``,
``UsageDateTime``, ``PreTaxCost`` ...) and partner (CSP) cost details at subscription scope (MCA columns
with ``customerTenantId`` but no ``billingAccountId`` / ``billingProfileId``).

- Headers are matched case-insensitively and without separators (``CostInBillingCurrency``,
  ``costInBillingCurrency``, ``cost_in_billing_currency`` are one column), with the older EA names
  as variants (``Cost``, ``BillingCurrency``, ``Product``, ``InvoiceSection`` ...).
- Dates are US ``MM/DD/YYYY`` (cost details CSV) or ISO; decimals may use exponents (``5.6E-05``).
- ``Tags`` (JSON, EA CSVs without the outer braces) becomes a MAP; ``AdditionalInfo`` stays JSON text.
- Unknown columns are kept in ``extra_columns``; one bad value quarantines its row, not the file.

The ``dataset`` column (actual | amortized | focus) comes from the export manifest's type, which the
connector appends to the object URI as ``#dataset=<actual|amortized|focus>``; a file whose columns
are FOCUS's (BilledCost, EffectiveCost, ChargePeriodStart ...) is FocusCost whatever its name.
Cost details without a manifest: from the file name, else from the rows (Unused* charge types exist
only in amortized data; commitment purchases only in actual data).

FocusCost rows fill the raw table's FOCUS columns (``billed_cost``, ``charge_period_start`` ...);
Microsoft's ``x_`` columns that restate a cost-details column land in it (``x_SkuMeterName`` ->
``meter_name``, ``x_ResourceGroupName`` -> ``resource_group`` ...), the rest in ``extra_columns``.
The versions differ only in columns (1.2-preview adds InvoiceId, PricingCurrency, SkuMeter ... in
place of x_InvoiceId, x_PricingCurrency, x_SkuMeterName) and date format (1.0 writes
``2024-01-01T00:00Z``, 1.0r2 ``2024-01-01T00:00:00Z``); sql/mappings/azure.sql upgrades them to 1.3.
"""

from __future__ import annotations

from dataclasses import replace

from sqlglot import exp

from cloudact_providers.connector import RawSelectBuilder
from cloudact_providers.rawselect import (
    NORMALIZED,
    Currencies,
    FileFormat,
    JsonMap,
    Layout,
    Missing,
    MissingAll,
    Reading,
    Routed,
    Row,
    SourceFile,
    Variants,
    constant,
    month_of,
    normalize_header,
    parse_decimal,
    utc_month,
)
from cloudact_providers.rawselect.sql import Expr, case, cast, col, fn, lit, render, try_cast
from cloudact_shared.errors import FailedPrecondition

__all__ = ["DATASETS", "DATASET_FRAGMENT", "FORMAT", "RAW_TABLE", "build_raw_select", "normalize_header"]

RAW_TABLE = "cloud_azure_billing_raw_daily"
DATASETS = ("actual", "amortized", "focus")
DATASET_FRAGMENT = "#dataset="

READING = Reading(
    what="an Azure cost details export",
    refusal="not an Azure cost details file (expected .csv, .csv.gz or .parquet)",
    suffixes={"parquet": (".parquet",), "csv": (".csv", ".csv.gz", ".gz")},
    trim=True,
    hint=DATASET_FRAGMENT,
)

# Older or alternative header names of cost details columns, preferred first.
_VARIANTS = {
    "cost_in_billing_currency": ("Cost", "PreTaxCost"),
    "billing_currency": ("BillingCurrencyCode", "Currency"),
    "product_name": ("Product",),
    "invoice_section_name": ("InvoiceSection",),
    "date": ("UsageDateTime", "UsageDate"),
    "resource_id": ("InstanceId", "InstanceName"),
    "resource_group": ("ResourceGroupName",),
    "subscription_id": ("SubscriptionGuid",),
    "customer_name": ("CustomerTenantName",),
}
# FocusCost: Microsoft's x_ columns that restate a cost-details column.
_FOCUS_VARIANTS = {
    "invoice_id": ("x_InvoiceId",),
    "pricing_currency": ("x_PricingCurrency",),
    "meter_name": ("x_SkuMeterName",),
    "meter_category": ("x_SkuMeterCategory",),
    "meter_sub_category": ("x_SkuMeterSubcategory",),
    "meter_id": ("x_SkuMeterId",),
    "meter_region": ("x_SkuRegion",),
    "service_family": ("x_SkuServiceFamily",),
    "part_number": ("x_SkuPartNumber",),
    "offer_id": ("x_SkuOfferId",),
    "product_order_id": ("x_SkuOrderId",),
    "product_order_name": ("x_SkuOrderName",),
    "plan_name": ("x_SkuPlanName",),
    "term": ("x_SkuTerm",),
    "is_azure_credit_eligible": ("x_SkuIsCreditEligible",),
    "additional_info": ("x_SkuDetails",),
    "resource_group": ("x_ResourceGroupName",),
    "account_name": ("x_AccountName",),
    "account_owner_id": ("x_AccountOwnerId",),
    "invoice_section_id": ("x_InvoiceSectionId",),
    "invoice_section_name": ("x_InvoiceSectionName",),
    "cost_center": ("x_CostCenter",),
    "cost_allocation_rule_name": ("x_CostAllocationRuleName",),
    "billing_profile_id": ("x_BillingProfileId",),
    "billing_profile_name": ("x_BillingProfileName",),
    "exchange_rate_pricing_to_billing": ("x_BillingExchangeRate",),
    "exchange_rate_date": ("x_BillingExchangeRateDate",),
    "customer_tenant_id": ("x_CustomerId",),
    "customer_name": ("x_CustomerName",),
    "reseller_mpn_id": ("x_ResellerId",),
    "reseller_name": ("x_ResellerName",),
    "publisher_id": ("x_PublisherId",),
    "cost_in_usd": ("x_BilledCostInUsd",),
    "payg_cost_in_usd": ("x_ListCostInUsd",),
}
# Columns only a FOCUS file has: any two of them make the file FocusCost.
_FOCUS_MARKERS = ("billed_cost", "effective_cost", "charge_period_start", "charge_category")
_MCA_MARKERS = {"invoice_id", "payg_cost_in_billing_currency", "cost_in_pricing_currency", "product_id"}
_COMMITMENTS = ("Reservation", "SavingsPlan")


def _decimal(text: Expr, duck_type: str) -> Expr:
    """Exponent notation (5.64902E-05) goes through DOUBLE only when the exact parse fails."""
    return fn("coalesce", parse_decimal(text, duck_type), try_cast(try_cast(text.copy(), "DOUBLE"), duck_type))


def _date(text: Expr, duck_type: str) -> Expr:
    """Cost details CSVs write US dates (9/2/2023, 09/02/2023); newer exports write ISO."""
    us = cast(fn("try_strptime", text.copy(), lit("%m/%d/%Y")), duck_type)
    iso = try_cast(fn("left", text.copy(), exp.Literal.number(10)), duck_type)
    return case((exp.Like(this=text, expression=lit("%/%")), us), default=iso)


def _agreement(routed: Routed) -> str:
    return "azure_mca" if _MCA_MARKERS & routed.columns.keys() else "azure_ea"


def _dataset(row: Row) -> Expr:
    """actual | amortized: the manifest (the object's hint), then the file name, then the rows."""
    if row.file.hint in ("actual", "amortized"):
        return lit(row.file.hint)
    lowered = row.file.path.name.lower()
    for dataset in ("amortized", "actual"):
        if dataset in lowered:
            return lit(dataset)
    return lit("amortized" if _amortized_rows(row) else "actual")


def _amortized_rows(row: Row) -> bool:
    """Unused* charge types exist only in amortized data; commitment purchases only in actual data."""
    charge, model = row.field("charge_type"), row.field("pricing_model")
    if charge is None:
        return False
    unused = fn("bool_or", exp.ILike(this=col(charge.source.name), expression=lit("Unused%")))
    purchase: Expr = exp.false()
    if model is not None:
        bought = exp.In(this=col(charge.source.name), expressions=[lit("Purchase"), lit("Refund")])
        commitment = exp.In(this=col(model.source.name), expressions=[lit(c) for c in _COMMITMENTS])
        purchase = fn("bool_or", exp.and_(bought, commitment, copy=False))
    query = exp.Select(expressions=[unused, purchase]).from_(row.file.table(), copy=False)
    # Fetched whole: a result left unfinished blocks the connection's next query (DuckDB 2).
    [found] = row.con.execute(render(query)).fetchall()
    return bool(found[0]) and not found[1]


_VALUES = {"tags": JsonMap("unparsable JSON tags in {name}", braces=True)}
_PARSERS = {"DATE": _date, "DECIMAL": _decimal}

COST_DETAILS = Layout(
    name="an Azure cost details export",
    source_format=_agreement,
    routes=(NORMALIZED, Variants(_VARIANTS, key=normalize_header)),
    required=(
        "date",
        "billing_period_start_date",
        "cost_in_billing_currency",
        "billing_currency",
        "subscription_id",
        ("billing_account_id", "billing_profile_id"),
    ),
    refusal_reason="NOT_AN_AZURE_EXPORT",
    derived={"billing_period": month_of("billing_period_start_date"), "dataset": _dataset},
    checks=(
        Missing("billing_period_start_date", "billing period start"),
        Missing("date", "usage date"),
        Missing("cost_in_billing_currency", "cost"),
        Missing("billing_currency", "billing currency"),
        MissingAll(
            ("billing_account_id", "billing_profile_id"),
            "missing billing account (BillingAccountId / BillingProfileId)",
        ),
    ),
    values=_VALUES,
    parsers=_PARSERS,
)

_FOCUS_CHECKS = (
    Missing("billing_period_start", "billing period start"),
    Missing("charge_period_start", "charge period start"),
    Missing("charge_period_end", "charge period end"),
    Missing("billed_cost", "billed cost"),
    Missing("effective_cost", "effective cost"),
    Missing("billing_currency", "billing currency"),
    Missing("billing_account_id", "billing account"),
    Missing("charge_category", "charge category"),
)

FOCUS = Layout(
    name="an Azure FocusCost export",
    source_format="azure_focus",
    routes=(NORMALIZED, Variants(_FOCUS_VARIANTS, key=normalize_header)),
    required=tuple(check.column for check in _FOCUS_CHECKS),
    refusal_reason="NOT_AN_AZURE_EXPORT",
    # The month in UTC, whatever the session time zone.
    derived={"billing_period": utc_month("billing_period_start"), "dataset": constant("focus")},
    checks=_FOCUS_CHECKS,
    values=_VALUES,
    parsers=_PARSERS,
)


# ==== Layouts without a billing account column: pay-as-you-go usage details, partner (CSP) cost details ====

# Pay-as-you-go (MOSP / web direct) usage details, schema 2019-11-01: the "Cost and Usage Details (Usage
# Only)" dataset, columns as Microsoft lists them in "Pay-as-you-go cost and usage details file schema"
# (learn.microsoft.com/azure/cost-management-billing/dataset-schema/cost-usage-details-pay-as-you-go).
# Its older names map to today's cost details columns as Microsoft publishes it in "Understand cost
# details fields" (automate/understand-usage-details-fields, "List of terms from older APIs":
# ConsumedQuantity -> Quantity, InstanceId -> ResourceId, Rate -> EffectivePrice, Unit -> UnitOfMeasure,
# UsageDate / UsageStart / UsageEnd -> Date; "Currency: see BillingCurrency") and "Migrate from Consumption
# Usage Details API" (subscriptionGuid -> SubscriptionId). PreTaxCost is CostInBillingCurrency, which
# Microsoft defines as the cost "before credits or taxes". Headers match without case or separators, so
# the camelCase spelling (usageDateTime, preTaxCost) is the same layout. _VARIANTS already holds
# SubscriptionGuid, UsageDateTime, PreTaxCost, Currency and InstanceId.
_PAYG_VARIANTS = {
    **_VARIANTS,
    "date": ("UsageDateTime", "UsageDate", "UsageStart"),
    "quantity": ("UsageQuantity", "ConsumedQuantity"),
    # ResourceRate is the blended (tiered) rate actually paid: EffectivePrice. The layout has no list or
    # negotiated unit price, so no FOCUS price (nor, by FOCUS 1.3, a quantity) is made up from it.
    "effective_price": ("ResourceRate", "Rate"),
    "unit_of_measure": ("Unit",),
}
_PAYG_CHECKS = (
    Missing("date", "usage date"),
    Missing("cost_in_billing_currency", "cost"),
    Missing("billing_currency", "billing currency"),
    # A pay-as-you-go invoice is per subscription ("BillingProfileId: ... pay-as-you-go subscription",
    # Understand cost details fields): without one the row has no billing account.
    Missing("subscription_id", "subscription"),
)
PAYG_USAGE = replace(
    COST_DETAILS,
    name="an Azure pay-as-you-go usage details export",
    source_format="azure_payg",
    routes=(NORMALIZED, Variants(_PAYG_VARIANTS, key=normalize_header)),
    required=tuple(check.column for check in _PAYG_CHECKS),
    derived={
        # No billing period column: the calendar month of the usage date, the span an export covers and
        # the table's slice key (pay-as-you-go invoice periods start on a sign-up day the file does not carry).
        "billing_period": month_of("date"),
        "dataset": _dataset,
        # No ChargeType column: the dataset is usage only (no purchases, refunds or commitments).
        "charge_type": constant("Usage"),
    },
    checks=_PAYG_CHECKS,
)

# Partner (CSP) cost details at subscription or resource group scope: "Cloud Solution Provider subscription
# cost and usage details file schema" (dataset-schema/cost-usage-details-mca-partner-subscription) lists
# MCA columns with customerTenantId / customerName but no billingAccountId, billingProfileId or invoiceId.
# An MPA account "has all MCA terms" (Understand cost details fields), so its rows read as MCA. The billing
# account is derived in sql/mappings/azure.sql: the customer's tenant, else the subscription.
PARTNER_COST_DETAILS = replace(
    COST_DETAILS,
    name="an Azure partner (CSP) cost details export",
    source_format="azure_mca",
    required=(
        "date",
        "billing_period_start_date",
        "cost_in_billing_currency",
        "billing_currency",
        "subscription_id",
        "customer_tenant_id",
    ),
    checks=(
        *(check for check in COST_DETAILS.checks if not isinstance(check, MissingAll)),
        MissingAll(
            ("customer_tenant_id", "subscription_id"), "missing billing account (CustomerTenantId / SubscriptionId)"
        ),
    ),
)

_ACCOUNT_HEADERS = {normalize_header(h) for h in ("BillingAccountId", "BillingProfileId")}
_PAYG_HEADERS = {normalize_header(h) for h in ("UsageDateTime", "PreTaxCost")}


def _cost_details_layout(names: set[str]) -> Layout:
    """Cost details name their billing account; a file without one is a partner export (customerTenantId)
    or pay-as-you-go usage details (UsageDateTime / PreTaxCost and no billing period); anything else is
    refused as cost details, naming what it lacks."""
    if names & _ACCOUNT_HEADERS:
        return COST_DETAILS
    if normalize_header("CustomerTenantId") in names:
        return PARTNER_COST_DETAILS
    if names & _PAYG_HEADERS and normalize_header("BillingPeriodStartDate") not in names:
        return PAYG_USAGE
    return COST_DETAILS


# ==== end of the layouts without a billing account column ====


def _layout(file: SourceFile) -> Layout:
    """FocusCost by its columns, which must agree with the dataset the manifest names."""
    names = {normalize_header(name) for name in file.names}
    focus = sum(marker.replace("_", "") in names for marker in _FOCUS_MARKERS) >= 2
    if file.hint == "focus" and not focus:
        raise FailedPrecondition(
            f"{file.shown}: the export manifest says FocusCost, but the file has no FOCUS columns "
            "(BilledCost, EffectiveCost, ChargePeriodStart, ChargeCategory)",
            reason="NOT_AN_AZURE_EXPORT",
        )
    if file.hint in ("actual", "amortized") and focus:
        raise FailedPrecondition(
            f"{file.shown}: the export manifest says a cost details dataset ({file.hint}), "
            "but the file has FocusCost columns",
            reason="NOT_AN_AZURE_EXPORT",
        )
    return FOCUS if focus else _cost_details_layout(names)


FORMAT = FileFormat(
    RAW_TABLE,
    READING,
    _layout,
    layouts=(COST_DETAILS, PARTNER_COST_DETAILS, PAYG_USAGE, FOCUS),
    currencies=Currencies(billing=("billing_currency",), pricing=("pricing_currency",)),
)

build_raw_select: RawSelectBuilder = FORMAT
"""The ``RawSelectBuilder`` of cost details (EA, MCA or partner, actual or amortized), pay-as-you-go usage
details and FocusCost (1.0, 1.0r2, 1.2-preview) files, CSV, gzip CSV or Parquet. A ``#dataset=actual|amortized|focus``
suffix of ``source_object`` (set by the connector from the manifest) names the dataset and is not recorded; a cost
details file without one is read once while building to tell actual from amortized. Refusals are NOT_AN_AZURE_EXPORT."""
