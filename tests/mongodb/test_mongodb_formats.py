"""Atlas invoice records (``formats.py``): the connector's JSON lines, their checks and what is refused."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from cloudact_cli.convert import convert_files
from cloudact_providers.mongodb.formats import invoice_records, snake_case
from cloudact_shared.errors import FailedPrecondition
from tests.mongodb.conftest import raw_rows

INVOICE = {
    "id": "0123456789abcdef01234567",
    "orgId": "5f1e2d3c4b5a69788796a5b4",
    "statusName": "CLOSED",
    "startDate": "2026-03-01T00:00:00Z",
    "endDate": "2026-04-01T00:00:00Z",
    "amountBilledCents": 1000,
    "salesTaxCents": 0,
    "lineItems": [
        {
            "sku": "ATLAS_AWS_INSTANCE_M10",
            "startDate": "2026-03-01T00:00:00Z",
            "endDate": "2026-03-02T00:00:00Z",
            "unitPriceDollars": Decimal("1E-7"),
            "quantity": Decimal("72"),
            "totalPriceCents": 1000,
            "tags": {"env": ["prod"]},
            "newField": "kept",
        }
    ],
}


def _write(path: Path, records: list[dict[str, str | None]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def test_records_are_a_line_item_each_then_the_invoice() -> None:
    item, own = invoice_records(INVOICE)

    assert (item["record_type"], own["record_type"]) == ("line_item", "invoice")
    assert item["unit_price_dollars"] == "0.0000001"  # plain notation: the digits Atlas wrote, read exactly
    assert item["total_price_cents"] == "1000" and item["tags"] == '{"env":["prod"]}' and item["newField"] == "kept"
    assert own["amount_billed_cents"] == "1000" and "sku" not in own
    assert snake_case("unitPriceDollars") == "unit_price_dollars"


def test_bad_records_are_quarantined_each_with_its_reason(tmp_path: Path) -> None:
    item, own = invoice_records(INVOICE)
    records = [
        item,
        {**item, "tags": '["prod"]'},
        {**item, "end_date": "2026-02-28T00:00:00Z"},
        {**item, "discount_cents": "1.5"},
        {**item, "total_price_cents": None},
        {**item, "record_type": "payment"},
        own,
    ]
    rows = raw_rows(_write(tmp_path / "invoice.jsonl", records))

    assert [r["_quarantine_reason"] for r in rows] == [
        None,
        "tags are not a JSON object: '[\"prod\"]'",
        "the line item ends before it starts (endDate < startDate)",
        "not a whole number of cents in discount_cents: '1.5'",
        "missing amount (totalPriceCents)",
        "unknown record_type: 'payment'",
        None,
    ]
    assert rows[0]["extra_columns"] == {"newField": "kept"} and rows[0]["unit_price_dollars"] == Decimal("1E-7")


def test_a_file_that_is_not_the_connectors_is_refused(tmp_path: Path) -> None:
    other = _write(tmp_path / "other.jsonl", [{"name": "foo", "amount": "1"}])
    with pytest.raises(FailedPrecondition) as caught:
        convert_files("mongodb", [other], tmp_path / "focus.parquet")
    assert caught.value.reason == "NOT_A_MONGODB_INVOICE_FILE" and "invoice_id" in caught.value.message
