"""sql/mappings/openai.sql: Costs results -> FOCUS rows, token counts joined from the Usage results."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pytest

from cloudact_providers.apirows import JsonLinesFile
from cloudact_providers.openai.formats import build_raw_select, line
from cloudact_providers.openai.synthetic import (
    MODELS,
    MONTH,
    ORGANIZATION_ID,
    TTS_PRICE,
    bills,
    bucket,
    month_sample,
)
from cloudact_shared.errors import FailedPrecondition
from tests.openai.conftest import focus_rows

DAY = date(2026, 11, 3)
MILLION = Decimal(1_000_000)


def _tokens_of(generated_usage: Any, charge: Any) -> Decimal:
    """The tokens the bills count for a token charge (its line item's model and token type)."""
    model, token_type = charge.line_item.rsplit(", ", 1)
    used = next(u for u in generated_usage if (u.day, u.project_id, u.model) == (charge.day, charge.project_id, model))
    counts = {
        "input": used.input_tokens - used.input_cached_tokens,
        "cached input": used.input_cached_tokens,
        "output": used.output_tokens,
    }
    return Decimal(counts[token_type])


def test_a_month_converts_to_one_row_per_cost_result_billing_exactly_what_openai_reports(tmp_path: Path) -> None:
    generated = bills(MONTH)
    rows = focus_rows(month_sample(tmp_path), tmp_path)

    assert len(rows) == len(generated.charges)
    assert sum(r["BilledCost"] for r in rows) == sum(c.amount for c in generated.charges)
    assert all(r["BilledCost"] == r["EffectiveCost"] == r["ListCost"] == r["ContractedCost"] for r in rows)
    assert {r["BillingAccountId"] for r in rows} == {ORGANIZATION_ID} and {r["BillingCurrency"] for r in rows} == {
        "USD"
    }
    assert {r["BillingPeriodStart"] for r in rows} == {datetime(2026, 11, 1, tzinfo=UTC)}
    assert {r["BillingPeriodEnd"] for r in rows} == {datetime(2026, 12, 1, tzinfo=UTC)}
    assert {r["x_source_provider"] for r in rows} == {"openai"}


def test_every_token_row_has_its_tokens_from_costs_or_else_from_the_usage_join(tmp_path: Path) -> None:
    generated = bills(MONTH)
    rows = focus_rows(month_sample(tmp_path), tmp_path)
    by_key = {(r["ChargePeriodStart"].date(), r["SubAccountId"], r["SkuId"]): r for r in rows}
    prices = {model.name: model.prices for model in MODELS}

    token_charges = [c for c in generated.charges if c.line_item.split(", ")[0] in prices]
    assert any(c.quantity is None for c in token_charges)  # o3-mini's: only the usage join can count them
    for charge in token_charges:
        row = by_key[(charge.day, charge.project_id, charge.line_item)]
        model, token_type = charge.line_item.rsplit(", ", 1)
        tokens = _tokens_of(generated.usage, charge)
        assert row["ConsumedQuantity"] == tokens and row["ConsumedUnit"] == "Tokens", charge
        assert row["PricingQuantity"] == tokens / MILLION and row["PricingUnit"] == "1000000 Tokens"
        assert row["ListUnitPrice"] == row["ContractedUnitPrice"] == prices[model][token_type]
        assert row["SkuPriceId"] == charge.line_item and row["PricingCategory"] == "Standard"
        assert (row["x_model"], row["x_project_id"]) == (model, charge.project_id)
        assert row["x_token_type"] == token_type.replace(" ", "_")


def test_rows_without_a_token_count_are_classified_but_not_priced(tmp_path: Path) -> None:
    rows = focus_rows(month_sample(tmp_path), tmp_path)

    search = [r for r in rows if r["SkuId"] == "web search tool calls"]
    assert search and all(r["SkuPriceId"] is None and r["ConsumedQuantity"] is None for r in search)
    assert {(r["ServiceName"], r["ServiceCategory"], r["ServiceSubcategory"]) for r in search} == {
        ("OpenAI Web Search", "AI and Machine Learning", "AI Platforms")
    }
    assert all(r["x_model"] is None and r["x_token_type"] is None for r in search)
    speech = [r for r in rows if r["SkuId"] == "tts-1, characters"]
    assert all(r["ConsumedUnit"] == "Characters" and r["PricingUnit"] == "1000000 Characters" for r in speech)
    assert all(r["ListUnitPrice"] == TTS_PRICE and r["x_token_type"] is None for r in speech)
    assert {r["ServiceName"] for r in rows if r["x_model"] == "text-embedding-3-small"} == {"OpenAI Embeddings"}


def _cost(line_item: str | None, amount: str, **fields: Any) -> dict[str, Any]:
    return {
        "object": "organization.costs.result",
        "amount": {"value": Decimal(amount), "currency": "usd"},
        "line_item": line_item,
        **fields,
    }


def _write(path: Path, costs: list[Mapping[str, Any]], usage: list[Mapping[str, Any]]) -> Path:
    start, end = bucket(DAY)
    with JsonLinesFile(path) as out:
        out.write(line("costs", ORGANIZATION_ID, None, start, end, result) for result in costs)
        out.write(line("completions", ORGANIZATION_ID, None, start, end, result) for result in usage)
    return path


def test_line_items_and_usage_counts_as_openai_spells_them(tmp_path: Path) -> None:
    read = _write(
        tmp_path / "read.jsonl",
        costs=[
            # The token type in another spelling, and a quantity in thousands of tokens.
            _cost("gpt-4o, Cached Input Tokens", "0.01875", project_id="proj_a",
                  quantity=Decimal(15), quantity_unit="1000_tokens"),
            # No quantity: 'input' is what input_tokens counts beyond cached and cache-write tokens.
            _cost("gpt-4o, input", "0.00175", project_id="proj_a"),
            # Outside any project, joined null-safe to the usage outside any project.
            _cost("gpt-4o, output", "0.02", project_id=None),
            # A model with no usage: no quantity, so not priced.
            _cost("gpt-5-unseen, output", "1"),
            _cost(None, "0.000000000001", project_id="proj_a"),
        ],
        usage=[
            # Two results of one key (say, two API keys): summed, never repeating the cost row.
            {"object": "organization.usage.completions.result", "project_id": "proj_a", "model": "gpt-4o",
             "input_tokens": 1000, "input_cached_tokens": 200, "input_cache_write_tokens": 100, "output_tokens": 5},
            {"object": "organization.usage.completions.result", "project_id": "proj_a", "model": "gpt-4o",
             "input_tokens": 0, "output_tokens": 0},
            {"object": "organization.usage.completions.result", "project_id": None, "model": "gpt-4o",
             "input_tokens": 10, "output_tokens": 2000},
        ],
    )  # fmt: skip

    rows = {(r["SkuId"], r["SubAccountId"]): r for r in focus_rows([read], tmp_path)}

    assert len(rows) == 5
    cached = rows[("gpt-4o, Cached Input Tokens", "proj_a")]
    assert (cached["x_token_type"], cached["ConsumedQuantity"], cached["SkuMeter"]) == (
        "cached_input",
        Decimal(15000),
        "Cached Input Tokens",
    )
    assert cached["ListUnitPrice"] == Decimal("1.25")
    uncached = rows[("gpt-4o, input", "proj_a")]
    assert (uncached["x_token_type"], uncached["ConsumedQuantity"]) == ("input", Decimal(700))
    assert uncached["ListUnitPrice"] == Decimal("2.5")
    assert rows[("gpt-4o, output", None)]["ConsumedQuantity"] == Decimal(2000)
    assert rows[("gpt-4o, output", None)]["SubAccountType"] is None
    unseen = rows[("gpt-5-unseen, output", None)]
    assert unseen["ConsumedQuantity"] is None and unseen["SkuPriceId"] is None and unseen["x_model"] == "gpt-5-unseen"
    no_item = rows[(None, "proj_a")]
    assert no_item["BilledCost"] == Decimal("0.000000000001") and no_item["ServiceName"] == "OpenAI API"
    assert no_item["ChargeDescription"] == "OpenAI charge without a line item"


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
    assert caught.value.reason == "NOT_AN_OPENAI_COSTS_READ"
    assert caught.value.message.startswith(f"upload/{name}: not an OpenAI Costs and Usage read ")
    assert expected in caught.value.message and str(tmp_path) not in caught.value.message
