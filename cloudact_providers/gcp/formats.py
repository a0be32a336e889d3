"""GCP Cloud Billing export files (BigQuery EXTRACT as Parquet / JSONL, or flattened CSV): their declared format.

Every leaf of the (detailed) export is addressed by its dotted BigQuery path (``service.id``,
``location.region``). A Parquet or newline-delimited JSON file keeps the nested records: a leaf is read
from its top-level STRUCT column (``service`` -> ``$.id``). A flattened CSV (koku's samples) has one
column per dotted path. Repeated records (``labels``, ``system_labels``, ``project.labels``, ``tags``,
``credits``, ``project.ancestors``) arrive as LISTs (Parquet/JSON) or as JSON or Python-repr text (CSV);
they are normalized to ``MAP<STRING,STRING>`` (key/value labels) or to JSON arrays of a fixed shape
(credits, tags, ancestors). Unknown top-level columns are kept in ``extra_columns``. As for AWS, one bad
value quarantines its row (``_quarantine_reason``) instead of failing the file.
"""

from __future__ import annotations

from functools import cache

import duckdb
from duckdb.sqltypes import DuckDBPyType
from sqlglot import exp

from cloudact_providers.connector import RawSelectBuilder
from cloudact_providers.rawselect import Currencies, Field, FileFormat, Layout, Missing, Paths, Reading, Row, ValueRule
from cloudact_providers.rawselect.sql import (
    Expr,
    and_,
    case,
    cast,
    fn,
    is_null,
    lit,
    not_,
    not_null,
    null,
    quoted,
    render,
    template,
)
from cloudact_shared.storage.schema import Column

RAW_TABLE = "cloud_gcp_billing_raw_daily"

_LEAVES = (
    "billing_account_id",
    "invoice.month",
    "invoice.publisher_type",
    "cost_type",
    "service.id",
    "service.description",
    "sku.id",
    "sku.description",
    "usage_start_time",
    "usage_end_time",
    "project.id",
    "project.number",
    "project.name",
    "project.labels",
    "project.ancestry_numbers",
    "project.ancestors",
    "labels",
    "system_labels",
    "tags",
    "location.location",
    "location.country",
    "location.region",
    "location.zone",
    "cost",
    "currency",
    "currency_conversion_rate",
    "cost_at_list",
    "usage.amount",
    "usage.unit",
    "usage.amount_in_pricing_units",
    "usage.pricing_unit",
    "credits",
    "adjustment_info.id",
    "adjustment_info.description",
    "adjustment_info.mode",
    "adjustment_info.type",
    "export_time",
    "price.effective_price",
    "price.tier_start_amount",
    "price.unit",
    "price.pricing_unit_quantity",
    "resource.name",
    "resource.global_name",
    "subscription.instance_id",
    "transaction_type",
    "seller_name",
    "consumption_model.id",
    "consumption_model.description",
)
_PATHS = {leaf.replace(".", "_"): leaf for leaf in _LEAVES}
"""Raw column -> its dotted export path (the raw column name is the path with '.' -> '_')."""

REQUIRED_PATHS = (
    "billing_account_id",
    "invoice.month",
    "cost",
    "currency",
    "usage_start_time",
    "usage_end_time",
    "service.description",
)
"""A file without these is not a GCP billing export (FOCUS Mandatory non-null columns depend on them)."""

READING = Reading(
    what="a GCP billing export",
    refusal="not a GCP billing export file (expected .parquet, .jsonl/.json or .csv)",
    suffixes={
        "parquet": (".parquet",),
        "jsonl": (".json", ".jsonl", ".ndjson", ".json.gz", ".jsonl.gz", ".ndjson.gz"),
        "csv": (".csv", ".csv.gz"),
    },
)

_LABELS = '[{"key":"VARCHAR","value":"VARCHAR"}]'
_SHAPES = {
    "credits": '[{"name":"VARCHAR","amount":"DECIMAL(38,12)","full_name":"VARCHAR","id":"VARCHAR","type":"VARCHAR"}]',
    "tags": '[{"key":"VARCHAR","value":"VARCHAR","inherited":"BOOLEAN","namespace":"VARCHAR"}]',
    "project_ancestors": '[{"resource_name":"VARCHAR","display_name":"VARCHAR"}]',
}
"""Repeated records other than labels -> JSON arrays of this shape."""

_PY_REPR_FIXES = (
    (r"Decimal\('([^']*)'\)", r"\1"),
    ("'", '"'),
    (r"\bNone\b", "null"),
    (r"\bTrue\b", "true"),
    (r"\bFalse\b", "false"),
)
# Keys are unique per resource; a repeated key keeps its last value (a MAP cannot repeat keys).
_LAST_VALUE_PER_KEY = (
    "map_from_entries(list_transform(list_distinct(list_transform(:items, lambda e: e.key)), "
    "lambda k: {'key': k, 'value': list_filter(:items, lambda e: e.key = k)[-1].value}))"
)


def _json_array_text(found: Field) -> Expr:
    """JSON text of a repeated record: as-is when valid JSON, else a Python repr rewritten to JSON.

    The rewrite is textual (quotes, None/True/False, Decimal('x')); a repr value that itself contains
    a quote cannot be rewritten and quarantines its row.
    """
    if found.source.is_nested:
        return found.text()
    fixed = found.text()
    for pattern, replacement in _PY_REPR_FIXES:
        fixed = fn("regexp_replace", fixed, lit(pattern), lit(replacement), lit("g"))
    return case((fn("json_valid", found.text()), found.text()), default=fixed)


def _items(row: Row, column: Column, found: Field, shape: str) -> exp.Column:
    """The repeated record as a list of structs of ``shape``, its row quarantined when it does not read.

    A typed list (Parquet, JSON lines) already of that type is used as it is: the JSON text route
    gives the same list, at the cost of rendering and re-parsing every record (most of a GCP
    Parquet conversion's time). Any other type (a DOUBLE credit amount for a DECIMAL shape) takes
    the JSON route, so each value converts exactly as from text.
    """
    typed = found.typed()
    if typed is not None and typed == _shape_type(shape):
        return row.keep(f"{column.name}#list", found.typed_value())
    text = row.keep(f"{column.name}#json", _json_array_text(found))
    is_array = exp.EQ(this=fn("json_type", text.copy()), expression=lit("ARRAY"))
    items = case((and_(fn("json_valid", text.copy()), is_array), fn("json_transform", text.copy(), lit(shape))))
    listed = row.keep(f"{column.name}#list", items)
    row.check(and_(not_null(text), is_null(listed.copy())), quoted(f"unparsable array in {found.name}: ", found.text()))
    return listed


@cache
def _shape_type(shape: str) -> DuckDBPyType:
    """The DuckDB type ``json_transform`` gives a JSON array read with ``shape``."""
    with duckdb.connect() as con:
        [(kind,)] = con.execute(f"SELECT typeof(json_transform('[]', {render(lit(shape))}))").fetchall()
    return duckdb.sqltype(str(kind))


def _labels(row: Row, column: Column) -> Expr:
    """Key/value records (labels) -> MAP<STRING,STRING>."""
    found = row.field(column.name)
    if found is None:
        return null("MAP(VARCHAR, VARCHAR)")
    return template(_LAST_VALUE_PER_KEY, items=_items(row, column, found, _LABELS))


def _json_array(shape: str) -> ValueRule:
    """Other repeated records -> JSON text of ``shape``; an empty list is NULL."""

    def read(row: Row, column: Column) -> Expr:
        found = row.field(column.name)
        if found is None:
            return null("VARCHAR")
        items = _items(row, column, found, shape)
        if column.name == "credits":
            # A credit without a readable amount cannot be netted: quarantine instead of dropping it.
            unreadable = template("len(list_filter(:items, lambda c: c.amount IS NULL)) > 0", items=items)
            row.check(unreadable, quoted(f"unparsable credit amount in {found.name}: ", found.text()))
        has_items = exp.GT(this=fn("len", items.copy()), expression=exp.Literal.number(0))
        return case((has_items, cast(fn("to_json", items.copy()), "VARCHAR")))

    return read


def _invoice_month(row: Row) -> Expr:
    """billing_period: the first day of ``invoice.month`` (YYYYMM); any other text quarantines its row."""
    month = row.output("invoice_month")
    period = row.keep("billing_period", cast(fn("try_strptime", month, lit("%Y%m")), "DATE"))
    unparsable = exp.or_(is_null(period.copy()), not_(fn("regexp_full_match", month.copy(), lit("[0-9]{6}"))))
    row.check(and_(not_null(month.copy()), unparsable), quoted("unparsable invoice month: ", month.copy()))
    return period


LAYOUT = Layout(
    name="a GCP billing export",
    source_format="gcp_billing",
    routes=(Paths(_PATHS),),
    required=tuple(raw for path in REQUIRED_PATHS for raw, p in _PATHS.items() if p == path),
    refusal_reason="NOT_A_GCP_BILLING_EXPORT",
    shown_as=_PATHS,
    derived={"billing_period": _invoice_month},
    checks=(
        Missing("invoice_month", "invoice month"),
        Missing("usage_start_time", "usage start time"),
        Missing("usage_end_time", "usage end time"),
        Missing("cost", "cost"),
        Missing("currency", "currency"),
        Missing("billing_account_id", "billing account id"),
        Missing("service_description", "service description"),
    ),
    values={
        "labels": _labels,
        "system_labels": _labels,
        "project_labels": _labels,
        **{name: _json_array(shape) for name, shape in _SHAPES.items()},
    },
)

FORMAT = FileFormat(
    RAW_TABLE, READING, lambda _file: LAYOUT, layouts=(LAYOUT,), currencies=Currencies(billing=("currency",))
)

build_raw_select: RawSelectBuilder = FORMAT
"""The ``RawSelectBuilder`` of detailed or standard exports: Parquet or newline-delimited JSON with nested
records, or a flattened CSV with dotted column names; other files are refused (NOT_A_GCP_BILLING_EXPORT)."""
