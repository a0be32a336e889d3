"""Synthetic Snowflake billing: a day-by-day organization, as both views show it, and the connector's exports.

One organization with two accounts (a capacity contract on AWS, on-demand Business Critical on
Azure). Each day each account uses a warehouse (credits, with the cloud services credits a day adds),
storage (TB, priced per TB-month), data transfer (TB) and Snowpipe Streaming (credits); each month
ends with the cloud services adjustment (Snowflake credits back cloud services beyond 10 % of the
warehouse credits: negative credits, an adjustment row).

Every charge is one :class:`Charge`; :func:`focus_rows`, :func:`usage_rows` and :func:`rate_rows` render
the same charges as the FOCUS view, ``USAGE_IN_CURRENCY_DAILY`` and ``RATE_SHEET_DAILY`` have them, with
the Python types the connector's cursor returns (``Decimal``, ``datetime`` in UTC, ``date``, ``bool``,
JSON text for OBJECT), so a month costs the same whichever view it is read from: BilledCost =
USAGE_IN_CURRENCY = the contracted cost rounded to cents, as Snowflake states both.

:func:`write_export` writes rows as the connector does (``views.text_of``, one JSON object per line);
:func:`usage_export_rows` joins each usage row to its day's rate as the connector's query does.
Everything is computed from the day and the account (no randomness): the same arguments give the
same bytes.
"""

from __future__ import annotations

import calendar
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any, Final

from cloudact_providers.apirows import JsonLinesFile
from cloudact_providers.snowflake import views

ORGANIZATION: Final = "ACME_ORG"
CONTRACT: Final = 4711
SAMPLE_PERIOD: Final = date(2026, 1, 1)
_CENT = Decimal("0.01")
_MILLI = Decimal("0.001")


@dataclass(frozen=True)
class Account:
    name: str
    locator: str
    region: str
    edition: str
    balance_source: str
    """capacity (a prepaid contract draws down) or overage (on demand)."""
    credit_rate: Decimal
    """The contracted price of a credit (the rate sheet's EFFECTIVE_RATE)."""
    credit_list_price: Decimal


ACCOUNTS: Final = (
    Account("PROD", "XY12345", "AWS_US_EAST_1", "Enterprise", "capacity", Decimal("2.61"), Decimal("3.00")),
    Account(
        "ANALYTICS_EU", "AB67890", "AZURE_WESTEUROPE", "Business Critical", "overage", Decimal("4.00"), Decimal("4.00")
    ),
)
_STORAGE_RATE, _STORAGE_LIST = Decimal("23.00"), Decimal("23.00")
"""Storage is priced per TB-month: a day of storage costs a month's price over the month's days."""
_TRANSFER_RATE = Decimal("90.00")
_CATEGORIES: Final = {
    "WAREHOUSE_METERING": "Databases",
    "CLOUD_SERVICES": "Databases",
    "STORAGE": "Storage",
    "DATA_TRANSFER": "Networking",
    "SNOWPIPE_STREAMING": "Analytics",
}
"""The view's ServiceCategory of each service type."""


@dataclass(frozen=True)
class Charge:
    """One day's charge of one account and service, as both views describe it."""

    account: Account
    day: date
    service: str
    usage_type: str
    rating_type: str
    consumed: Decimal
    consumed_unit: str
    pricing_quantity: Decimal
    pricing_unit: str
    list_price: Decimal
    rate: Decimal
    category: str = "Usage"

    @property
    def cost(self) -> Decimal:
        """What Snowflake bills: the contracted cost, rounded to cents."""
        return (self.rate * self.pricing_quantity).quantize(_CENT, ROUND_HALF_UP)

    @property
    def adjustment(self) -> bool:
        return self.category == "Adjustment"


def charges(period: date, days: int | None = None) -> list[Charge]:
    """Every charge of ``period``'s month (its first ``days`` days), in day, account and service order."""
    last = calendar.monthrange(period.year, period.month)[1]
    out: list[Charge] = []
    for offset in range(min(days or last, last)):
        day = period.replace(day=1) + timedelta(days=offset)
        for index, account in enumerate(ACCOUNTS):
            seed = Decimal(offset * 7 + index * 13 + period.month)
            credits = (Decimal("40") + seed % 17 * Decimal("2.125")).quantize(_MILLI)
            stored = (Decimal("12.5") + index * Decimal("4.25") + offset * Decimal("0.05")).quantize(_MILLI)
            moved = (Decimal("0.125") + seed % 5 * Decimal("0.0625")).quantize(_MILLI)
            streamed = (Decimal("1.5") + seed % 3 * Decimal("0.75")).quantize(_MILLI)
            stored_months = (stored / Decimal(last)).quantize(_MILLI)  # the view prices storage per TiB-month
            price, rate = account.credit_list_price, account.credit_rate
            specs: list[tuple[str, str, str, Decimal, str, Decimal, str, Decimal, Decimal]] = [
                ("WAREHOUSE_METERING", "compute", "compute", credits, "Credits", credits, "Credits", price, rate),
                ("STORAGE", "storage", "storage", stored, "TiB-Days", stored_months, "TiB-Months", _STORAGE_LIST,
                 _STORAGE_RATE),
                ("DATA_TRANSFER", "data transfer", "data_transfer", moved, "TiB", moved, "TiB", _TRANSFER_RATE,
                 _TRANSFER_RATE),
                ("SNOWPIPE_STREAMING", "snowpipe streaming", "compute", streamed, "Credits", streamed, "Credits",
                 price, rate),
            ]  # fmt: skip
            out += [Charge(account, day, *spec) for spec in specs]
    if days is None or days >= last:
        end = period.replace(day=last)
        credit_back = Decimal("-3.250")
        for account in ACCOUNTS:
            usage_type, price, rate = "adjustment for cloud services", account.credit_list_price, account.credit_rate
            spec = (
                "CLOUD_SERVICES",
                usage_type,
                "compute",
                credit_back,
                "Credits",
                credit_back,
                "Credits",
                price,
                rate,
            )
            out.append(Charge(account, end, *spec, category="Adjustment"))
    return out


def _utc(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def focus_rows(items: Iterable[Charge]) -> list[dict[str, Any]]:
    """The charges as rows of ``SNOWFLAKE.BILLING.FOCUS_COST_USAGE_V1_3`` (typed as the cursor returns them)."""
    rows = []
    for c in items:
        start = c.day.replace(day=1)
        balance = {"x_BalanceSource": c.account.balance_source, "x_ContractCommitCostBalance": 125000.0}
        rows.append(
            {
                "BillingPeriodStart": _utc(start),
                "BillingPeriodEnd": _utc(views.next_month(start)),
                "ChargePeriodStart": _utc(c.day),
                "ChargePeriodEnd": _utc(c.day + timedelta(days=1)),
                "BillingAccountId": ORGANIZATION,
                "BillingAccountName": ORGANIZATION,
                "SubAccountId": c.account.locator,
                "SubAccountName": c.account.name,
                "SubAccountType": "Regular",
                "ChargeCategory": c.category,
                "ChargeClass": None,
                "ChargeFrequency": "Usage-Based",
                "ChargeDescription": f"{c.account.balance_source.upper()}-{c.rating_type.upper()}",
                "ServiceCategory": _CATEGORIES[c.service],
                "ServiceName": c.service,
                "ConsumedQuantity": c.consumed,
                "ConsumedUnit": c.consumed_unit,
                "PricingQuantity": c.pricing_quantity,
                "PricingUnit": c.pricing_unit,
                "ListUnitPrice": c.list_price,
                "ListCost": c.list_price * c.pricing_quantity,
                "ContractedUnitPrice": c.rate,
                "ContractedCost": c.rate * c.pricing_quantity,
                "EffectiveCost": c.cost,
                "BilledCost": c.cost,
                "BillingCurrency": "USD",
                "PricingCategory": "Standard",
                "CapacityReservationId": None,
                "CapacityReservationStatus": None,
                "RegionId": c.account.region,
                "RegionName": c.account.region,
                "HostProviderName": c.account.region.split("_")[0].capitalize(),
                "InvoiceIssuerName": "Snowflake",
                "InvoiceId": "" if c.account.balance_source == "capacity" else f"INV-{start:%Y%m}-{c.account.locator}",
                "ContractApplied": json.dumps(balance, separators=(",", ":")),
                "x_UpdatedAt": _utc(c.day + timedelta(days=3)),
                "x_OrganizationName": ORGANIZATION,
                "x_ServiceLevel": c.account.edition,
            }
        )
    return rows


def usage_rows(items: Iterable[Charge]) -> list[dict[str, Any]]:
    """The charges as rows of ``ORGANIZATION_USAGE.USAGE_IN_CURRENCY_DAILY`` (its current layout)."""
    return [
        {
            "ORGANIZATION_NAME": ORGANIZATION,
            "CONTRACT_NUMBER": CONTRACT,
            "ACCOUNT_NAME": c.account.name,
            "ACCOUNT_LOCATOR": c.account.locator,
            "REGION": c.account.region,
            "SERVICE_LEVEL": c.account.edition,
            "USAGE_DATE": c.day,
            "USAGE_TYPE": c.usage_type,
            "USAGE": c.consumed,
            "CURRENCY": "USD",
            "USAGE_IN_CURRENCY": c.cost,
            "BALANCE_SOURCE": c.account.balance_source,
            "BILLING_TYPE": "consumption",
            "RATING_TYPE": c.rating_type,
            "SERVICE_TYPE": c.service,
            "IS_ADJUSTMENT": c.adjustment,
        }
        for c in items
    ]


def rate_rows(items: Iterable[Charge]) -> list[dict[str, Any]]:
    """The day's rates of the charges, as ``ORGANIZATION_USAGE.RATE_SHEET_DAILY`` rows (one per day,
    account and usage type)."""
    seen: dict[tuple[date, str, str], dict[str, Any]] = {}
    for c in items:
        if c.adjustment:
            continue
        seen.setdefault(
            (c.day, c.account.locator, c.usage_type),
            {
                "DATE": c.day,
                "ORGANIZATION_NAME": ORGANIZATION,
                "CONTRACT_NUMBER": CONTRACT,
                "ACCOUNT_NAME": c.account.name,
                "ACCOUNT_LOCATOR": c.account.locator,
                "REGION": c.account.region,
                "SERVICE_LEVEL": c.account.edition,
                "USAGE_TYPE": c.usage_type,
                "CURRENCY": "USD",
                "EFFECTIVE_RATE": c.rate,
                "SERVICE_TYPE": c.service,
                "RATING_TYPE": c.rating_type,
                "BILLING_TYPE": "consumption",
                "IS_ADJUSTMENT": False,
            },
        )
    return list(seen.values())


def usage_export_rows(usage: Sequence[Mapping[str, Any]], rates: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The usage rows as the connector's query returns them: each with its day's rate (``views.USAGE_MONTH``)."""
    by_key: dict[tuple[Any, ...], list[Decimal]] = {}
    for rate in rates:
        key = (rate["DATE"], rate["ACCOUNT_LOCATOR"], rate["USAGE_TYPE"], rate["CURRENCY"])
        by_key.setdefault(key, []).append(rate["EFFECTIVE_RATE"])
    joined = []
    for row in usage:
        found = by_key.get((row["USAGE_DATE"], row["ACCOUNT_LOCATOR"], row["USAGE_TYPE"], row["CURRENCY"]))
        single = found[0] if found and min(found) == max(found) else None
        joined.append({**row, "RATE_SHEET_EFFECTIVE_RATE": single, "RATE_SHEET_RATES": len(found) if found else None})
    return joined


def write_export(rows: Sequence[Mapping[str, Any]], dest: Path) -> Path:
    """``rows`` as the connector writes a download: one JSON object of text per line."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    with JsonLinesFile(dest) as out:
        out.write([{name: views.text_of(value) for name, value in row.items()} for row in rows])
    return dest


def generate(directory: Path, rows: int) -> Path:
    """A FOCUS view export of about ``rows`` rows (the provider's ``SyntheticGenerator``): January 2026,
    its charges repeated with each repeat's accounts renamed, so no row is a duplicate."""
    dest = directory / f"snowflake-focus-{SAMPLE_PERIOD:%Y-%m}-{rows}.jsonl"
    if dest.exists():
        return dest
    month = focus_rows(charges(SAMPLE_PERIOD))
    copies = -(-rows // len(month))
    scaled = [_renamed(row, copy) for copy in range(copies) for row in month]
    return write_export(scaled[: max(rows, len(month))], dest)


def _renamed(row: dict[str, Any], copy: int) -> dict[str, Any]:
    """``row`` of the ``copy``-th repeat: its account's id and name suffixed (none for the first)."""
    suffix = str(copy) if copy else ""
    return {
        **row,
        "SubAccountId": f"{row['SubAccountId']}{suffix}",
        "SubAccountName": f"{row['SubAccountName']}{suffix}",
    }


def focus_sample(directory: Path) -> list[Path]:
    """The conformance sample of the FOCUS view: ten days of January 2026 and the month's adjustments."""
    items = [c for c in charges(SAMPLE_PERIOD) if c.day.day <= 10 or c.adjustment]
    return [write_export(focus_rows(items), directory / "snowflake-focus-cost-usage-2026-01.jsonl")]


def usage_sample(directory: Path) -> list[Path]:
    """The conformance sample of the fallback: ten days of December 2025 from USAGE_IN_CURRENCY_DAILY
    with their rates, and the month's adjustments."""
    items = [c for c in charges(date(2025, 12, 1)) if c.day.day <= 10 or c.adjustment]
    rows = usage_export_rows(usage_rows(items), rate_rows(items))
    return [write_export(rows, directory / "snowflake-usage-in-currency-daily-2025-12.jsonl")]
