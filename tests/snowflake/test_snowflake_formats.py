"""Snowflake exports -> raw -> FOCUS: both views' layouts, bad rows set aside with their reason, the mapping."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from cloudact_providers.snowflake import synthetic
from cloudact_shared.errors import FailedPrecondition
from tests.snowflake.conftest import DEC, JAN, focus_rows, raw_rows

_LEGACY_ONLY = ("BALANCE_SOURCE", "BILLING_TYPE", "RATING_TYPE", "SERVICE_TYPE", "IS_ADJUSTMENT")


def _focus_export(path: Path, days: int = 2) -> Path:
    return synthetic.write_export(synthetic.focus_rows(synthetic.charges(JAN, days)), path)


def _usage_export(path: Path, days: int = 2, *, legacy: bool = False) -> Path:
    items = synthetic.charges(DEC, days)
    rows = synthetic.usage_export_rows(synthetic.usage_rows(items), synthetic.rate_rows(items))
    if legacy:  # organizations not upgraded to the current layout lack these columns
        rows = [{k: v for k, v in row.items() if k not in _LEGACY_ONLY} for row in rows]
    return synthetic.write_export(rows, path)


def _edit(path: Path, edits: dict[int, dict[str, Any]]) -> Path:
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    for index, changes in edits.items():
        for key, value in changes.items():
            if value is ...:
                del lines[index][key]
            else:
                lines[index][key] = value
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


def test_bad_focus_view_rows_are_set_aside_with_their_reason(tmp_path: Path) -> None:
    export = _edit(
        _focus_export(tmp_path / "focus.jsonl"),
        {
            1: {"BilledCost": "12.3.4"},
            2: {"ServiceName": None},
            3: {"BillingPeriodStart": "2026-01-15T00:00:00+00:00"},
            4: {"ChargeCategory": "Refund"},
            5: {"ChargePeriodStart": ...},
        },
    )

    reasons = [r["_quarantine_reason"] for r in raw_rows(export)]

    assert reasons[1] == "unparsable decimal in BilledCost: '12.3.4'"
    assert reasons[2] == "missing service name (ServiceName)"
    assert reasons[3] == "BillingPeriodStart is not the start of a calendar month: 2026-01-15T00:00:00Z"
    assert reasons[4] == "ChargeCategory is not a FOCUS category: 'Refund'"
    assert reasons[5] == "missing charge period start (ChargePeriodStart)"
    assert reasons[0] is None and all(r is None for r in reasons[6:])


def test_bad_usage_rows_are_set_aside_with_their_reason(tmp_path: Path) -> None:
    export = _edit(
        _usage_export(tmp_path / "usage.jsonl"),
        {1: {"USAGE_DATE": "2025-12-32"}, 2: {"CURRENCY": "DOLLARS"}, 3: {"USAGE_IN_CURRENCY": None}},
    )

    reasons = [r["_quarantine_reason"] for r in raw_rows(export)]

    assert reasons[1] == "unparsable date in USAGE_DATE: '2025-12-32'"
    assert reasons[2] == "invalid currency code in CURRENCY: 'DOLLARS'"
    assert reasons[3] == "missing usage in currency (USAGE_IN_CURRENCY)"
    assert reasons[0] is None and all(r is None for r in reasons[4:])


def test_a_file_of_neither_view_is_refused_naming_what_it_has(tmp_path: Path) -> None:
    other = tmp_path / "other.jsonl"
    other.write_text('{"cost": "1.00", "day": "2026-01-01"}\n')

    with pytest.raises(FailedPrecondition) as refused:
        raw_rows(other)

    assert refused.value.reason == "NOT_A_SNOWFLAKE_EXPORT"
    assert "a Snowflake FOCUS view export or a Snowflake usage in currency export" in refused.value.message


def test_the_legacy_usage_layout_converts_by_usage_type(tmp_path: Path) -> None:
    rows = focus_rows([_usage_export(tmp_path / "legacy.jsonl", legacy=True)], tmp_path)

    services = {r["ServiceName"] for r in rows}
    assert services == {"COMPUTE", "STORAGE", "DATA_TRANSFER", "SNOWPIPE_STREAMING"}
    compute = next(r for r in rows if r["ServiceName"] == "COMPUTE")
    assert compute["ServiceCategory"] == "Databases" and compute["ServiceSubcategory"] == "Data Warehouses"
    assert compute["ConsumedUnit"] == "Credits" and compute["ChargeDescription"] == "compute"


def test_usage_rows_price_credits_and_transfer_but_not_storage(tmp_path: Path) -> None:
    rows = focus_rows([_usage_export(tmp_path / "usage.jsonl", days=1)], tmp_path)
    by_service = {(r["SubAccountId"], r["ServiceName"]): r for r in rows}

    warehouse = by_service[("XY12345", "WAREHOUSE_METERING")]
    charge = next(
        c for c in synthetic.charges(DEC, 1) if c.account.locator == "XY12345" and c.service == "WAREHOUSE_METERING"
    )
    assert warehouse["BilledCost"] == warehouse["EffectiveCost"] == charge.cost
    assert warehouse["ContractedUnitPrice"] == warehouse["ListUnitPrice"] == Decimal("2.61")
    assert warehouse["ContractedCost"] == Decimal("2.61") * charge.consumed
    assert warehouse["SkuPriceId"] == "WAREHOUSE_METERING:AWS_US_EAST_1:Enterprise:Credits:2.610000000:USD"
    assert warehouse["x_charge_type"] == "capacity" and warehouse["HostProviderName"] == "AWS"
    storage = by_service[("AB67890", "STORAGE")]
    # A storage rate is per TB-month: no unit price of a day's TB, and FOCUS 1.3 then states no quantity.
    assert storage["SkuPriceId"] is None and storage["ListUnitPrice"] is None and storage["ConsumedQuantity"] is None
    assert storage["ListCost"] == storage["BilledCost"] and storage["HostProviderName"] == "Microsoft"
    assert storage["ChargePeriodStart"].isoformat() == "2025-12-01T00:00:00+00:00"
    assert storage["ChargePeriodEnd"].isoformat() == "2025-12-02T00:00:00+00:00"


def test_focus_view_rows_keep_snowflakes_values_and_gain_a_price_id(tmp_path: Path) -> None:
    rows = focus_rows([_focus_export(tmp_path / "focus.jsonl", days=1)], tmp_path)
    storage = next(r for r in rows if r["ServiceName"] == "STORAGE" and r["SubAccountId"] == "XY12345")
    capacity = next(r for r in rows if r["ServiceName"] == "WAREHOUSE_METERING" and r["SubAccountId"] == "XY12345")
    on_demand = next(r for r in rows if r["ServiceName"] == "WAREHOUSE_METERING" and r["SubAccountId"] == "AB67890")

    assert storage["PricingUnit"] == "TiB-Months" and storage["ConsumedUnit"] == "TiB-Days"
    assert storage["ListCost"] == storage["ListUnitPrice"] * storage["PricingQuantity"]
    assert capacity["ListUnitPrice"] == Decimal("3") and capacity["ContractedUnitPrice"] == Decimal("2.61")
    assert capacity["HostProviderName"] == "AWS" and on_demand["HostProviderName"] == "Microsoft"
    # An empty InvoiceId (a capacity customer's) is no id; the flat ContractApplied object is not FOCUS's.
    assert capacity["InvoiceId"] is None and on_demand["InvoiceId"] == "INV-202601-AB67890"
    assert capacity["ContractApplied"] is None and capacity["x_charge_type"] == "capacity"
    assert capacity["BillingAccountType"] == "Organization" and capacity["SubAccountType"] == "Regular"
