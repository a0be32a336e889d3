"""Databricks usage -> raw -> FOCUS: the half-open price join, corrections netting, bad rows quarantined.

The statement runs over the system tables for real (the loopback warehouse), so the join under test is
the connector's own SQL, then the raw SELECT and the mapping run as the pipeline runs them.
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

from cloudact_providers.databricks.synthetic import fill_month, write_export
from cloudact_providers.databricks.warehouse import SystemTables
from tests.databricks.conftest import (
    JAN,
    Workspace,
    add_price,
    add_usage,
    download_months,
    focus_rows,
    raw_rows,
    utc,
)

JOBS = "PREMIUM_JOBS_COMPUTE"


async def test_a_record_starting_exactly_at_a_price_change_takes_the_new_price_once(
    workspace: Workspace, tmp_path: Path
) -> None:
    change = utc(2026, 1, 15)
    add_price(workspace.tables, JOBS, utc(2020, 1, 1), change, "0.15")
    add_price(workspace.tables, JOBS, change, None, "0.18")
    add_usage(workspace.tables, "before", JOBS, utc(2026, 1, 14, 23), "10")  # ends exactly at the change
    add_usage(workspace.tables, "at", JOBS, change, "10")
    add_usage(workspace.tables, "after", JOBS, utc(2026, 1, 20, 8), "10")

    [download] = (await download_months(workspace.credential(), [JAN], tmp_path)).values()
    raw = raw_rows(download)
    focus = {f["ChargePeriodStart"]: f for f in focus_rows(download, tmp_path)}

    assert len(raw) == 3 and all(r["price_matches"] == 1 and r["_quarantine_reason"] is None for r in raw)
    prices = {r["record_id"]: r["price_default"] for r in raw}
    assert prices == {"before": Decimal("0.15"), "at": Decimal("0.18"), "after": Decimal("0.18")}
    # A closed interval (the published FOCUS query's BETWEEN) would give "before" and "at" both prices.
    costs = {start.isoformat(): f["BilledCost"] for start, f in focus.items()}
    assert costs == {
        "2026-01-14T23:00:00+00:00": Decimal("1.5"),
        "2026-01-15T00:00:00+00:00": Decimal("1.8"),
        "2026-01-20T08:00:00+00:00": Decimal("1.8"),
    }
    assert focus[change]["SkuPriceId"] == "PREMIUM_JOBS_COMPUTE:USD:2026-01-15T00:00:00Z"


async def test_effective_list_price_wins_and_every_currency_is_kept(workspace: Workspace, tmp_path: Path) -> None:
    serving = "PREMIUM_MODEL_SERVING"
    add_price(workspace.tables, serving, utc(2020, 1, 1), None, "0.07", effective="0.05", promotional="0.05")
    add_price(workspace.tables, JOBS, utc(2020, 1, 1), None, "0.15", currency="EUR", cloud="AZURE")
    add_usage(workspace.tables, "promo", serving, utc(2026, 1, 5), "3.333333333333333333", product="MODEL_SERVING")
    add_usage(workspace.tables, "eur", JOBS, utc(2026, 1, 6), "2", cloud="AZURE")

    [download] = (await download_months(workspace.credential(), [JAN], tmp_path)).values()
    rows = {f["x_service_code"]: f for f in focus_rows(download, tmp_path)}

    promo, eur = rows["MODEL_SERVING"], rows["JOBS"]
    # 3.333333333333 (12 decimals) x 0.05 = 0.16666666666665 exactly, rounded half up to FOCUS money's 12
    # decimals: no float on the way.
    assert promo["BilledCost"] == Decimal("0.166666666667") and promo["ListUnitPrice"] == Decimal("0.05")
    assert promo["ListCost"] == promo["BilledCost"] == promo["EffectiveCost"] == promo["ContractedCost"]
    assert json.loads(promo["SkuPriceDetails"])["x_PriceDefault"] == "0.070000000000000000"
    assert promo["ServiceName"] == "Model Serving" and promo["ServiceCategory"] == "AI and Machine Learning"
    assert eur["BillingCurrency"] == "EUR" and eur["BilledCost"] == Decimal("0.3")
    # Azure Databricks is a first-party Azure service: Microsoft hosts it and invoices it.
    assert eur["HostProviderName"] == "Microsoft" and eur["InvoiceIssuerName"] == "Microsoft"
    assert promo["HostProviderName"] == "AWS" and promo["InvoiceIssuerName"] == "Databricks"


async def test_corrections_net_to_the_restated_usage_and_only_late_ones_are_focus_corrections(
    workspace: Workspace, tmp_path: Path
) -> None:
    fill_month(workspace.tables, JAN, 20)

    [download] = (await download_months(workspace.credential(), [JAN], tmp_path)).values()
    focus = focus_rows(download, tmp_path)

    def corrected(name: str) -> list[dict[str, Any]]:
        start = {"in-month": utc(2026, 1, 3, 9), "late": utc(2026, 1, 27, 18)}[name]
        return [f for f in focus if f["ChargePeriodStart"] == start and f["Tags"] == '{"team":"finops"}']

    in_month, late = corrected("in-month"), corrected("late")
    assert sorted(f["x_charge_type"] for f in late) == ["ORIGINAL", "RESTATEMENT", "RETRACTION"]
    # original + retraction (its negation) + restatement = the restated quantity and cost.
    assert sum(Decimal(str(f["ConsumedQuantity"])) for f in in_month) == Decimal("8.5")
    assert sum(Decimal(str(f["BilledCost"])) for f in in_month) == Decimal("8.5") * Decimal("0.55")
    assert sum(Decimal(str(f["ConsumedQuantity"])) for f in late) == Decimal("7.25")
    assert sum(Decimal(str(f["BilledCost"])) for f in late) == Decimal("7.25") * Decimal("0.55")
    # A correction ingested after January closed corrects an invoiced period: ChargeClass Correction.
    assert {f["x_charge_type"]: f["ChargeClass"] for f in late} == {
        "ORIGINAL": None,
        "RETRACTION": "Correction",
        "RESTATEMENT": "Correction",
    }
    assert all(f["ChargeClass"] is None for f in in_month)
    retraction = next(f for f in late if f["x_charge_type"] == "RETRACTION")
    assert retraction["ChargeCategory"] == "Usage" and retraction["BilledCost"] < 0
    assert retraction["ListCost"] == retraction["ListUnitPrice"] * retraction["PricingQuantity"]


async def test_records_without_exactly_one_price_are_quarantined_with_their_reason(
    workspace: Workspace, tmp_path: Path
) -> None:
    add_price(workspace.tables, JOBS, utc(2020, 1, 1), None, "0.15")
    add_price(workspace.tables, JOBS, utc(2020, 1, 1), None, "0.14", currency="EUR")
    add_price(workspace.tables, "PREMIUM_SQL", utc(2026, 1, 10), None, "0.55")
    add_usage(workspace.tables, "two-currencies", JOBS, utc(2026, 1, 5), "1")
    add_usage(workspace.tables, "before-any-price", "PREMIUM_SQL", utc(2026, 1, 9, 23), "1", product="SQL")
    add_usage(workspace.tables, "priced", "PREMIUM_SQL", utc(2026, 1, 10), "1", product="SQL")

    [download] = (await download_months(workspace.credential(), [JAN], tmp_path)).values()
    reasons = {r["record_id"]: r["_quarantine_reason"] for r in raw_rows(download)}

    assert reasons["priced"] is None
    assert reasons["before-any-price"] == (
        "no list price in system.billing.list_prices for PREMIUM_SQL (AWS, DBU) at 2026-01-09 23:00:00+00"
    )
    assert reasons["two-currencies"] is not None and reasons["two-currencies"].startswith(
        "2 list prices (overlapping price rows or several currencies) match PREMIUM_JOBS_COMPUTE"
    )
    # Both lines of the record are set aside: its cost is never counted twice, nor once in a guessed currency.
    assert sum(1 for r in raw_rows(download) if r["record_id"] == "two-currencies") == 2


def test_a_bad_line_is_quarantined_with_its_reason_and_the_others_load(tmp_path: Path) -> None:
    tables = SystemTables()
    try:
        fill_month(tables, JAN, 6)
        export = write_export(tables, JAN, tmp_path / "export.jsonl")
    finally:
        tables.close()
    lines = [json.loads(line) for line in export.read_text().splitlines()]
    lines[1]["usage_quantity"] = "12,5"
    lines[2]["record_type"] = "REVERSAL"
    lines[3]["custom_tags"] = "team=data"
    del lines[4]["usage_start_time"]
    export.write_text("".join(json.dumps(line) + "\n" for line in lines))

    rows = raw_rows(export)
    reasons = [r["_quarantine_reason"] for r in rows]

    assert reasons[1] == "unparsable decimal in usage_quantity: '12,5'"
    assert reasons[2] == "unknown record_type: 'REVERSAL'"
    assert reasons[3] == "unparsable custom_tags in custom_tags: 'team=data'"
    assert reasons[4] == "missing usage start time (usage_start_time)"
    assert reasons[0] is None and all(r is None for r in reasons[5:]) and len(rows) == len(lines)
    assert rows[1]["_record"] is not None and json.loads(rows[1]["_record"])["usage_quantity"] == "12,5"
