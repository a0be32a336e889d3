"""query_svc on the BigQuery warehouse: the same answers as on the embedded one, from the same rows.

The FOCUS rows of the ExecuteSql tests (several providers, tags, GenAI lines, a second org) are
written to both warehouses. QueryCosts reads the question's columns and dates through the Storage
Read API; ExecuteSql passes the same guards, then runs as a BigQuery job in the org's dataset, over
the seed views created there.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from decimal import Decimal, InvalidOperation
from pathlib import Path

import pytest
import sqlglot

from cloudact_cli.bigquery_emulator import BigQueryEmulator
from cloudact_shared.errors import InvalidArgument, PermissionDenied
from cloudact_shared.storage import TableStore
from cloudact_shared.storage.bigquery import BigQueryTableStore
from cloudact_shared.storage.embedded import EmbeddedTableStore
from query_svc.adapters.cache import TTLResultCache
from query_svc.adhoc.bigquery import TAG_ENTRIES_BIGQUERY, views_sql
from query_svc.adhoc.model import SqlHeader, SqlLimits, SqlRows
from query_svc.adhoc.service import SqlService
from query_svc.adhoc.views import load_catalog
from query_svc.model import CostQuery, Grain
from query_svc.service import REMOTE_REASON, QueryService
from tests.query_svc.sql_data import OTHER_ORG, OTHER_SECRET, acme_rows, globex_rows, write_org
from tests.warehouse.conftest import make_store

ORG = "acme"
QUESTIONS = (
    CostQuery(org_slug=ORG, start_date="2025-01-01", end_date="2025-01-31", grain=Grain.TOTAL),
    CostQuery(
        org_slug=ORG, start_date="2025-01-01", end_date="2025-01-31", group_by=("x_source_provider", "ServiceName")
    ),
    CostQuery(org_slug=ORG, start_date="2025-01-01", end_date="2025-02-28", group_by=("tag:team",)),
)


@pytest.fixture(scope="module")
def warehouses(emulator: BigQueryEmulator, tmp_path_factory: pytest.TempPathFactory) -> dict[str, TableStore]:
    """The same two orgs' FOCUS rows, on the embedded warehouse and on BigQuery."""
    embedded = EmbeddedTableStore(tmp_path_factory.mktemp("embedded"))
    bigquery = make_store(emulator)
    for store in (embedded, bigquery):
        write_org(store, ORG, acme_rows())  # type: ignore[arg-type]
        write_org(store, OTHER_ORG, globex_rows())  # type: ignore[arg-type]
    return {"embedded": embedded, "bigquery": bigquery}


async def _cost_answers(store: TableStore) -> list[object]:
    service = QueryService(store, TTLResultCache(max_weight=100, ttl_seconds=60.0))
    try:
        return [await service.query_costs(question) for question in QUESTIONS]
    finally:
        await service.aclose()


async def test_cost_questions_get_the_same_answers_on_both_warehouses(warehouses: dict[str, TableStore]) -> None:
    embedded = await _cost_answers(warehouses["embedded"])
    bigquery = await _cost_answers(warehouses["bigquery"])

    for on_embedded, on_bigquery in zip(embedded, bigquery, strict=True):
        assert on_bigquery.rows == on_embedded.rows  # type: ignore[attr-defined]
        assert on_bigquery.rows_scanned == on_embedded.rows_scanned  # type: ignore[attr-defined]
        assert on_bigquery.fallback_reason == REMOTE_REASON  # type: ignore[attr-defined]
    assert any(row.dimensions.get("tag:team") == "core" for row in bigquery[2].rows)  # type: ignore[attr-defined]


async def test_a_repeated_question_is_a_cache_hit_on_bigquery(warehouses: dict[str, TableStore]) -> None:
    service = QueryService(warehouses["bigquery"], TTLResultCache(max_weight=100, ttl_seconds=60.0))
    try:
        first = await service.query_costs(QUESTIONS[1])
        again = await service.query_costs(QUESTIONS[1])
    finally:
        await service.aclose()

    assert (first.cache_hit, again.cache_hit) == (False, True)
    assert again.rows == first.rows


async def _sql(store: TableStore, sql: str, org: str = ORG, tmp: Path | None = None) -> list[list[str | None]]:
    service = SqlService(store, SqlLimits(timeout_seconds=60.0), temp_dir=tmp)
    rows: list[list[str | None]] = []
    try:
        async for event in service.execute(org, sql):
            if isinstance(event, SqlRows):
                for cells, nulls in event.rows:
                    rows.append([None if i in nulls else cell for i, cell in enumerate(cells)])
            elif isinstance(event, SqlHeader):
                assert event.columns
    finally:
        await service.aclose()
    return rows


@pytest.fixture
async def sql_warehouses(warehouses: dict[str, TableStore]) -> AsyncIterator[dict[str, TableStore]]:
    yield warehouses


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT x_source_provider, sum(BilledCost) AS billed, count(*) AS n FROM cost_data_standard_1_3 "
        "GROUP BY x_source_provider ORDER BY x_source_provider",
        "SELECT ServiceName, BilledCost FROM acme_prod.cost_data_standard_1_3 WHERE BilledCost > 2 ORDER BY 2, 1",
        "WITH by_service AS (SELECT ServiceName AS s, sum(EffectiveCost) AS e FROM cost_data_standard_1_3 "
        "GROUP BY 1) SELECT s, e FROM by_service ORDER BY e DESC, s LIMIT 3",
        "SELECT service_description, cost, credit, labels, system_labels FROM aws_dci "
        "ORDER BY cost, service_description",
        "SELECT provider, service_description, cost FROM genai_dci ORDER BY provider, service_description",
    ],
)
async def test_execute_sql_gives_the_same_rows_on_both_warehouses(
    sql_warehouses: dict[str, TableStore], sql: str, tmp_path: Path
) -> None:
    on_embedded = await _sql(sql_warehouses["embedded"], sql, tmp=tmp_path)
    on_bigquery = await _sql(sql_warehouses["bigquery"], sql)

    assert on_embedded, "the question has an answer"
    # The same exact values; BigQuery writes a BIGNUMERIC result at its own scale (38 places).
    assert _values(on_bigquery) == _values(on_embedded)


def _values(rows: list[list[str | None]]) -> list[list[object]]:
    return [[_value(cell) for cell in row] for row in rows]


def _value(cell: str | None) -> object:
    try:
        return None if cell is None else Decimal(cell)
    except InvalidOperation:
        return cell


async def test_execute_sql_on_bigquery_keeps_to_the_orgs_dataset(sql_warehouses: dict[str, TableStore]) -> None:
    rows = await _sql(sql_warehouses["bigquery"], "SELECT ServiceName FROM cost_data_standard_1_3")

    assert OTHER_SECRET not in {row[0] for row in rows}
    with pytest.raises(PermissionDenied):
        await _sql(sql_warehouses["bigquery"], f"SELECT * FROM {OTHER_ORG}_prod.cost_data_standard_1_3")
    with pytest.raises(InvalidArgument):
        await _sql(sql_warehouses["bigquery"], "DELETE FROM cost_data_standard_1_3 WHERE true")


def test_the_views_sql_is_bigquery_and_names_only_the_orgs_dataset() -> None:
    dataset_id = f"t{uuid.uuid4().hex[:6]}_acme_prod"
    statements = views_sql(load_catalog(), "acme-billing", dataset_id)

    for statement in statements:
        tree = sqlglot.parse_one(statement, read="bigquery")
        for table in tree.find_all(sqlglot.exp.Table):
            if table.name.startswith(("cost_data", "ref_", "_saas", "aws_", "genai")):
                assert (table.catalog, table.db) == ("acme-billing", dataset_id), statement[:200]
    tagged = [s for s in statements if "JSON_KEYS" in s]
    assert tagged and all(TAG_ENTRIES_BIGQUERY in s for s in tagged)


def test_the_store_is_the_warehouse_query_svc_needs(emulator: BigQueryEmulator) -> None:
    store: BigQueryTableStore = make_store(emulator)
    assert store.project == emulator.project
    assert store.dataset_id("acme_prod").endswith("acme_prod")
