"""One memory budget (CLOUDACT_MEMORY_BUDGET) sets DuckDB's limit and the batch / row-group rows;
explicit settings of either must still fit it."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from cloudact_shared.settings import (
    BATCHES_IN_FLIGHT,
    MIB,
    MIN_BATCH_ROWS,
    PROCESS_RESERVE_BYTES,
    ROW_BYTES,
    CloudactSettings,
    MemoryPlan,
)


def _spent(plan: MemoryPlan) -> int:
    return PROCESS_RESERVE_BYTES + plan.duckdb_bytes + BATCHES_IN_FLIGHT * ROW_BYTES * plan.batch_rows


@pytest.mark.parametrize("budget", ["512MiB", "1GB", "2GiB", "16GiB"])
def test_every_budget_is_spent_within_itself_in_whole_duckdb_vectors(budget: str) -> None:
    plan = CloudactSettings(memory_budget=budget).memory_plan

    assert _spent(plan) <= plan.budget_bytes
    assert plan.batch_rows % MIN_BATCH_ROWS == 0 and plan.batch_rows >= MIN_BATCH_ROWS
    assert plan.duckdb_memory_limit == f"{plan.duckdb_bytes // MIB}MiB"


def test_the_default_budget_is_a_gigabyte_and_a_larger_one_gives_both_parts_more() -> None:
    default = CloudactSettings().memory_plan
    larger = CloudactSettings(memory_budget="4GiB").memory_plan

    assert default.budget_bytes == 1_000_000_000
    assert larger.duckdb_bytes > default.duckdb_bytes and larger.batch_rows > default.batch_rows


def test_the_budget_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLOUDACT_MEMORY_BUDGET", "3GiB")

    assert CloudactSettings().memory_plan.budget_bytes == 3 * 2**30


def test_explicit_parts_that_fit_are_used_as_given() -> None:
    plan = CloudactSettings(duckdb_memory_limit="200MiB", raw_batch_rows=4096).memory_plan

    assert (plan.duckdb_memory_limit, plan.batch_rows) == ("200MiB", 4096)


@pytest.mark.parametrize(
    "overrides",
    [{"duckdb_memory_limit": "1GB"}, {"raw_batch_rows": 100_000}, {"memory_budget": "128MiB"}],
)
def test_parts_that_exceed_the_budget_are_refused(overrides: dict[str, object]) -> None:
    with pytest.raises(ValidationError, match="memory_budget"):
        CloudactSettings(**overrides)  # type: ignore[arg-type]
