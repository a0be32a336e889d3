"""QueryService and its parts without a server: deadlines, snapshots, the cache, decimal text."""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal
from pathlib import Path

import pyarrow.dataset as pads
import pytest

from cloudact_shared.errors import DeadlineExceeded, InvalidArgument
from cloudact_shared.storage.embedded import EmbeddedTableStore
from query_svc import CostQuery, CostResult, DimensionFilter, Grain, QueryService
from query_svc.adapters.cache import TTLResultCache
from query_svc.engine import format_decimal
from query_svc.server import default_cache
from tests.query_svc.focus_data import ORG, focus_row, write_focus

JAN = CostQuery(org_slug=ORG, start_date="2025-01-01", end_date="2025-01-31", grain=Grain.TOTAL)


class SlowStore(EmbeddedTableStore):
    """Scans take ``delay`` seconds (a stand-in for a very large table)."""

    delay = 0.0

    def scan(self, dataset: str, table: str) -> pads.Dataset:
        time.sleep(self.delay)
        return super().scan(dataset, table)


class _RacingStore(EmbeddedTableStore):
    """A pipeline run finishes right after the first scan opened the table."""

    raced = False

    def scan(self, dataset: str, table: str) -> pads.Dataset:
        snapshot = super().scan(dataset, table)
        if not self.raced:
            self.raced = True
            write_focus(self, [focus_row("2025-01-09T00:00:00", "S3", "USD", "7", provider="gcp")], "gcp")
        return snapshot


async def test_an_expired_deadline_fails_before_any_work(own_store: EmbeddedTableStore) -> None:
    service = QueryService(own_store, default_cache())

    with pytest.raises(DeadlineExceeded):
        await service.query_costs(JAN, timeout=0)
    await service.aclose()


async def test_a_scan_longer_than_the_deadline_fails_with_deadline_exceeded(tmp_path: Path) -> None:
    store = SlowStore(tmp_path)
    write_focus(store, [focus_row("2025-01-05T00:00:00", "EC2", "USD", "1")])
    store.delay = 0.5
    service = QueryService(store, default_cache())

    started = time.monotonic()
    with pytest.raises(DeadlineExceeded):
        await service.query_costs(JAN, timeout=0.1)
    assert time.monotonic() - started < 0.4
    await service.aclose()


async def test_a_write_during_the_scan_is_answered_from_the_newer_version(tmp_path: Path) -> None:
    store = _RacingStore(tmp_path)
    first_version = write_focus(store, [focus_row("2025-01-05T00:00:00", "EC2", "USD", "1")])
    service = QueryService(store, default_cache())

    result = await service.query_costs(JAN)

    assert result.table_version == first_version + 1
    assert result.rows[0].amounts["BilledCost"] == "8"
    assert (await service.query_costs(JAN)).cache_hit
    await service.aclose()


async def test_concurrent_queries_all_get_the_same_answer(own_store: EmbeddedTableStore) -> None:
    service = QueryService(own_store, default_cache(), max_concurrent_scans=2)
    queries = [JAN, CostQuery(org_slug=ORG, start_date="2025-01-01", end_date="2025-02-28", group_by=("tag:team",))]

    results = await asyncio.gather(*(service.query_costs(q) for q in queries * 4))

    assert all(r.rows == results[i % 2].rows for i, r in enumerate(results))
    await service.aclose()


async def test_hostile_filter_values_are_just_values(own_store: EmbeddedTableStore) -> None:
    service = QueryService(own_store, default_cache())
    hostile = "EC2') or True or ('"
    query = CostQuery(
        org_slug=ORG, start_date="2025-01-01", end_date="2025-02-28",
        filters=(DimensionFilter("ServiceName", (hostile,)), DimensionFilter("tag:team", (hostile,))),
    )  # fmt: skip

    result = await service.query_costs(query)

    assert (result.rows, result.rows_scanned) == ((), 0)
    await service.aclose()


async def test_validation_happens_before_any_storage_access(tmp_path: Path) -> None:
    service = QueryService(EmbeddedTableStore(tmp_path), default_cache())

    with pytest.raises(InvalidArgument) as caught:
        await service.query_costs(CostQuery(org_slug="x", start_date="", end_date=""))
    assert caught.value.reason == "INVALID_ORG_SLUG"
    await service.aclose()


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ("12.340000000000", "12.34"),
        ("100.000000000000", "100"),
        ("1E+2", "100"),
        ("-0.000000000000", "0"),
        ("-5.500000000000", "-5.5"),
        ("0.000000000001", "0.000000000001"),
        ("12345678901234567890123456.123456789012", "12345678901234567890123456.123456789012"),
    ],
)
def test_decimals_are_printed_exactly_without_trailing_zeros(value: str, text: str) -> None:
    assert format_decimal(Decimal(value)) == text


def test_cache_is_bounded_by_weight_and_expires() -> None:
    now = [0.0]
    cache: TTLResultCache[str, list[int]] = TTLResultCache(
        max_weight=5, ttl_seconds=10, weigh=len, timer=lambda: now[0]
    )
    cache.put("a", [1, 2])
    cache.put("b", [1, 2])
    assert cache.get("a") == [1, 2]  # "a" is now the most recently used
    cache.put("c", [1, 2])  # 6 > 5: the least recently used ("b") goes
    cache.put("huge", [0] * 6)  # larger than the whole cache: not stored, nothing evicted

    assert (cache.get("a"), cache.get("b"), cache.get("c"), cache.get("huge")) == ([1, 2], None, [1, 2], None)
    now[0] = 11.0
    assert cache.get("a") is None


def test_default_cache_weighs_answers_by_rows() -> None:
    cache = default_cache()
    empty = CostResult(rows=(), table_version=1, rows_scanned=0)
    cache.put(("k",), empty)  # type: ignore[arg-type]

    assert cache.get(("k",)) is empty  # type: ignore[arg-type]
