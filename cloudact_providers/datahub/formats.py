"""DataHub cost events files (CSV or newline-delimited JSON): their declared format.

One event per row, fields named as in ``datahub_dci`` plus ``cost``, ``currency`` and ``usage_amount``
(``events.FIELDS``; headers are matched ignoring case and separators, so ``EventId`` is
``event_id``). What the pipeline loads are the connector's monthly extracts of the inbox (CSV, every
value as text); ``cloudact convert --provider datahub`` reads an events file as a user has it (CSV, or
JSON lines whose records DuckDB types).

- ``project_labels``, ``labels`` and ``system_labels`` are repeated ``{key, value}`` records (the seed's
  shape: a JSON array, typed or as text) or a JSON object ``{"team": "web"}``: either becomes a
  MAP<STRING,STRING>, a repeated key keeping its last value; ``metrics`` the same with numeric values.
- ``usage_date_time`` is a date (a day's usage) or a date and time (the hour's usage): the raw column
  ``usage_granularity`` says which (``day`` / ``hour``), the FOCUS mapping makes the charge period of it.
- ``billing_period`` is the UTC month of ``usage_date_time``.

A row without an event id, cloud, billing account, service (description or id), usage time, cost or
currency, with a cost type that is not one, or with a value that does not parse is quarantined with
its reason. Rows are not de-duplicated here: the inbox's monthly extracts hold each event_id once
(``connector``), and a file given to ``cloudact convert`` is converted as it is.
"""

from __future__ import annotations

from sqlglot import exp

from cloudact_providers.connector import RawSelectBuilder
from cloudact_providers.datahub.events import COST_TYPES
from cloudact_providers.rawselect import (
    NORMALIZED,
    Currencies,
    FileFormat,
    Layout,
    Missing,
    MissingAll,
    Reading,
    Row,
    ValueRule,
    utc_month,
)
from cloudact_providers.rawselect.sql import (
    Check,
    Expr,
    and_,
    case,
    fn,
    is_null,
    lit,
    not_,
    not_null,
    null,
    quoted,
    template,
)
from cloudact_shared.storage.schema import Column

RAW_TABLE = "cloud_datahub_billing_raw_daily"

READING = Reading(
    what="DataHub cost events",
    refusal="not a DataHub cost events file (expected .csv or .jsonl / .ndjson / .json, gzip allowed)",
    refusal_reason="NOT_DATAHUB_EVENTS",
    suffixes={
        "csv": (".csv", ".csv.gz"),
        "jsonl": (".jsonl", ".ndjson", ".json", ".jsonl.gz", ".ndjson.gz", ".json.gz"),
    },
)

# A repeated key keeps its last value (a MAP cannot repeat keys); entries without a key or a value
# are no entries (an absent value is "not set").
_LAST_VALUE_PER_KEY = (
    "map_from_entries(list_transform("
    "list_distinct(list_transform(list_filter(:items, lambda e: e.key IS NOT NULL AND e.value IS NOT NULL), "
    "lambda e: e.key)), "
    "lambda k: {'key': k, 'value': list_filter(:items, lambda e: e.key = k AND e.value IS NOT NULL)[-1].value}))"
)


def _records(value_type: str) -> ValueRule:
    """The value rule of a key/value record column whose values are ``value_type``."""
    array_shape = lit(f'[{{"key":"VARCHAR","value":"{value_type}"}}]')
    object_shape = lit(f'"MAP(VARCHAR, {value_type})"')

    def read(row: Row, column: Column) -> Expr:
        found = row.field(column.name)
        if found is None:
            return null(f"MAP(VARCHAR, {value_type})")
        # Typed records (JSON lines) render as their JSON text: one parse for every spelling.
        text = row.keep(f"{column.name}#json", found.text())
        kind = fn("json_type", text.copy())
        items = case(
            (
                fn("json_valid", text.copy()),
                case(
                    (exp.EQ(this=kind.copy(), expression=lit("ARRAY")), fn("json_transform", text.copy(), array_shape)),
                    (
                        exp.EQ(this=kind, expression=lit("OBJECT")),
                        fn("map_entries", fn("json_transform", text.copy(), object_shape)),
                    ),
                ),
            )
        )
        listed = row.keep(f"{column.name}#items", items)
        reason = quoted(f"unparsable key/value records in {found.name}: ", found.text())
        row.check(and_(not_null(text.copy()), is_null(listed.copy())), reason)
        return template(_LAST_VALUE_PER_KEY, items=listed)

    return read


def _granularity(row: Row) -> Expr:
    """``day`` for a usage time given as a date, else ``hour``: the charge period the event covers."""
    found = row.field("usage_date_time")
    if found is None:
        return null("VARCHAR")
    if found.is_typed:  # JSON lines: DuckDB typed the column (all dates, or all date-times)
        return lit("day" if found.source.type == "DATE" else "hour")
    length = fn("length", fn("trim", found.text()))
    return case((exp.EQ(this=length, expression=exp.Literal.number(10)), lit("day")), default=lit("hour"))


def _known_cost_type(row: Row) -> Check:
    value = row.output("cost_type")
    known = exp.In(this=fn("lower", fn("trim", value.copy())), expressions=[lit(k) for k in sorted(COST_TYPES)])
    return and_(not_null(value.copy()), not_(known)), quoted("unknown cost_type: ", value)


LAYOUT = Layout(
    name="DataHub cost events",
    source_format="datahub_events",
    routes=(NORMALIZED,),
    required=(
        "event_id",
        "cloud",
        "billing_account_id",
        ("service_description", "service_id"),
        "usage_date_time",
        "cost",
        "currency",
    ),
    refusal_reason="NOT_DATAHUB_EVENTS",
    derived={"billing_period": utc_month("usage_date_time"), "usage_granularity": _granularity},
    checks=(
        Missing("event_id", "event id"),
        Missing("cloud", "cloud"),
        Missing("billing_account_id", "billing account id"),
        MissingAll(("service_description", "service_id"), "missing service (service_description or service_id)"),
        Missing("usage_date_time", "usage time"),
        Missing("cost", "cost"),
        Missing("currency", "currency"),
        _known_cost_type,
    ),
    values={
        "project_labels": _records("VARCHAR"),
        "labels": _records("VARCHAR"),
        "system_labels": _records("VARCHAR"),
        "metrics": _records("DOUBLE"),
    },
)

FORMAT = FileFormat(
    RAW_TABLE, READING, lambda _file: LAYOUT, layouts=(LAYOUT,), currencies=Currencies(billing=("currency",))
)

build_raw_select: RawSelectBuilder = FORMAT
"""The ``RawSelectBuilder`` of DataHub cost events files (CSV or JSON lines, gzip allowed); other
files are refused (NOT_DATAHUB_EVENTS)."""
