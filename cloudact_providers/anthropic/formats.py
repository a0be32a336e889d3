"""Anthropic cost and usage report reads (the connector's JSON-lines file): their declared format.

The connector (``connector.py``) writes one JSON object per row of a cost report (``record_type``
cost) and of a usage report (``usage``), from the Usage and Cost Analytics API (``report_api``
analytics: each item's ``group`` and ``cost`` / ``usage`` fields side by side) or from the legacy
reports (``legacy``: each bucket's result with the bucket's ``starting_at`` / ``ending_at``), with the
key's organization. Nested fields are flattened with ``_`` (``cache_creation.ephemeral_5m_input_tokens``
-> ``cache_creation_ephemeral_5m_input_tokens``) and every value is text (``cloudact_providers.apirows``):
amounts stay the decimal strings of cents Anthropic writes. A field the raw schema does not name lands
in ``extra_columns``.

A row is quarantined, with its reason, when it has no known record type or report, no bucket, no
organization, or (a cost) no amount or currency, or when a value does not parse (an amount that is not
a number, a token count that is not an integer, a time that is not RFC 3339).
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
from cloudact_providers.rawselect.sql import Check, and_, is_null, lit, not_, not_null, quoted

RAW_TABLE = "cloud_anthropic_billing_raw_daily"

COST, USAGE = "cost", "usage"
ANALYTICS, LEGACY = "analytics", "legacy"

READING = Reading(
    what="an Anthropic cost and usage read",
    refusal="not an Anthropic cost and usage read (expected the connector's .jsonl file)",
    suffixes={"jsonl": (".jsonl", ".jsonl.gz", ".ndjson")},
    refusal_reason="NOT_AN_ANTHROPIC_COST_READ",
)


def line(
    record_type: str, report_api: str, organization_id: str, organization_name: str, row: Mapping[str, object]
) -> Record:
    """One line of the file: a report row (its bucket's ``starting_at`` / ``ending_at`` among its fields),
    with the report it came from and the key's organization."""
    added = {
        "record_type": record_type,
        "report_api": report_api,
        "organization_id": organization_id,
        "organization_name": organization_name,
    }
    return record(added, row)


def analytics_row(item: Mapping[str, object]) -> dict[str, object]:
    """An Analytics API item as one row: its ``group`` dimensions and its ``cost`` or ``usage`` metrics
    beside its bucket (the names then match the legacy reports': ``model``, ``amount`` ...)."""
    row = {key: value for key, value in item.items() if key not in ("group", "cost", "usage")}
    for part in ("group", "cost", "usage"):
        if isinstance(fields := item.get(part), Mapping):
            row |= {str(key): value for key, value in fields.items() if key not in row}
    return row


def legacy_row(bucket: Mapping[str, object], result: Mapping[str, object]) -> dict[str, object]:
    """A legacy report result as one row, with its bucket's ``starting_at`` and ``ending_at``."""
    return {"starting_at": bucket.get("starting_at"), "ending_at": bucket.get("ending_at"), **result}


def _one_of(column: str, allowed: tuple[str, ...], label: str) -> RowCheck:
    def check(row: Row) -> Check:
        value = row.output(column)
        outside = not_(exp.In(this=value.copy(), expressions=[lit(v) for v in allowed]))
        return and_(not_null(value.copy()), outside), quoted(f"unknown {label}: ", value)

    return check


def _cost_needs(column: str, label: str) -> RowCheck:
    """A cost row without ``column`` (an amount, a currency) cannot be billed."""

    def check(row: Row) -> Check:
        is_cost = exp.EQ(this=row.output("record_type"), expression=lit(COST))
        return and_(is_cost, is_null(row.output(column))), lit(f"missing {label} in a cost row ({column})")

    return check


LAYOUT = Layout(
    name="an Anthropic cost and usage read",
    source_format="anthropic_api",
    routes=(Named(),),
    required=("record_type", "starting_at"),
    refusal_reason="NOT_AN_ANTHROPIC_COST_READ",
    derived={"billing_period": utc_month("starting_at")},
    checks=(
        Missing("record_type", "record type"),
        _one_of("record_type", (COST, USAGE), "record type"),
        _one_of("report_api", (ANALYTICS, LEGACY), "report"),
        Missing("starting_at", "bucket start (starting_at)"),
        Missing("ending_at", "bucket end (ending_at)"),
        Missing("organization_id", "organization id"),
        _cost_needs("amount", "amount"),
        _cost_needs("currency", "currency"),
    ),
)

FORMAT = FileFormat(
    RAW_TABLE, READING, lambda _file: LAYOUT, layouts=(LAYOUT,), currencies=Currencies(billing=("currency",))
)

build_raw_select: RawSelectBuilder = FORMAT
"""The ``RawSelectBuilder`` of the connector's JSON-lines reads; other files are refused
(NOT_AN_ANTHROPIC_COST_READ)."""
