"""The Snowflake exports the connector writes (JSON lines of text): their declared format, one layout per view.

- The FOCUS view (``SNOWFLAKE.BILLING.FOCUS_COST_USAGE_V1_3``): each FOCUS column ``Name`` fills raw
  column ``focus_<snake_name>`` (``BilledCost`` -> ``focus_billed_cost``; the ``x_`` extensions too:
  ``x_ServiceLevel`` -> ``focus_x_service_level``), matched as Snowflake spells it, case included.
  ``billing_period`` is the UTC month of ``BillingPeriodStart``.
- ``ORGANIZATION_USAGE.USAGE_IN_CURRENCY_DAILY`` with the rate sheet's columns: each upper-case column
  fills the raw column of its lower-case name (``USAGE_IN_CURRENCY`` -> ``usage_in_currency``).
  Legacy organizations lack the newer columns (service, rating and billing type, balance source):
  they stay NULL. ``billing_period`` is the month of ``USAGE_DATE``.

A file is one or the other (told apart by ``BilledCost`` / ``USAGE_IN_CURRENCY``); columns the schema
does not name land in ``extra_columns``. A row whose key values are missing or do not parse is set
aside with its reason; so is a FOCUS row whose billing period does not start a calendar month (the
month is the run's slice).
"""

from __future__ import annotations

from sqlglot import exp

from cloudact_providers.connector import RawSelectBuilder
from cloudact_providers.rawselect import (
    Currencies,
    FileFormat,
    JsonMap,
    Layout,
    Missing,
    MissingAll,
    Named,
    Reading,
    Row,
    SourceFile,
    Variants,
    month_of,
    snake,
    utc_month,
)
from cloudact_providers.rawselect.sql import Check, Expr, concat, fn, lit, not_, quoted

RAW_TABLE = "cloud_snowflake_billing_raw_daily"
FOCUS_FORMAT = "snowflake_focus"
USAGE_FORMAT = "snowflake_usage_in_currency"

READING = Reading(
    what="a Snowflake billing export",
    refusal="not a Snowflake billing export (expected .jsonl)",
    refusal_reason="NOT_A_SNOWFLAKE_EXPORT",
    suffixes={"jsonl": (".jsonl", ".json", ".jsonl.gz")},
)

FOCUS_COLUMNS = (
    "BillingPeriodStart",
    "BillingPeriodEnd",
    "ChargePeriodStart",
    "ChargePeriodEnd",
    "BillingAccountId",
    "BillingAccountName",
    "SubAccountId",
    "SubAccountName",
    "SubAccountType",
    "ChargeCategory",
    "ChargeClass",
    "ChargeFrequency",
    "ChargeDescription",
    "ServiceCategory",
    "ServiceSubcategory",
    "ServiceName",
    "ConsumedQuantity",
    "ConsumedUnit",
    "PricingQuantity",
    "PricingUnit",
    "PricingCategory",
    "ListUnitPrice",
    "ListCost",
    "ContractedUnitPrice",
    "ContractedCost",
    "EffectiveCost",
    "BilledCost",
    "BillingCurrency",
    "CapacityReservationId",
    "CapacityReservationStatus",
    "RegionId",
    "RegionName",
    "HostProviderName",
    "ServiceProviderName",
    "InvoiceIssuerName",
    "InvoiceId",
    "SkuId",
    "SkuPriceId",
    "SkuMeter",
    "ResourceId",
    "ResourceName",
    "ResourceType",
    "Tags",
    "ContractApplied",
    "x_UpdatedAt",
    "x_OrganizationName",
    "x_ServiceLevel",
)
"""The view's columns the raw table keeps (Sku*, Resource* and Tags are documented as not populated:
kept for when they are)."""

USAGE_COLUMNS = (
    "ORGANIZATION_NAME",
    "CONTRACT_NUMBER",
    "ACCOUNT_NAME",
    "ACCOUNT_LOCATOR",
    "REGION",
    "SERVICE_LEVEL",
    "USAGE_DATE",
    "USAGE_TYPE",
    "USAGE",
    "CURRENCY",
    "USAGE_IN_CURRENCY",
    "BALANCE_SOURCE",
    "BILLING_TYPE",
    "RATING_TYPE",
    "SERVICE_TYPE",
    "IS_ADJUSTMENT",
    "RATE_SHEET_EFFECTIVE_RATE",
    "RATE_SHEET_RATES",
)


def focus_column(name: str) -> str:
    """The raw column of a FOCUS view column: ``BilledCost`` -> ``focus_billed_cost``."""
    return "focus_" + ("x_" + snake(name[2:]) if name.startswith("x_") else snake(name))


def _calendar_month(row: Row) -> Check:
    """The billing period is the slice key (a calendar month); a period starting mid-month would put
    the row in a month the run does not own."""

    def period() -> Expr:
        return fn("timezone", lit("UTC"), row.output("focus_billing_period_start"))

    starts_mid_month = exp.NEQ(this=period(), expression=fn("date_trunc", lit("month"), period()))
    shown = fn("strftime", period(), lit("%Y-%m-%dT%H:%M:%SZ"))
    return starts_mid_month, concat(lit("BillingPeriodStart is not the start of a calendar month: "), shown)


def _charge_category(row: Row) -> Check:
    category = row.output("focus_charge_category")
    allowed = exp.In(this=category, expressions=[lit(c) for c in ("Usage", "Purchase", "Tax", "Credit", "Adjustment")])
    return not_(allowed), quoted("ChargeCategory is not a FOCUS category: ", category.copy())


FOCUS = Layout(
    name="a Snowflake FOCUS view export",
    source_format=FOCUS_FORMAT,
    routes=(Variants({focus_column(name): (name,) for name in FOCUS_COLUMNS}),),
    required=(
        "focus_billing_period_start",
        "focus_charge_period_start",
        "focus_charge_period_end",
        "focus_billing_account_id",
        "focus_charge_category",
        "focus_service_name",
        "focus_billed_cost",
        "focus_billing_currency",
    ),
    refusal_reason="NOT_A_SNOWFLAKE_EXPORT",
    derived={"billing_period": utc_month("focus_billing_period_start")},
    checks=(
        Missing("focus_billing_period_start", "billing period start"),
        Missing("focus_charge_period_start", "charge period start"),
        Missing("focus_charge_period_end", "charge period end"),
        Missing("focus_billing_account_id", "billing account id"),
        Missing("focus_charge_category", "charge category"),
        Missing("focus_service_name", "service name"),
        Missing("focus_billed_cost", "billed cost"),
        Missing("focus_billing_currency", "billing currency"),
        _charge_category,
        _calendar_month,
    ),
    values={
        "focus_tags": JsonMap("{name} is not a JSON object", objects_only=True),
    },
)

USAGE = Layout(
    name="a Snowflake usage in currency export",
    source_format=USAGE_FORMAT,
    routes=(Named(key=str.lower),),
    required=("usage_date", "usage_type", "usage", "currency", "usage_in_currency", "account_locator"),
    refusal_reason="NOT_A_SNOWFLAKE_EXPORT",
    shown_as={name.lower(): name for name in USAGE_COLUMNS},
    derived={"billing_period": month_of("usage_date")},
    checks=(
        Missing("usage_date", "usage date"),
        Missing("usage_in_currency", "usage in currency"),
        Missing("currency", "currency"),
        Missing("account_locator", "account locator"),
        MissingAll(("organization_name",), "missing organization name (ORGANIZATION_NAME)"),
        MissingAll(("service_type", "usage_type"), "missing service type and usage type"),
    ),
)


def _layout(file: SourceFile) -> Layout:
    return FOCUS if "BilledCost" in file.names else USAGE


FORMAT = FileFormat(
    RAW_TABLE,
    READING,
    _layout,
    layouts=(FOCUS, USAGE),
    currencies=Currencies(billing=("focus_billing_currency", "currency")),
)

build_raw_select: RawSelectBuilder = FORMAT
"""The ``RawSelectBuilder`` of the connector's exports (JSON lines from either view); other files are
refused (NOT_A_SNOWFLAKE_EXPORT)."""
