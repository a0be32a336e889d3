"""Datadog's cost by organization, as the connector writes it: JSON lines, one record per charge.

Datadog's cost endpoints (``/api/v2/usage/historical_cost`` and ``/estimated_cost``) answer
``{"data": [{"id", "type": "cost_by_org", "attributes": {account_name, account_public_id, org_name,
public_id, region, date, total_cost, charges: [{product_name, charge_type, cost}]}}]}``: one element
per organization (``view=sub-org``) or per parent (``summary``) and month, its charges nested. The
connector flattens each element into one record per charge (``charge_records``), the element's fields
repeated on each, and adds ``cost_source``: which endpoint answered (``historical_cost``: the final
month; ``estimated_cost``: a month-to-date estimate that a later run replaces with the final answer).
Numbers are written as their decimal text (Datadog sends USD as JSON floats; the text is the value
Datadog wrote, parsed exactly into DECIMAL here, never through a binary float sum). A field Datadog
adds is kept in ``extra_columns``.

A record without its month, product, charge type or cost, or with a cost that is not a number, is
quarantined with its reason; the rest of the file loads.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Final

from sqlglot import exp

from cloudact_providers.connector import RawSelectBuilder
from cloudact_providers.rawselect import FileFormat, Layout, Missing, MissingAll, Named, Reading, Row, utc_month
from cloudact_providers.rawselect.sql import Check, and_, lit, not_, not_null, quoted

RAW_TABLE = "cloud_datadog_billing_raw_daily"

HISTORICAL: Final = "historical_cost"
"""The final cost of a month (available no later than the 16th of the next month)."""
ESTIMATED: Final = "estimated_cost"
"""A month-to-date estimate of the current or previous month, up to 72 hours late."""
COST_SOURCES: Final = (HISTORICAL, ESTIMATED)

READING = Reading(
    what="a Datadog cost file",
    refusal="not a Datadog cost file (expected the connector's .jsonl)",
    suffixes={"jsonl": (".jsonl", ".json", ".ndjson", ".jsonl.gz")},
    refusal_reason="NOT_A_DATADOG_COST_FILE",
)


def charge_records(item: Mapping[str, Any], cost_source: str) -> Iterator[dict[str, str | None]]:
    """The JSON-lines records of one ``data[]`` element of a cost answer: one per charge.

    Args:
        item: the element as Datadog sends it (``id``, ``type``, ``attributes`` with ``charges``);
            values may be the client's Python values (floats, datetimes) or JSON's.
        cost_source: ``historical_cost`` or ``estimated_cost``, the endpoint that answered.

    Raises:
        ValueError: ``cost_source`` is neither.
    """
    if cost_source not in COST_SOURCES:
        raise ValueError(f"cost_source must be one of {COST_SOURCES}, not {cost_source!r}")
    attributes = dict(item.get("attributes") or {})
    charges = attributes.pop("charges", None) or []
    base = {"id": _text(item.get("id")), "type": _text(item.get("type"))}
    base.update({key: _text(value) for key, value in attributes.items()})
    base["cost_source"] = cost_source
    for charge in charges:
        yield {**base, **{key: _text(value) for key, value in dict(charge).items()}}


def _text(value: object) -> str | None:
    """A value as the text the raw SELECT parses: numbers in their shortest exact decimal form (a float
    as Python's repr, which reads back to the same float and is the literal Datadog wrote), dates in
    ISO 8601, nested values as JSON."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | Decimal):
        return repr(value) if isinstance(value, float) else str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    return json.dumps(value, default=str)


def _known_source(row: Row) -> Check:
    """A record must say which endpoint it came from: the estimate and the final month load alike."""
    source = row.output("cost_source")
    known = exp.In(this=source.copy(), expressions=[lit(s) for s in COST_SOURCES])
    return and_(not_null(source), not_(known)), quoted("unknown cost_source: ", source.copy())


LAYOUT = Layout(
    name="a Datadog cost file",
    source_format="datadog_cost",
    routes=(Named(),),
    required=("date", "product_name", "charge_type", "cost", "cost_source"),
    refusal_reason="NOT_A_DATADOG_COST_FILE",
    derived={"billing_period": utc_month("date")},
    checks=(
        Missing("date", "month"),
        Missing("product_name", "product name"),
        Missing("charge_type", "charge type"),
        Missing("cost", "cost"),
        Missing("cost_source", "cost source"),
        _known_source,
        MissingAll(("account_public_id", "public_id"), "missing account and organization public id"),
    ),
)

FORMAT = FileFormat(RAW_TABLE, READING, lambda _file: LAYOUT, layouts=(LAYOUT,))

build_raw_select: RawSelectBuilder = FORMAT
"""The ``RawSelectBuilder`` of the connector's JSON-lines cost files; other files are refused
(NOT_A_DATADOG_COST_FILE)."""
