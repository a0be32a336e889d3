"""The Databricks export the connector writes (usage records with their list prices, JSON lines): its declared format.

One line per (usage record, matched price row), one JSON object whose keys are the statement's
columns (``statements.COLUMNS``) and whose values are the strings the Statement Execution API
returned (``JSON_ARRAY``: decimals with their scale, ISO 8601 UTC timestamps, maps and structs as
JSON text) or null. Each key fills the raw column of its name; a key the schema does not know
lands in ``extra_columns``.

A record is set aside (quarantined, with its reason) rather than loaded when its cost cannot be
stated exactly: no list price in force when it started, several (its cost would count twice), a
price row without a price, an unknown ``record_type`` (the corrections' netting depends on it), or a
missing or unparsable key value. ``billing_period`` is the month of ``usage_date`` (Databricks bills
usage by its UTC date).
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
    Named,
    Reading,
    Row,
    month_of,
)
from cloudact_providers.rawselect.sql import Check, and_, cast, concat, fn, is_null, lit, not_null, quoted

RAW_TABLE = "cloud_databricks_billing_raw_daily"
SOURCE_FORMAT = "databricks_usage"
RECORD_TYPES = ("ORIGINAL", "RETRACTION", "RESTATEMENT")
"""``record_type`` values: an original record, and the two halves of a correction."""

READING = Reading(
    what="a Databricks usage export",
    refusal="not a Databricks usage export (expected .jsonl)",
    refusal_reason="NOT_A_DATABRICKS_USAGE_EXPORT",
    suffixes={"jsonl": (".jsonl", ".json", ".jsonl.gz")},
)


def _text(row: Row, column: str) -> exp.Expr:
    return fn("coalesce", cast(row.output(column), "VARCHAR"), lit("?"))


def _where(row: Row) -> exp.Expr:
    """``<sku> (<cloud>, <unit>) at <usage_start_time>``: the record in a reason."""
    return concat(
        _text(row, "sku_name"),
        lit(" ("),
        _text(row, "cloud"),
        lit(", "),
        _text(row, "usage_unit"),
        lit(") at "),
        _text(row, "usage_start_time"),
    )


def _no_price(row: Row) -> Check:
    matches = row.output("price_matches")
    reason = concat(lit("no list price in system.billing.list_prices for "), _where(row))
    return exp.EQ(this=matches, expression=exp.Literal.number(0)), reason


def _several_prices(row: Row) -> Check:
    matches = row.output("price_matches")
    reason = concat(
        cast(matches.copy(), "VARCHAR"),
        lit(" list prices (overlapping price rows or several currencies) match "),
        _where(row),
        lit(": its cost would be counted more than once"),
    )
    return exp.GT(this=matches, expression=exp.Literal.number(1)), reason


def _no_unit_price(row: Row) -> Check:
    condition = and_(is_null(row.output("price_default")), is_null(row.output("price_effective_list")))
    return condition, concat(lit("the price row of "), _where(row), lit(" has no default or effective list price"))


def _record_type(row: Row) -> Check:
    kind = row.output("record_type")
    unknown = exp.Not(this=exp.In(this=kind.copy(), expressions=[lit(t) for t in RECORD_TYPES]))
    return and_(not_null(kind.copy()), unknown), quoted("unknown record_type: ", kind)


LAYOUT = Layout(
    name="a Databricks usage export",
    source_format=SOURCE_FORMAT,
    routes=(Named(),),
    required=(
        "record_id",
        "account_id",
        "sku_name",
        "cloud",
        "usage_start_time",
        "usage_end_time",
        "usage_date",
        "usage_unit",
        "usage_quantity",
        "record_type",
        "price_matches",
    ),
    refusal_reason="NOT_A_DATABRICKS_USAGE_EXPORT",
    derived={"billing_period": month_of("usage_date")},
    checks=(
        Missing("record_id", "record id"),
        Missing("usage_date", "usage date"),
        Missing("usage_start_time", "usage start time"),
        Missing("usage_end_time", "usage end time"),
        Missing("usage_quantity", "usage quantity"),
        Missing("account_id", "account id"),
        Missing("sku_name", "SKU name"),
        Missing("record_type", "record type"),
        _record_type,
        Missing("price_matches", "price match count"),
        _no_price,
        _several_prices,
        _no_unit_price,
        Missing("currency_code", "currency code"),
    ),
    values={"custom_tags": JsonMap(reason="unparsable custom_tags in {name}", objects_only=True)},
)

FORMAT = FileFormat(
    RAW_TABLE, READING, lambda _file: LAYOUT, layouts=(LAYOUT,), currencies=Currencies(billing=("currency_code",))
)

build_raw_select: RawSelectBuilder = FORMAT
"""The ``RawSelectBuilder`` of the connector's export files (JSON lines); other files are refused
(NOT_A_DATABRICKS_USAGE_EXPORT)."""
