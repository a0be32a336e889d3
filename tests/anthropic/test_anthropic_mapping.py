"""sql/mappings/anthropic.sql: cost report rows (cents) -> FOCUS rows (dollars), token counts joined from
the usage report rows, from the analytics and the legacy reports alike."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pytest

from cloudact_providers.anthropic.formats import ANALYTICS, COST, LEGACY, USAGE, build_raw_select, line
from cloudact_providers.anthropic.synthetic import (
    MODELS,
    MONTH,
    ORGANIZATION_ID,
    ORGANIZATION_NAME,
    analytics_sample,
    bills,
    legacy_sample,
    list_price,
)
from cloudact_providers.apirows import JsonLinesFile
from cloudact_shared.errors import FailedPrecondition
from tests.anthropic.conftest import focus_rows

CENT = Decimal("0.01")
MILLION = Decimal(1_000_000)
START, END = "2026-11-04T00:00:00Z", "2026-11-05T00:00:00Z"


@pytest.mark.parametrize("make", [analytics_sample, legacy_sample], ids=["analytics", "legacy"])
def test_a_month_bills_exactly_the_cents_anthropic_reports_in_dollars(make: Any, tmp_path: Path) -> None:
    generated = bills(MONTH)
    rows = focus_rows(make(tmp_path), tmp_path)

    assert len(rows) == len(generated.charges)
    assert sum(r["BilledCost"] for r in rows) == sum(c.amount for c in generated.charges) * CENT
    assert all(r["BilledCost"] == r["EffectiveCost"] == r["ContractedCost"] for r in rows)
    assert {(r["BillingAccountId"], r["BillingAccountName"]) for r in rows} == {(ORGANIZATION_ID, ORGANIZATION_NAME)}
    assert {r["BillingPeriodStart"] for r in rows} == {datetime(2026, 11, 1, tzinfo=UTC)}
    assert {r["x_source_provider"] for r in rows} == {"anthropic"}


def test_the_analytics_list_amount_is_the_list_cost_and_the_discount_shows_in_the_prices(tmp_path: Path) -> None:
    generated = bills(MONTH)
    rows = focus_rows(analytics_sample(tmp_path), tmp_path)

    assert sum(r["ListCost"] for r in rows) == sum(c.list_amount for c in generated.charges) * CENT
    opus = [r for r in rows if r["x_model"] == "claude-opus-4-1" and r["x_token_type"] == "output_tokens"]
    # Listed at $75 per million, 1.1x for US-only inference; billed 10% below that (the organization's discount).
    assert opus and {r["ListUnitPrice"] for r in opus} == {Decimal("82.5")}
    assert {r["ContractedUnitPrice"] for r in opus} == {Decimal("74.25")}


def test_every_token_row_has_its_scope_s_tokens_from_the_usage_report(tmp_path: Path) -> None:
    generated = bills(MONTH)
    rows = focus_rows(analytics_sample(tmp_path), tmp_path)
    by_key = {(r["ChargePeriodStart"].date(), r["SubAccountId"], r["SkuPriceId"]): r for r in rows if r["SkuPriceId"]}

    for used in generated.usage:
        scope = used.scope
        for token_type, tokens in used.tokens.items():
            if tokens == 0:  # nothing to price: no SkuPriceId (and so no FOCUS quantity)
                continue
            price_id = f"{scope.model}/{token_type}/{scope.service_tier}/{scope.context_window}/{scope.inference_geo}"
            row = by_key[(used.day, scope.workspace_id, price_id)]
            assert row["ConsumedQuantity"] == tokens and row["ConsumedUnit"] == "Tokens"
            assert row["PricingQuantity"] == Decimal(tokens) / MILLION and row["PricingUnit"] == "1000000 Tokens"
            assert (row["x_model"], row["x_token_type"], row["x_project_id"]) == (
                scope.model,
                token_type,
                scope.workspace_id,
            )
            price = list_price(scope, token_type)
            assert row["ListUnitPrice"] == price
            assert row["ContractedUnitPrice"] == price * (1 - MODELS[str(scope.model)].discount)


def test_web_search_is_priced_per_thousand_requests_and_code_execution_not_at_all(tmp_path: Path) -> None:
    rows = focus_rows(analytics_sample(tmp_path), tmp_path)

    search = [r for r in rows if r["x_service_code"] == "web_search"]
    assert search and all(r["ConsumedUnit"] == "Requests" and r["PricingUnit"] == "1000 Requests" for r in search)
    assert {r["ListUnitPrice"] for r in search} == {Decimal(10)}  # $10 per 1,000 searches
    assert {r["ServiceName"] for r in search} == {"Claude Web Search"}
    code = [r for r in rows if r["x_service_code"] == "code_execution"]
    assert code and all(r["SkuPriceId"] is None and r["ConsumedQuantity"] is None for r in code)
    assert {(r["ServiceName"], r["ServiceSubcategory"]) for r in code} == {("Claude Code Execution", "AI Platforms")}
    assert {r["ServiceSubcategory"] for r in rows if r["x_service_code"] == "tokens"} == {"Generative AI"}


def _write(path: Path, report_api: str, rows: list[tuple[str, Mapping[str, Any]]]) -> Path:
    with JsonLinesFile(path) as out:
        out.write(line(kind, report_api, ORGANIZATION_ID, ORGANIZATION_NAME, row) for kind, row in rows)
    return path


def _cost(amount: str, **fields: Any) -> tuple[str, dict[str, Any]]:
    scope = {"model": "claude-haiku-4-5", "cost_type": "tokens", "token_type": "output_tokens", "currency": "USD"}
    return COST, {"starting_at": START, "ending_at": END, **scope, "amount": amount, **fields}


def test_cents_become_dollars_exactly(tmp_path: Path) -> None:
    read = _write(
        tmp_path / "read.jsonl",
        ANALYTICS,
        [
            _cost("1234.5678901234", workspace_id="w1"),
            _cost("0.01", workspace_id="w2"),
            _cost("-250", workspace_id="w3"),
            _cost("12345678901.5", list_amount="99999999999.99", workspace_id="w4"),
        ],
    )
    rows = {r["SubAccountId"]: r for r in focus_rows([read], tmp_path)}

    assert rows["w1"]["BilledCost"] == Decimal("12.345678901234")
    assert rows["w2"]["BilledCost"] == Decimal("0.0001")
    assert rows["w3"]["BilledCost"] == Decimal("-2.5")
    assert (rows["w4"]["BilledCost"], rows["w4"]["ListCost"]) == (Decimal("123456789.015"), Decimal("999999999.9999"))
    assert rows["w1"]["ListCost"] == rows["w1"]["BilledCost"]  # no list_amount: the amount


def test_the_usage_join_is_null_safe_and_never_repeats_a_cost_row(tmp_path: Path) -> None:
    usage = {"starting_at": START, "ending_at": END, "model": "claude-haiku-4-5", "output_tokens": 400}
    read = _write(
        tmp_path / "read.jsonl",
        LEGACY,
        [
            # The default workspace (null in the legacy reports) on both sides.
            _cost("20", description="Claude Haiku 4.5 Usage - Output Tokens", workspace_id=None),
            (USAGE, {**usage, "workspace_id": None}),
            (USAGE, {**usage, "workspace_id": None, "api_key_id": "apikey_2"}),  # the same scope twice: summed
            (USAGE, {**usage, "workspace_id": "w9", "output_tokens": 7}),
        ],
    )
    rows = focus_rows([read], tmp_path)

    assert len(rows) == 1
    (row,) = rows
    assert (row["ConsumedQuantity"], row["SubAccountId"]) == (Decimal(800), None)
    assert row["ChargeDescription"] == "Claude Haiku 4.5 Usage - Output Tokens"
    assert row["ContractedUnitPrice"] == Decimal("0.2") / Decimal("0.0008")  # $0.20 for 800 tokens: $250 / million


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("other.jsonl", '{"id": 1, "name": "x"}\n', "(found the columns id, name), required columns missing"),
        ("other.csv", "a,b\n1,2\n", "(expected the connector's .jsonl file)"),
    ],
)
def test_a_file_that_is_not_a_read_is_refused_precisely(name: str, content: str, expected: str, tmp_path: Path) -> None:
    path = tmp_path / name
    path.write_text(content)
    with duckdb.connect() as con, pytest.raises(FailedPrecondition) as caught:
        build_raw_select(con, path, source_object=f"upload/{name}")
    assert caught.value.reason == "NOT_AN_ANTHROPIC_COST_READ"
    assert caught.value.message.startswith(f"upload/{name}: not an Anthropic cost and usage read ")
    assert expected in caught.value.message and str(tmp_path) not in caught.value.message
