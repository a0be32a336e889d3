"""MongoDB Atlas invoices, as the connector writes them: JSON lines, one record per line item, one per invoice.

An Atlas invoice (``GET /api/atlas/v2/orgs/{orgId}/invoices/{invoiceId}``) holds its money in integer
cents (``amountBilledCents``, ``salesTaxCents`` ...) and its ``lineItems[]``: ``sku``, ``groupId`` /
``groupName`` (the project), ``clusterName``, ``startDate`` / ``endDate``, ``quantity`` and ``unit``,
``unitPriceDollars`` (US dollars), ``totalPriceCents`` (``unitPriceDollars`` x ``quantity`` x 100, in
cents) and, when a discount applies, ``discountCents`` and ``percentDiscount``; ``tags`` (key -> list of
values). The connector writes one record per line item (``invoice_records``), the invoice's fields
repeated on each, then one ``invoice`` record of the invoice's own fields: it carries the sales tax
(no line item does) and makes an invoice without line items yet (a pending invoice on the 1st) a file
with a row, so its month is replaced with no charges instead of failing the run. Field names become
snake case (``totalPriceCents`` -> ``total_price_cents``); a field Atlas adds keeps its name and lands
in ``extra_columns``. Values are text: numbers in the digits Atlas wrote (the client parses JSON with
Decimal), ``tags`` as JSON.

Cents are whole numbers: a cents value that is not (``12.5``) quarantines its record, as DuckDB would
otherwise round it silently. So does a record without its invoice or the invoice's start, a line item
without its amount or start, a line item that ends before it starts, or tags that are not a JSON object.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Final

from sqlglot import exp

from cloudact_providers.connector import RawSelectBuilder
from cloudact_providers.rawselect import FileFormat, Layout, Missing, Named, Reading, Row, utc_month
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
    try_cast,
)
from cloudact_shared.storage.schema import Column

RAW_TABLE = "cloud_mongodb_billing_raw_daily"

LINE_ITEM: Final = "line_item"
INVOICE: Final = "invoice"
RECORD_TYPES: Final = (LINE_ITEM, INVOICE)

# The invoice's fields every record repeats (Atlas name -> record field).
_INVOICE_FIELDS: Final = {
    "id": "invoice_id",
    "orgId": "org_id",
    "statusName": "invoice_status",
    "startDate": "invoice_start_date",
    "endDate": "invoice_end_date",
    "created": "invoice_created",
    "updated": "invoice_updated",
    "amountBilledCents": "amount_billed_cents",
    "subtotalCents": "subtotal_cents",
    "salesTaxCents": "sales_tax_cents",
    "creditsCents": "credits_cents",
}
# The documented fields of a line item (InvoiceLineItem).
_LINE_ITEM_FIELDS: Final = (
    "clusterName",
    "created",
    "discountCents",
    "endDate",
    "groupId",
    "groupName",
    "note",
    "percentDiscount",
    "quantity",
    "sku",
    "startDate",
    "stitchAppName",
    "tags",
    "tierLowerBound",
    "tierUpperBound",
    "totalPriceCents",
    "unit",
    "unitPriceDollars",
)
CENTS_COLUMNS: Final = (
    "total_price_cents",
    "discount_cents",
    "amount_billed_cents",
    "subtotal_cents",
    "sales_tax_cents",
    "credits_cents",
)
_WHOLE_CENTS = r"-?[0-9]{1,18}"

READING = Reading(
    what="a MongoDB Atlas invoice file",
    refusal="not a MongoDB Atlas invoice file (expected the connector's .jsonl)",
    suffixes={"jsonl": (".jsonl", ".json", ".ndjson", ".jsonl.gz")},
    refusal_reason="NOT_A_MONGODB_INVOICE_FILE",
)


def snake_case(name: str) -> str:
    """``totalPriceCents`` -> ``total_price_cents``."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def invoice_records(invoice: Mapping[str, Any]) -> Iterator[dict[str, str | None]]:
    """The JSON-lines records of one invoice: one per line item, then the invoice's own."""
    base: dict[str, str | None] = {field: _text(invoice.get(name)) for name, field in _INVOICE_FIELDS.items()}
    for item in invoice.get("lineItems") or []:
        record: dict[str, str | None] = {**base, "record_type": LINE_ITEM}
        for name, value in dict(item).items():
            record[snake_case(name) if name in _LINE_ITEM_FIELDS else name] = _text(value)
        yield record
    yield {**base, "record_type": INVOICE}


def _text(value: object) -> str | None:
    """A JSON value as the text the raw SELECT parses: a Decimal in plain notation (DuckDB reads it
    exactly), a float as its shortest repr, objects and lists as JSON."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    return json.dumps(value, default=str, separators=(",", ":"))


def _cents(row: Row, column: Column) -> Expr:
    """An integer number of cents; anything else (``12.5``, ``abc``) quarantines the record."""
    found = row.field(column.name)
    if found is None:
        return null("BIGINT")
    text = found.text()
    whole = fn("regexp_full_match", text, lit(_WHOLE_CENTS))
    value = row.keep(column.name, case((whole, try_cast(text.copy(), "BIGINT"))))
    reason = quoted(f"not a whole number of cents in {found.name}: ", text.copy())
    row.check(and_(not_null(text.copy()), is_null(value.copy())), reason)
    return value


def _tags(row: Row, column: Column) -> Expr:
    """``tags`` as its JSON text; a value that is not a JSON object quarantines the record."""
    found = row.field(column.name)
    if found is None:
        return null("VARCHAR")
    text = row.keep(column.name, found.text())
    # CASE, not AND: DuckDB evaluates both sides of an AND, and json_type fails on invalid JSON.
    is_object = case(
        (fn("json_valid", text.copy()), exp.EQ(this=fn("json_type", text.copy()), expression=lit("OBJECT"))),
        default=exp.false(),
    )
    row.check(and_(not_null(text.copy()), not_(is_object)), quoted("tags are not a JSON object: ", text.copy()))
    return text


def _known_record_type(row: Row) -> Check:
    kind = row.output("record_type")
    known = exp.In(this=kind.copy(), expressions=[lit(k) for k in RECORD_TYPES])
    return and_(not_null(kind), not_(known)), quoted("unknown record_type: ", kind.copy())


def _line_item(row: Row) -> Expr:
    return exp.EQ(this=row.output("record_type"), expression=lit(LINE_ITEM))


def _line_item_amount(row: Row) -> Check:
    return and_(_line_item(row), is_null(row.output("total_price_cents"))), lit("missing amount (totalPriceCents)")


def _line_item_start(row: Row) -> Check:
    return and_(_line_item(row), is_null(row.output("start_date"))), lit("missing line item start date (startDate)")


def _ends_before_start(row: Row) -> Check:
    start, end = row.output("start_date"), row.output("end_date")
    return (
        and_(not_null(start.copy()), not_null(end.copy()), exp.LT(this=end, expression=start)),
        lit("the line item ends before it starts (endDate < startDate)"),
    )


LAYOUT = Layout(
    name="a MongoDB Atlas invoice file",
    source_format="mongodb_invoice",
    routes=(Named(),),
    required=("invoice_id", "invoice_start_date", "record_type"),
    refusal_reason="NOT_A_MONGODB_INVOICE_FILE",
    derived={"billing_period": utc_month("invoice_start_date")},
    checks=(
        Missing("invoice_id", "invoice id"),
        Missing("invoice_start_date", "invoice start date"),
        Missing("record_type", "record type"),
        _known_record_type,
        _line_item_amount,
        _line_item_start,
        _ends_before_start,
    ),
    values={**{name: _cents for name in CENTS_COLUMNS}, "tags": _tags},
)

FORMAT = FileFormat(RAW_TABLE, READING, lambda _file: LAYOUT, layouts=(LAYOUT,))

build_raw_select: RawSelectBuilder = FORMAT
"""The ``RawSelectBuilder`` of the connector's JSON-lines invoice files; other files are refused
(NOT_A_MONGODB_INVOICE_FILE)."""
