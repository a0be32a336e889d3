"""Synthetic MongoDB Atlas invoices: what the loopback server serves and the tests and benchmarks read.

``invoice`` builds one invoice in the Admin API's JSON shape (``BillingInvoice`` with its
``lineItems``): per day, per cluster of each project, the instance hours, provisioned storage, backup
storage and inter-region transfer of its cloud, each priced in dollars (``unitPriceDollars``) and
totalled in integer cents (``totalPriceCents`` = price x quantity x 100, rounded half up); a 10%
discount on one project's instance hours (``discountCents``, ``percentDiscount``); an App Services
line for the month; on a closed invoice a promotional credit (a negative line) and sales tax; the
invoice's own cents (``subtotalCents``, ``creditsCents``, ``salesTaxCents``, ``amountBilledCents`` =
the line items net of discounts, plus the tax). ``generate`` and ``sample`` write what the connector
writes: JSON lines, one record per line item and one for the tax (``formats.invoice_records``).

Deterministic: the same arguments give the same invoice and the same bytes.
"""

from __future__ import annotations

import calendar
import hashlib
import json
import random
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

from cloudact_providers.mongodb.formats import invoice_records

ORG_ID = "5f1e2d3c4b5a69788796a5b4"
PROJECTS = (
    (
        "60a1b2c3d4e5f60718293a4b",
        "payments-prod",
        (("payments-main", "AWS", "M30", 3), ("payments-ledger", "AWS", "M10", 3)),
    ),
    ("60a1b2c3d4e5f60718293a4c", "analytics", (("events", "GCP", "M40", 3),)),
    ("60a1b2c3d4e5f60718293a4d", "identity", (("sessions", "AZURE", "M20", 3),)),
)
"""Projects: (groupId, groupName, clusters (name, cloud, tier, nodes))."""
_INSTANCE_PRICE = {"M10": Decimal("0.08"), "M20": Decimal("0.2"), "M30": Decimal("0.54"), "M40": Decimal("1.04")}
_STORAGE_PRICE = Decimal("0.0038")  # per GB day
_BACKUP_PRICE = Decimal("0.0047")  # per GB day
_TRANSFER_PRICE = Decimal("0.02")  # per GB
_APP_REQUEST_PRICE = Decimal("0.000002")  # per request
_TAX_RATE = Decimal("0.08")


def _iso(instant: datetime) -> str:
    return instant.strftime("%Y-%m-%dT%H:%M:%SZ")


def _cents(dollars: Decimal) -> int:
    return int((dollars * 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def _line(
    sku: str, unit: str, price: Decimal, quantity: Decimal, start: datetime, end: datetime, **fields: Any
) -> dict[str, Any]:
    """A line item in Atlas's shape: numbers as JSON numbers (the prices and quantities have few digits,
    so a float writes them exactly), the total in integer cents."""
    return {
        "created": _iso(end),
        "startDate": _iso(start),
        "endDate": _iso(end),
        "sku": sku,
        "unit": unit,
        "unitPriceDollars": float(price),
        "quantity": float(quantity),
        "totalPriceCents": _cents(price * quantity),
        **fields,
    }


def invoice_id(org_id: str, month: date) -> str:
    """A stable 24-hex-digit invoice id per organization and month."""
    return hashlib.sha256(f"{org_id}/{month:%Y-%m}".encode()).hexdigest()[:24]


def invoice(
    month: date,
    *,
    status: str = "CLOSED",
    days: int | None = None,
    projects: int = len(PROJECTS),
    org_id: str = ORG_ID,
    seed: int = 0,
) -> dict[str, Any]:
    """One Atlas invoice for ``month`` in the Admin API's JSON shape.

    Args:
        month: the first day of the billing month.
        status: ``statusName``: ``PENDING`` (the month still accruing: no credit, no tax yet) or a
            closed state (``CLOSED``, ``INVOICED``, ``PAID``).
        days: days of usage (default: the whole month).
        projects: projects billed (1..3).
        org_id: the organization.
        seed: varies the quantities.
    """
    if not 1 <= projects <= len(PROJECTS):
        raise ValueError(f"projects must be 1..{len(PROJECTS)}")
    rng = random.Random(f"{org_id}/{month:%Y-%m}/{seed}")
    first = datetime(month.year, month.month, 1, tzinfo=UTC)
    length = calendar.monthrange(month.year, month.month)[1]
    end_of_month = first + timedelta(days=length)
    items: list[dict[str, Any]] = []
    for day in range(days or length):
        start, end = first + timedelta(days=day), first + timedelta(days=day + 1)
        for number, (group_id, group_name, clusters) in enumerate(PROJECTS[:projects]):
            for cluster, cloud, tier, nodes in clusters:
                where = {"groupId": group_id, "groupName": group_name, "clusterName": cluster}
                hours = Decimal(24 * nodes)
                storage = Decimal(rng.randint(40, 400))
                transfer = Decimal(rng.randint(0, 5000)) / 100
                usage = (
                    (f"ATLAS_{cloud}_INSTANCE_{tier}", "server hours", _INSTANCE_PRICE[tier], hours),
                    (f"ATLAS_{cloud}_STORAGE_PROVISIONED", "GB days", _STORAGE_PRICE, storage),
                    (f"ATLAS_{cloud}_BACKUP_SNAPSHOT_STORAGE", "GB days", _BACKUP_PRICE, storage * 2),
                    (f"ATLAS_{cloud}_DATA_TRANSFER_DIFFERENT_REGION", "GB", _TRANSFER_PRICE, transfer),
                )
                lines = [_line(sku, unit, price, quantity, start, end, **where) for sku, unit, price, quantity in usage]
                instance = lines[0]
                instance["tags"] = {"env": ["prod"], "team": [group_name]}
                if number == 0:  # the first project's instance hours are discounted 10%
                    discount = _cents(Decimal(instance["totalPriceCents"]) / 1000)
                    instance.update(percentDiscount=10.0, discountCents=discount)
                items += lines
    requests = Decimal(rng.randint(1_000_000, 9_000_000))
    last = end_of_month if days is None else first + timedelta(days=days)
    app = {"groupId": PROJECTS[0][0], "groupName": PROJECTS[0][1], "stitchAppName": "checkout-triggers"}
    items.append(_line("REALM_APP_REQUESTS", "requests", _APP_REQUEST_PRICE, requests, first, last, **app))
    closed = status != "PENDING"
    if closed:
        credit = _line("CREDIT", "credits", Decimal("-25"), Decimal(1), first, first + timedelta(days=1))
        items.append({**credit, "note": "Promotional credit"})
    net = sum(item["totalPriceCents"] - item.get("discountCents", 0) for item in items)
    positive = sum(item["totalPriceCents"] for item in items if item["totalPriceCents"] > 0)
    tax = _cents(Decimal(positive) * _TAX_RATE / 100) if closed else 0
    return {
        "id": invoice_id(org_id, month),
        "orgId": org_id,
        "statusName": status,
        "created": _iso(first),
        "startDate": _iso(first),
        "endDate": _iso(end_of_month),
        "updated": _iso(last),
        "subtotalCents": positive,
        "creditsCents": -sum(item["totalPriceCents"] for item in items if item["totalPriceCents"] < 0),
        "salesTaxCents": tax,
        "amountBilledCents": net + tax,
        "amountPaidCents": net + tax if status == "PAID" else 0,
        "startingBalanceCents": 0,
        "lineItems": items,
        "linkedInvoices": [],
        "payments": [],
        "refunds": [],
        "links": [],
    }


def metadata(full: dict[str, Any]) -> dict[str, Any]:
    """The invoice as the invoice list shows it: without its line items."""
    return {k: v for k, v in full.items() if k != "lineItems"}


def write_records(path: Path, invoices: Iterable[dict[str, Any]]) -> Path:
    """Writes the JSON lines the connector writes for ``invoices``."""
    with path.open("w", encoding="utf-8") as out:
        for one in invoices:
            for record in invoice_records(one):
                out.write(json.dumps(record, separators=(",", ":")) + "\n")
    return path


def generate(directory: Path, rows: int) -> Path:
    """An invoice file of at least ``rows`` records: whole closed months from January 2025 on."""
    directory.mkdir(parents=True, exist_ok=True)
    invoices: list[dict[str, Any]] = []
    count, index = 0, 0
    while count < rows:
        one = invoice(date(2025 + index // 12, index % 12 + 1, 1), seed=index)
        invoices.append(one)
        count += len(one["lineItems"]) + (1 if one["salesTaxCents"] else 0)
        index += 1
    return write_records(directory / f"mongodb-invoices-{rows}.jsonl", invoices)


def sample(directory: Path) -> list[Path]:
    """The conformance sample: a closed invoice (two days of usage, a discount, a credit, sales tax) and
    the pending invoice of the next month (one day so far)."""
    directory.mkdir(parents=True, exist_ok=True)
    invoices = [invoice(date(2026, 1, 1), days=2), invoice(date(2026, 2, 1), status="PENDING", days=1)]
    return [write_records(directory / "mongodb-invoices-sample.jsonl", invoices)]
