"""The daily rollup: the same answers as the FOCUS table, kept fresh whoever writes the table."""

from __future__ import annotations

import asyncio
import itertools
import time
from pathlib import Path
from unittest.mock import patch

import pyarrow as pa
import pyarrow.dataset as pads
import pytest
from deltalake import write_deltalake

from cloudact_shared.naming import FOCUS_TABLE
from cloudact_shared.storage import load_schema
from cloudact_shared.storage.embedded import EmbeddedTableStore
from query_svc import AnswerSource, CostQuery, CostResult, DimensionFilter, Grain, Metric, QueryService
from query_svc.adapters.versions import DeltaLogProbe, probe_for
from query_svc.engine import compute, compute_rollup
from query_svc.plan import plan_query
from query_svc.rollup import ROLLUP_TABLE, ROWS_COLUMN, Rollup, RollupKeeper, refresh_persisted_rollup
from query_svc.server import default_cache
from tests.query_svc.focus_data import DATASET, ORG, acme_rows, focus_row, varied_rows, write_focus

FOCUS = load_schema(FOCUS_TABLE)
GROUPINGS: list[tuple[str, ...]] = [
    (),
    ("ServiceName",),
    ("tag:team",),
    ("RegionId", "ServiceName"),
    ("BillingPeriodStart",),
    ("x_source_provider", "tag:env", "ChargeCategory"),
    ("SubAccountId", "tag:cost.center"),
]
FILTERS: list[tuple[DimensionFilter, ...]] = [
    (),
    (DimensionFilter("ServiceName", ("EC2", "")),),
    (DimensionFilter("RegionId", ("",)),),
    (DimensionFilter("tag:team", ("core", "")), DimensionFilter("BillingCurrency", ("USD",))),
    (DimensionFilter("BillingPeriodStart", ("2025-02-01T00:00:00Z", "2025-01-01")),),
    (DimensionFilter("SubAccountId", ("a1", "a3")), DimensionFilter("ChargeCategory", ("Usage", "Credit"))),
]
RANGES = [("2024-12-01", "2025-03-31"), ("2025-01-15", "2025-02-03")]


@pytest.fixture(scope="module")
def varied_store(tmp_path_factory: pytest.TempPathFactory) -> EmbeddedTableStore:
    """Two providers' slices of 1,500 varied rows each."""
    store = EmbeddedTableStore(tmp_path_factory.mktemp("varied"))
    write_focus(store, varied_rows(1500, seed=1), "aws")
    write_focus(store, varied_rows(1500, seed=2, provider="gcp"), "gcp")
    return store


@pytest.fixture(scope="module")
def varied_rollup(varied_store: EmbeddedTableStore) -> Rollup:
    version = varied_store.version(DATASET, FOCUS_TABLE)
    assert version is not None
    return RollupKeeper(varied_store).refresh(DATASET, None, version)[0]


def _both_ways(store: EmbeddedTableStore, rollup: Rollup, query: CostQuery) -> tuple[object, object]:
    plan = plan_query(query, FOCUS)
    return compute(store.scan(DATASET, FOCUS_TABLE), plan), compute_rollup(rollup.frame, plan, ROWS_COLUMN)


@pytest.mark.parametrize(("group_by", "filters"), list(itertools.product(GROUPINGS, FILTERS)))
def test_rollup_answers_equal_the_focus_table_answers(
    varied_store: EmbeddedTableStore,
    varied_rollup: Rollup,
    group_by: tuple[str, ...],
    filters: tuple[DimensionFilter, ...],
) -> None:
    for grain, (start, end) in itertools.product(Grain, RANGES):
        query = CostQuery(ORG, start, end, metrics=tuple(Metric), group_by=group_by, grain=grain, filters=filters)

        full, rolled = _both_ways(varied_store, varied_rollup, query)

        assert rolled == full, (grain, start, end)


def test_the_comparison_is_not_vacuous(varied_store: EmbeddedTableStore, varied_rollup: Rollup) -> None:
    query = CostQuery(ORG, "2024-12-01", "2025-03-31", group_by=("ServiceName", "tag:team"), grain=Grain.DAY)

    full, rolled = _both_ways(varied_store, varied_rollup, query)

    assert full == rolled
    assert varied_rollup.frame.height < 3000
    assert len(full.rows) > 300 and full.rows_scanned == 3000  # type: ignore[attr-defined]
    assert {r.dimensions["tag:team"] for r in full.rows} == {"", "core", "data", "web"}  # type: ignore[attr-defined]


async def test_dashboard_queries_come_from_the_rollup(own_store: EmbeddedTableStore) -> None:
    service = QueryService(own_store, default_cache())
    query = CostQuery(ORG, "2025-01-01", "2025-02-28", group_by=("ServiceName", "tag:team"), grain=Grain.MONTH)

    result = await service.query_costs(query)

    assert (result.source, result.fallback_reason) == (AnswerSource.DAILY_ROLLUP, "")
    assert result.rows_scanned == 6
    await service.aclose()


@pytest.mark.parametrize(
    ("group_by", "filters", "named"),
    [
        (("ResourceId",), (), "ResourceId"),
        (("ChargePeriodStart",), (), "ChargePeriodStart"),
        (("ServiceName",), (DimensionFilter("SkuId", ("",)),), "SkuId"),
    ],
)
async def test_what_the_rollup_cannot_answer_comes_from_the_focus_table_and_says_why(
    own_store: EmbeddedTableStore, group_by: tuple[str, ...], filters: tuple[DimensionFilter, ...], named: str
) -> None:
    service = QueryService(own_store, default_cache())
    query = CostQuery(ORG, "2025-01-01", "2025-02-28", group_by=group_by, filters=filters)

    result = await service.query_costs(query)

    assert result.source is AnswerSource.FOCUS_TABLE
    assert named in result.fallback_reason and "rollup" in result.fallback_reason
    assert result.rows_scanned == 6
    await service.aclose()


async def test_a_stale_rollup_is_refreshed_after_another_writers_commit(own_store: EmbeddedTableStore) -> None:
    service = QueryService(own_store, default_cache())
    query = CostQuery(ORG, "2025-01-01", "2025-02-28", group_by=("x_source_provider",), grain=Grain.TOTAL)
    before = await service.query_costs(query)

    version = write_focus(own_store, [focus_row("2025-01-07T05:00:00", "EC2", "EUR", "0.5", provider="gcp")], "gcp")
    after = await service.query_costs(query)

    assert after.table_version == version > before.table_version
    assert (after.source, after.cache_hit) == (AnswerSource.DAILY_ROLLUP, False)
    assert [(r.dimensions["x_source_provider"], r.dimensions["BillingCurrency"]) for r in after.rows] == [
        ("aws", "EUR"),
        ("aws", "USD"),
        ("gcp", "EUR"),
    ]
    assert after.rows_scanned == before.rows_scanned + 1
    assert _same_answer(after, _full_table_answer(own_store, query))
    await service.aclose()


async def test_a_table_written_by_plain_deltalake_is_rolled_up_correctly(tmp_path: Path) -> None:
    store = EmbeddedTableStore(tmp_path)
    write_focus(store, varied_rows(400, seed=3))
    rows = pa.Table.from_pylist(varied_rows(400, seed=4, provider="oci"), schema=FOCUS.arrow_schema())
    write_deltalake(str(tmp_path / DATASET / FOCUS_TABLE), rows, mode="append")  # another writer's files
    service = QueryService(store, default_cache())
    query = CostQuery(ORG, "2024-12-01", "2025-03-31", group_by=("x_source_provider", "tag:env"), grain=Grain.MONTH)

    result = await service.query_costs(query)

    assert result.source is AnswerSource.DAILY_ROLLUP and result.rows_scanned == 800
    assert _same_answer(result, _full_table_answer(store, query))
    await service.aclose()


async def test_the_persisted_rollup_is_reused_and_only_changed_cells_are_recomputed(
    own_store: EmbeddedTableStore,
) -> None:
    service = QueryService(own_store, default_cache())
    await service.query_costs(CostQuery(ORG, "2025-01-01", "2025-01-31"))
    await service.aclose()  # waits for the rollup to be persisted
    version = own_store.version(DATASET, FOCUS_TABLE)
    assert version is not None and own_store.table_exists(DATASET, ROLLUP_TABLE)

    restarted, nothing_to_write = RollupKeeper(own_store).refresh(DATASET, None, version)
    newer = write_focus(own_store, [focus_row("2025-02-03T00:00:00", "S3", "USD", "2", provider="gcp")], "gcp")
    _, write = RollupKeeper(own_store).refresh(DATASET, None, newer)

    assert nothing_to_write is None and restarted.focus_version == version
    assert restarted.frame.height > 0
    assert write is not None and write.cells == ("2025-02.gcp",)
    assert refresh_persisted_rollup(own_store, DATASET) == newer
    assert RollupKeeper(own_store).refresh(DATASET, None, newer)[1] is None


async def test_a_rollup_of_a_replaced_slice_drops_its_old_rows(own_store: EmbeddedTableStore) -> None:
    service = QueryService(own_store, default_cache())
    query = CostQuery(ORG, "2024-12-01", "2025-03-31", group_by=("ServiceName",), grain=Grain.MONTH)
    await service.query_costs(query)

    write_focus(own_store, [focus_row("2025-03-05T00:00:00", "RDS", "USD", "3")])  # aws re-run: one row left
    result = await service.query_costs(query)

    assert [(r.period_start, r.dimensions["ServiceName"], r.amounts["BilledCost"]) for r in result.rows] == [
        ("2025-03-01", "RDS", "3")
    ]
    await service.aclose()


class _CountingStore(EmbeddedTableStore):
    version_reads = 0

    def version(self, dataset: str, table: str) -> int | None:
        self.version_reads += 1
        return super().version(dataset, table)


def test_the_version_probe_reads_the_log_only_after_a_commit(tmp_path: Path) -> None:
    store = _CountingStore(tmp_path)
    first = write_focus(store, acme_rows())
    probe = probe_for(store)
    assert isinstance(probe, DeltaLogProbe)

    assert probe.known_version(DATASET, FOCUS_TABLE) is None
    assert probe.version(DATASET, FOCUS_TABLE) == first
    reads = store.version_reads
    assert [probe.known_version(DATASET, FOCUS_TABLE) for _ in range(3)] == [first] * 3
    assert store.version_reads == reads
    second = write_focus(store, [focus_row("2025-01-07T00:00:00", "EC2", "EUR", "0.5", provider="gcp")], "gcp")
    assert probe.known_version(DATASET, FOCUS_TABLE) is None
    assert probe.version(DATASET, FOCUS_TABLE) == second
    assert probe.version("globex_prod", FOCUS_TABLE) is None


def _full_table_answer(store: EmbeddedTableStore, query: CostQuery) -> object:
    return compute(store.scan(DATASET, FOCUS_TABLE), plan_query(query, FOCUS))


def _same_answer(result: CostResult, full: object) -> bool:
    return (result.rows, result.rows_scanned) == (full.rows, full.rows_scanned)  # type: ignore[attr-defined]


class _SlowGlobexStore(EmbeddedTableStore):
    """Opening globex's tables takes a second (a stand-in for a very large table)."""

    def scan(self, dataset: str, table: str) -> pads.Dataset:
        if dataset == "globex_prod":
            time.sleep(1.0)
        return super().scan(dataset, table)


async def test_a_long_refresh_does_not_hold_up_cache_hits(tmp_path: Path) -> None:
    store = _SlowGlobexStore(tmp_path)
    write_focus(store, acme_rows())
    rows = pa.Table.from_pylist(acme_rows(), schema=FOCUS.arrow_schema())
    store.replace_slice("globex_prod", FOCUS, {"x_source_provider": "aws"}, rows.to_reader())
    service = QueryService(store, default_cache())
    acme = CostQuery(ORG, "2025-01-01", "2025-02-28", group_by=("ServiceName",))
    await service.query_costs(acme)

    globex = asyncio.create_task(service.query_costs(CostQuery("globex", "2025-01-01", "2025-02-28")))
    await asyncio.sleep(0.05)  # globex's rollup is being built in a scan thread
    started = time.monotonic()
    hit = await service.query_costs(acme)
    waited = time.monotonic() - started

    assert hit.cache_hit and waited < 0.1 and not globex.done()
    assert (await globex).source is AnswerSource.DAILY_ROLLUP
    await service.aclose()


async def test_queries_waiting_for_a_stale_rollup_share_one_refresh(own_store: EmbeddedTableStore) -> None:
    service = QueryService(own_store, default_cache())
    queries = [CostQuery(ORG, "2025-01-01", f"2025-01-{day:02d}", group_by=("ServiceName",)) for day in range(20, 28)]

    with patch.object(RollupKeeper, "refresh", autospec=True, side_effect=RollupKeeper.refresh) as refresh:
        results = await asyncio.gather(*(service.query_costs(q) for q in queries))

    assert refresh.call_count == 1
    assert all(r.source is AnswerSource.DAILY_ROLLUP and not r.cache_hit for r in results)
    await service.aclose()


async def test_replaced_cells_of_the_persisted_rollup_are_never_counted_twice(tmp_path: Path) -> None:
    store = EmbeddedTableStore(tmp_path)
    odd = "odd/provider name"  # a provider name a partition path would have to escape
    write_focus(store, varied_rows(200, seed=5))
    write_focus(store, varied_rows(200, seed=6, provider=odd), odd)
    assert refresh_persisted_rollup(store, DATASET) is not None

    for seed in (7, 8):  # the same cells replaced twice over
        write_focus(store, varied_rows(150, seed=seed, provider=odd), odd)
        refresh_persisted_rollup(store, DATASET)
    version = store.version(DATASET, FOCUS_TABLE)
    assert version is not None
    persisted, write = RollupKeeper(store).refresh(DATASET, None, version)

    assert write is None  # every cell loaded from the persisted rollup
    assert persisted.frame[ROWS_COLUMN].sum() == 350
    assert any("~" in cell for cell in persisted.digests)
    query = CostQuery(ORG, "2024-12-01", "2025-03-31", group_by=("x_source_provider", "RegionId"))
    assert compute_rollup(persisted.frame, plan_query(query, FOCUS), ROWS_COLUMN) == _full_table_answer(store, query)


async def test_an_empty_focus_table_has_an_empty_rollup(tmp_path: Path) -> None:
    store = EmbeddedTableStore(tmp_path)
    store.ensure_table(DATASET, FOCUS)
    service = QueryService(store, default_cache())

    result = await service.query_costs(CostQuery(ORG, "2025-01-01", "2025-01-31", group_by=("tag:team",)))

    assert (result.rows, result.rows_scanned, result.source) == ((), 0, AnswerSource.DAILY_ROLLUP)
    await service.aclose()
