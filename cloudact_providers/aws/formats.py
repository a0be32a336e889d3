"""AWS export files (CUR 2.0 Parquet/CSV, legacy CUR CSV/Parquet): their declared format.

Two layouts, told apart by their header: CUR 2.0 names its columns as the raw table does
(``line_item_unblended_cost``), with ``product``, ``resource_tags``, ``cost_category`` and
``discount`` as MAP columns (JSON text in CSV); the legacy CUR names them ``prefix/CamelName``
(``lineItem/UnblendedCost`` -> ``line_item_unblended_cost``) and spreads the maps over
``product/*``, ``resourceTags/*``, ``costCategory/*`` and ``discount/*`` columns, folded back into
maps here. Unknown columns are kept in ``extra_columns``; one bad value quarantines its row.
``cloudact_providers.rawselect`` builds the SELECT.
"""

from __future__ import annotations

from dataclasses import replace

from sqlglot import exp

from cloudact_providers.connector import RawSelectBuilder
from cloudact_providers.rawselect import (
    SLASHED,
    Currencies,
    FileFormat,
    Fold,
    Layout,
    Missing,
    Named,
    Reading,
    Row,
    SourceFile,
    Variants,
    Within,
    slashed_snake,
    snake,
    utc_month,
)
from cloudact_providers.rawselect.sql import Expr, case, cast, fn, lit
from cloudact_shared.storage.schema import Column

RAW_TABLE = "cloud_aws_billing_raw_daily"

legacy_to_snake = slashed_snake
"""``lineItem/UnblendedCost`` -> ``line_item_unblended_cost``; every capital starts a new word."""

REQUIRED_COLUMNS = (
    "line_item_line_item_type",
    "line_item_usage_start_date",
    "line_item_unblended_cost",
    "line_item_currency_code",
    "bill_payer_account_id",
    "bill_billing_period_start_date",
    "line_item_usage_account_id",
)
"""A CUR export without these cannot become FOCUS rows (FOCUS Mandatory, non-null columns depend on them)."""

READING = Reading(
    what="a CUR export",
    refusal="not a CUR export file (expected .parquet, .csv or .csv.gz)",
    suffixes={"parquet": (".parquet",), "csv": (".csv", ".csv.gz", ".csv.zst", ".gz")},
)


def _product_name(row: Row, column: Column) -> Expr:
    """CUR 2.0 keeps the product name only in the product map: lift that one key out."""
    product = row.field("product")
    if product is None or row.field(column.name) is not None:
        return row.value(column)
    if product.is_text:
        name = fn("json_extract_string", product.value(), lit("$.product_name"))
        return case((fn("json_valid", product.text()), name))
    return cast(exp.Bracket(this=product.value(), expressions=[lit("product_name")]), "VARCHAR")


CUR2 = Layout(
    name="a CUR 2.0 export",
    source_format="cur2",
    routes=(Named(),),
    required=REQUIRED_COLUMNS,
    refusal_reason="NOT_A_CUR_EXPORT",
    # The UTC month of the billing period start, whatever the session time zone.
    derived={"billing_period": utc_month("bill_billing_period_start_date")},
    checks=(
        Missing("bill_billing_period_start_date", "billing period start"),
        Missing("line_item_usage_start_date", "usage start date"),
        Missing("line_item_usage_end_date", "usage end date"),
        Missing("line_item_line_item_type", "line item type"),
        Missing("line_item_currency_code", "currency code"),
        Missing("bill_payer_account_id", "payer account id"),
        Within(
            "line_item_usage_start_date",
            "bill_billing_period_start_date",
            "bill_billing_period_end_date",
            "usage start",
        ),
    ),
    values={"product_product_name": _product_name},
)

LEGACY = replace(
    CUR2,
    name="a legacy CUR export",
    # SLASHED cannot be inverted: how a refusal names the required columns.
    shown_as={
        "line_item_line_item_type": "lineItem/LineItemType",
        "line_item_usage_start_date": "lineItem/UsageStartDate",
        "line_item_unblended_cost": "lineItem/UnblendedCost",
        "line_item_currency_code": "lineItem/CurrencyCode",
        "bill_payer_account_id": "bill/PayerAccountId",
        "bill_billing_period_start_date": "bill/BillingPeriodStartDate",
        "line_item_usage_account_id": "lineItem/UsageAccountId",
    },
    source_format="cur_legacy",
    routes=(
        # Every product attribute goes into the map (CUR 2.0 keeps most of them only there), and
        # also into the product_* column of the same name when the schema has one (SLASHED).
        Fold("product", "product", key=snake),
        # Tag and cost-category keys stay as AWS wrote them ('user:Team'): FOCUS Tags keeps them.
        Fold("resourceTags", "resource_tags"),
        Fold("costCategory", "cost_category"),
        SLASHED,
        Fold("discount", "discount", key=snake),
        Named(),
        # Older legacy exports name the region code product/region, without product/regionCode.
        Variants({"product_region_code": ("product/region",)}),
    ),
)


def _layout(file: SourceFile) -> Layout:
    return LEGACY if any("/" in name for name in file.names) else CUR2


FORMAT = FileFormat(
    RAW_TABLE,
    READING,
    _layout,
    layouts=(CUR2, LEGACY),
    currencies=Currencies(billing=("line_item_currency_code",), pricing=("pricing_currency",)),
)

build_raw_select: RawSelectBuilder = FORMAT
"""The ``RawSelectBuilder`` of CUR 2.0 (Parquet, CSV, gzip CSV) and legacy CUR (CSV, gzip CSV, Parquet) files:
``source_object`` is ``s3://bucket/key`` (or a path); a file that is not a CUR export is refused (NOT_A_CUR_EXPORT)."""
