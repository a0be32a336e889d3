"""OpenAI Costs and Usage reads (the connector's JSON-lines file): their declared format.

The connector (``connector.py``) writes one JSON object per result of the organization Costs endpoint
(``record_type`` costs, grouped by project and line item) and of the Usage endpoints it reads
(``completions``, ``embeddings``, grouped by project and model), each with its daily bucket's
``bucket_start_time`` / ``bucket_end_time`` (Unix seconds, as OpenAI writes them) and the organization
of the credential; nested fields are flattened with ``_`` (``amount.value`` -> ``amount_value``) and
every value is text (``cloudact_providers.apirows``). A field the raw schema does not name lands in
``extra_columns``.

A row is quarantined, with its reason, when it has no known record type, no bucket start, no
organization, or (a cost) no amount or currency, or when a value does not parse (an amount that is not
a number, a token count that is not an integer, a start time that is not Unix seconds).
"""

from __future__ import annotations

from collections.abc import Mapping

from sqlglot import exp

from cloudact_providers.apirows import Record, record
from cloudact_providers.connector import RawSelectBuilder
from cloudact_providers.rawselect import (
    Currencies,
    FileFormat,
    Layout,
    Missing,
    Named,
    Reading,
    Row,
    RowCheck,
    utc_month,
)
from cloudact_providers.rawselect.sql import Check, Expr, and_, case, fn, is_null, lit, not_, not_null, quoted, try_cast

RAW_TABLE = "cloud_openai_billing_raw_daily"

COSTS = "costs"
USAGE_KINDS = ("completions", "embeddings")
"""The Usage endpoints read for token quantities (``/v1/organization/usage/<kind>``): the token-billed
ones. Images, audio, moderations, vector stores and tool calls have no tokens to join."""
RECORD_TYPES = (COSTS, *USAGE_KINDS)

READING = Reading(
    what="an OpenAI Costs and Usage read",
    refusal="not an OpenAI Costs and Usage read (expected the connector's .jsonl file)",
    suffixes={"jsonl": (".jsonl", ".jsonl.gz", ".ndjson")},
    refusal_reason="NOT_AN_OPENAI_COSTS_READ",
)


def line(
    record_type: str,
    organization_id: str,
    organization_name: str | None,
    bucket_start: object,
    bucket_end: object,
    result: Mapping[str, object],
) -> Record:
    """One line of the file: a result of the ``record_type`` endpoint in its bucket (start_time and
    end_time as the answer gives them), with the credential's organization."""
    added = {
        "record_type": record_type,
        "organization_id": organization_id,
        "organization_name": organization_name,
        "bucket_start_time": bucket_start,
        "bucket_end_time": bucket_end,
    }
    return record(added, result)


# Unix seconds up to 9999-12-31: to_timestamp fails the whole query on a value past DuckDB's range.
_LAST_SECOND = 253402300799


def _unix_seconds(text: Expr, duck_type: str) -> Expr:
    """A bucket time: whole Unix seconds (what OpenAI writes) -> TIMESTAMPTZ; anything else is NULL,
    which quarantines the row as an unparsable timestamp."""
    seconds = try_cast(text, "BIGINT")
    in_range = exp.Between(this=seconds, low=exp.Literal.number(0), high=exp.Literal.number(_LAST_SECOND))
    return case((in_range, fn("to_timestamp", seconds.copy())))


def _known_record_type(row: Row) -> Check:
    kind = row.output("record_type")
    unknown = and_(not_null(kind.copy()), not_(exp.In(this=kind.copy(), expressions=[lit(k) for k in RECORD_TYPES])))
    return unknown, quoted("unknown record type: ", kind)


def _cost_needs(column: str, label: str) -> RowCheck:
    """A cost row without ``column`` (an amount, a currency) cannot be billed."""

    def check(row: Row) -> Check:
        is_cost = exp.EQ(this=row.output("record_type"), expression=lit(COSTS))
        return and_(is_cost, is_null(row.output(column))), lit(f"missing {label} in a cost result ({column})")

    return check


LAYOUT = Layout(
    name="an OpenAI Costs and Usage read",
    source_format="openai_api",
    routes=(Named(),),
    required=("record_type", "bucket_start_time"),
    refusal_reason="NOT_AN_OPENAI_COSTS_READ",
    derived={"billing_period": utc_month("bucket_start_time")},
    parsers={"TIMESTAMP": _unix_seconds},
    checks=(
        Missing("record_type", "record type"),
        _known_record_type,
        Missing("bucket_start_time", "bucket start time"),
        Missing("bucket_end_time", "bucket end time"),
        Missing("organization_id", "organization id"),
        _cost_needs("amount_value", "amount"),
        _cost_needs("amount_currency", "currency"),
    ),
)

FORMAT = FileFormat(
    RAW_TABLE, READING, lambda _file: LAYOUT, layouts=(LAYOUT,), currencies=Currencies(billing=("amount_currency",))
)

build_raw_select: RawSelectBuilder = FORMAT
"""The ``RawSelectBuilder`` of the connector's JSON-lines reads; other files are refused
(NOT_AN_OPENAI_COSTS_READ)."""
