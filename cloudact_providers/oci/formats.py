"""OCI report files (CSV or gzip CSV): their declared format.

Two report kinds land in ``cloud_oci_billing_raw_daily``, recognised by their header:

* the proprietary cost report (``reports/cost-csv``): ``prefix/camelName`` columns become
  ``prefix_camel_name`` raw columns, and the dynamic ``tags/<namespace>.<key>`` columns are folded
  into one ``tags`` map (keys ``<namespace>.<key>``; the set of tag columns varies between files);
* OCI's own FOCUS report (``FOCUS Reports/...``): FOCUS 1.0-preview names (Provider, Region,
  UsageQuantity, ...) or, should OCI move on, their FOCUS 1.0 successors (ProviderName, RegionId,
  ConsumedQuantity, ...) land in ``focus_*`` columns named after the 1.0 column, the ``oci_*``
  extensions (also accepted as ``x_oci_*``, the 1.0 custom-column spelling) in ``oci_*`` columns,
  and the Tags JSON object in ``tags``. The values are OCI's; the upgrade to FOCUS 1.3 happens in
  ``sql/mappings/oci.sql``.

``source_format`` tells the kinds apart. Unknown columns are kept in ``extra_columns``, and an
unparsable or missing key value sets the row's ``_quarantine_reason`` instead of failing the file.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import duckdb
from sqlglot import exp

from cloudact_providers.connector import RawSelectBuilder
from cloudact_providers.oci.credential import ReportKind
from cloudact_providers.rawselect import (
    SLASHED,
    Currencies,
    FileFormat,
    Fold,
    JsonMap,
    Layout,
    Missing,
    Reading,
    Row,
    RowCheck,
    SourceFile,
    Variants,
    read_file,
    slashed_snake,
    snake,
    utc_month,
    utc_month_of,
)
from cloudact_providers.rawselect.sql import Check, Expr, col, concat, fn, lit, not_, quoted, render, try_cast

RAW_TABLE = "cloud_oci_billing_raw_daily"
SOURCE_FORMAT = "oci_cost_csv"
FOCUS_SOURCE_FORMAT = "oci_focus_csv"

oci_to_snake = slashed_snake
"""``lineItem/intervalUsageStart`` -> ``line_item_interval_usage_start``; every capital starts a word."""

REQUIRED_COLUMNS = (
    "line_item_reference_no",
    "line_item_tenant_id",
    "line_item_interval_usage_start",
    "line_item_interval_usage_end",
    "product_service",
    "cost_my_cost",
    "cost_currency_code",
)
"""A cost report without these cannot become FOCUS rows."""

READING = Reading(
    what="an OCI report",
    refusal="not an OCI cost or FOCUS report (expected .csv or .csv.gz)",
    refusal_reason="NOT_AN_OCI_REPORT",
    suffixes={"csv": (".csv", ".csv.gz", ".gz")},
)

# The FOCUS report's columns by their FOCUS 1.0 name: each fills raw column focus_<snake_name>.
_FOCUS_COLUMNS = (
    "AvailabilityZone",
    "BilledCost",
    "BillingAccountId",
    "BillingAccountName",
    "BillingCurrency",
    "BillingPeriodStart",
    "BillingPeriodEnd",
    "ChargeCategory",
    "ChargeClass",
    "ChargeSubcategory",
    "ChargeDescription",
    "ChargeFrequency",
    "ChargePeriodStart",
    "ChargePeriodEnd",
    "CommitmentDiscountCategory",
    "CommitmentDiscountId",
    "CommitmentDiscountName",
    "CommitmentDiscountType",
    "CommitmentDiscountStatus",
    "ConsumedQuantity",
    "ConsumedUnit",
    "ContractedCost",
    "ContractedUnitPrice",
    "EffectiveCost",
    "InvoiceId",
    "InvoiceIssuerName",
    "ListCost",
    "ListUnitPrice",
    "PricingCategory",
    "PricingQuantity",
    "PricingUnit",
    "ProviderName",
    "PublisherName",
    "RegionId",
    "RegionName",
    "ResourceId",
    "ResourceName",
    "ResourceType",
    "ServiceCategory",
    "ServiceSubcategory",
    "ServiceName",
    "SkuId",
    "SkuMeter",
    "SkuPriceId",
    "SubAccountId",
    "SubAccountName",
)
# The 1.0-preview names OCI writes where FOCUS 1.0 renamed a column: preferred to the 1.0 name.
_PREVIEW_NAMES = {
    "ConsumedQuantity": "UsageQuantity",
    "ConsumedUnit": "UsageUnit",
    "InvoiceIssuerName": "InvoiceIssuer",
    "ProviderName": "Provider",
    "PublisherName": "Publisher",
    "RegionId": "Region",
}
# OCI's extensions: oci_<Name> (1.0-preview) or x_oci_<Name> (the 1.0 custom-column spelling).
_EXTENSIONS = (
    "ReferenceNumber",
    "BackReferenceNumber",
    "CompartmentId",
    "CompartmentName",
    "OverageFlag",
    "UnitPriceOverage",
    "BilledQuantityOverage",
    "CostOverage",
    "AttributedUsage",
    "AttributedCost",
)


def _spellings(name: str) -> tuple[str, ...]:
    preview = _PREVIEW_NAMES.get(name)
    return (name,) if preview is None else (preview, name)


_FOCUS_HEADERS = {
    **{f"focus_{snake(name)}": _spellings(name) for name in _FOCUS_COLUMNS},
    **{f"oci_{snake(name)}": (f"oci_{name}", f"x_oci_{name}") for name in _EXTENSIONS},
    "tags": ("Tags",),
}
"""FOCUS report raw column -> the headers that may fill it, preferred first (matched ignoring case)."""
_FOCUS_REQUIRED = (
    "oci_reference_number",
    "focus_billing_account_id",
    "focus_billed_cost",
    "focus_billing_currency",
    "focus_billing_period_start",
    "focus_charge_period_start",
    "focus_charge_period_end",
    "focus_charge_category",
    "focus_service_name",
)
_CHARGE_CATEGORIES = ("Usage", "Purchase", "Tax", "Credit", "Adjustment")
# Headers that only OCI's FOCUS report has: a file holding all of them is one.
_FOCUS_MARKERS = ({"oci_referencenumber", "x_oci_referencenumber"}, {"billedcost"}, {"chargeperiodstart"})
_COST_START = "lineItem/intervalUsageStart"


def report_kind(header: Iterable[str]) -> ReportKind:
    """Which OCI report a file with this header is (OCI's FOCUS report, else the cost report)."""
    lowered = {name.lower() for name in header}
    return "focus" if all(lowered & marker for marker in _FOCUS_MARKERS) else "cost-csv"


def read_header(con: duckdb.DuckDBPyConnection, path: Path, name: str | None = None) -> list[str]:
    """The column names of a report file (no data read beyond its first row).

    Raises:
        FailedPrecondition: the file is not a CSV report, is empty, or has no data rows; the
            message names the file ``name`` (default: its path).
    """
    return read_file(con, path, str(path) if name is None else name, READING).names


def month_sql(header: list[str]) -> str:
    """A SQL expression over a report file's own columns: the UTC month its row belongs to.

    The same parse as the raw SELECT's ``billing_period``: text -> TIMESTAMPTZ -> UTC month, from
    ``lineItem/intervalUsageStart`` (cost report) or ``BillingPeriodStart`` (FOCUS report).
    """
    column = _COST_START
    if report_kind(header) == "focus":
        lowered = {name.lower(): name for name in reversed(header)}
        column = lowered.get("billingperiodstart", "BillingPeriodStart")
    text = exp.Nullif(this=col(column), expression=lit(""))
    return render(utc_month_of(try_cast(text, "TIMESTAMPTZ")))


def _ends_after_start(end: str, start: str, reason: str) -> RowCheck:
    def check(row: Row) -> Check:
        return exp.LT(this=row.output(end), expression=row.output(start)), lit(reason)

    return check


def _focus_category(row: Row) -> Check:
    category = row.output("focus_charge_category")
    allowed = exp.In(this=category, expressions=[lit(c) for c in _CHARGE_CATEGORIES])
    return not_(allowed), quoted("ChargeCategory is not a FOCUS category: ", category.copy())


def _calendar_month(row: Row) -> Check:
    """The billing period is the slice key (a calendar month); a period starting mid-month would put
    the row in a month the run does not own."""

    def period() -> Expr:
        return fn("timezone", lit("UTC"), row.output("focus_billing_period_start"))

    starts_mid_month = exp.NEQ(this=period(), expression=fn("date_trunc", lit("month"), period()))
    shown = fn("strftime", period(), lit("%Y-%m-%dT%H:%M:%SZ"))
    return starts_mid_month, concat(lit("BillingPeriodStart is not the start of a calendar month: "), shown)


COST = Layout(
    name="an OCI cost report",
    source_format="oci_cost",
    routes=(Fold("tags", "tags"), SLASHED),
    required=REQUIRED_COLUMNS,
    # SLASHED cannot be inverted: how a refusal names the required columns.
    shown_as={
        "line_item_reference_no": "lineItem/referenceNo",
        "line_item_tenant_id": "lineItem/tenantId",
        "line_item_interval_usage_start": "lineItem/intervalUsageStart",
        "line_item_interval_usage_end": "lineItem/intervalUsageEnd",
        "product_service": "product/service",
        "cost_my_cost": "cost/myCost",
        "cost_currency_code": "cost/currencyCode",
    },
    refusal_reason="NOT_AN_OCI_REPORT",
    # The UTC calendar month of the usage interval's start.
    derived={"billing_period": utc_month("line_item_interval_usage_start")},
    checks=(
        Missing("line_item_interval_usage_start", "interval usage start"),
        Missing("line_item_interval_usage_end", "interval usage end"),
        Missing("line_item_tenant_id", "tenancy id"),
        Missing("product_service", "service"),
        Missing("cost_my_cost", "cost"),
        Missing("cost_currency_code", "currency code"),
        _ends_after_start(
            "line_item_interval_usage_end", "line_item_interval_usage_start", "interval usage end is before its start"
        ),
    ),
)

FOCUS = Layout(
    name="an OCI FOCUS report",
    source_format="oci_focus",
    routes=(Variants(_FOCUS_HEADERS, key=str.lower),),
    required=_FOCUS_REQUIRED,
    refusal_reason="NOT_AN_OCI_REPORT",
    derived={"billing_period": utc_month("focus_billing_period_start")},
    checks=(
        Missing("focus_charge_period_start", "charge period start"),
        Missing("focus_charge_period_end", "charge period end"),
        Missing("focus_billing_period_start", "billing period start"),
        Missing("focus_billing_account_id", "billing account id"),
        Missing("focus_service_name", "service name"),
        Missing("focus_charge_category", "charge category"),
        Missing("focus_billed_cost", "billed cost"),
        Missing("focus_billing_currency", "billing currency"),
        _focus_category,
        _calendar_month,
        _ends_after_start(
            "focus_charge_period_end", "focus_charge_period_start", "charge period end is before its start"
        ),
    ),
    values={"tags": JsonMap("{name} is not a JSON object", objects_only=True)},
)


def _layout(file: SourceFile) -> Layout:
    return FOCUS if report_kind(file.names) == "focus" else COST


FORMAT = FileFormat(
    RAW_TABLE,
    READING,
    _layout,
    layouts=(COST, FOCUS),
    currencies=Currencies(billing=("cost_currency_code", "focus_billing_currency")),
)

build_raw_select: RawSelectBuilder = FORMAT
"""The ``RawSelectBuilder`` of cost reports and FOCUS reports (CSV or gzip CSV); ``source_object`` is
``oci://namespace/bucket/name`` (or a path); other files are refused (NOT_AN_OCI_REPORT)."""
