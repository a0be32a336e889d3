"""ExecuteSql end to end: a real query_svc on loopback (TLS, bearer tokens) over two orgs' FOCUS tables,
and the ``cloudact sql`` command against the four services."""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from typer.testing import CliRunner

from cloudact_cli.main import app
from cloudact_shared.gen.cloudact.query.v1 import query_service_pb2 as pb
from cloudact_shared.gen.cloudact.query.v1 import query_service_pb2_grpc as pb_grpc
from cloudact_shared.settings import CloudactSettings
from cloudact_shared.storage.embedded import EmbeddedTableStore
from query_svc.adhoc.views import SEED_VIEWS, VIEWS_DIR
from query_svc.server import build
from tests.channels import org_channel, org_token
from tests.conftest import Services
from tests.query_svc.conftest import tls_settings
from tests.query_svc.focus_data import ORG
from tests.query_svc.sql_data import OTHER_ORG, OTHER_SECRET, acme_rows, globex_rows, write_org

SEED_COLUMNS: dict[str, list[dict[str, Any]]] = json.loads((VIEWS_DIR / "seed_columns.json").read_text())["views"]
_SEED_TYPES = {"STRING": "VARCHAR", "FLOAT": "DOUBLE", "TIMESTAMP": "TIMESTAMPTZ", "DATETIME": "TIMESTAMP",
               "BOOLEAN": "BOOLEAN", "INTEGER": "BIGINT"}  # fmt: skip


@dataclass
class Answer:
    """A whole ExecuteSql answer: columns, rows (None for NULL), summary."""

    columns: list[tuple[str, str]] = field(default_factory=list)
    rows: list[list[str | None]] = field(default_factory=list)
    table_version: int = -1
    summary: pb.SqlResultSummary = field(default_factory=pb.SqlResultSummary)
    order: list[str] = field(default_factory=list)


async def run_sql(stub: pb_grpc.QueryServiceStub, sql: str, *, max_rows: int = 0, org: str = ORG) -> Answer:
    answer = Answer()
    async for response in stub.ExecuteSql(pb.ExecuteSqlRequest(org_slug=org, sql=sql, max_rows=max_rows), timeout=60):
        kind = response.WhichOneof("result")
        answer.order.append(str(kind))
        if kind == "header":
            answer.columns = [(c.name, c.type) for c in response.header.columns]
            answer.table_version = response.header.table_version
        elif kind == "batch":
            for r in response.batch.rows:
                nulls = set(r.null_cells)
                answer.rows.append([None if i in nulls else cell for i, cell in enumerate(r.cells)])
        else:
            answer.summary = response.summary
    return answer


async def refused(stub: pb_grpc.QueryServiceStub, sql: str, org: str = ORG) -> tuple[grpc.StatusCode, str, str, str]:
    """(code, message, ErrorInfo reason, the BadRequest field) of a refused query."""
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await run_sql(stub, sql, org=org)
    status = rpc_status.from_call(caught.value)
    reason = bad_field = ""
    for detail in status.details if status is not None else []:
        info, bad = error_details_pb2.ErrorInfo(), error_details_pb2.BadRequest()
        if detail.Is(info.DESCRIPTOR) and detail.Unpack(info):
            reason = info.reason
        if detail.Is(bad.DESCRIPTOR) and detail.Unpack(bad):
            bad_field = bad.field_violations[0].field
    return caught.value.code(), str(caught.value.details()), reason, bad_field


@pytest.fixture(scope="module")
def two_orgs(tmp_path_factory: pytest.TempPathFactory) -> EmbeddedTableStore:
    """acme's FOCUS table (every provider, GenAI lines) and globex's, in one store."""
    store = EmbeddedTableStore(tmp_path_factory.mktemp("lake"))
    write_org(store, ORG, acme_rows())
    write_org(store, OTHER_ORG, globex_rows())
    return store


@contextlib.asynccontextmanager
async def serving(
    store: EmbeddedTableStore, data_dir: Path, **update: Any
) -> AsyncIterator[tuple[CloudactSettings, str]]:
    """A real query_svc over ``store`` with the settings ``update`` (e.g. sql_timeout_seconds)."""
    settings = tls_settings(data_dir).model_copy(update=update)
    built = await build(settings, address="127.0.0.1:0", store=store)
    await built.start()
    try:
        yield settings, f"127.0.0.1:{built.port}"
    finally:
        await built.stop()


@contextlib.asynccontextmanager
async def client(server: tuple[CloudactSettings, str], org: str = ORG) -> AsyncIterator[pb_grpc.QueryServiceStub]:
    settings, address = server
    async with org_channel(settings, address, org, "viewer") as channel:
        yield pb_grpc.QueryServiceStub(channel)


@pytest.fixture
async def server(two_orgs: EmbeddedTableStore, tmp_path: Path) -> AsyncIterator[tuple[CloudactSettings, str]]:
    async with serving(two_orgs, tmp_path, sql_timeout_seconds=3.0) as running:
        yield running


@pytest.fixture
async def acme(server: tuple[CloudactSettings, str]) -> AsyncIterator[pb_grpc.QueryServiceStub]:
    """A viewer of acme."""
    async with client(server) as stub:
        yield stub


def seed_type(column: dict[str, Any]) -> str:
    """The DuckDB type of a seed column: STRING -> VARCHAR, FLOAT -> DOUBLE, TIMESTAMP -> TIMESTAMPTZ,
    DATETIME -> TIMESTAMP, RECORD -> STRUCT, REPEATED RECORD -> STRUCT(...)[]."""
    if column["type"].endswith("RECORD"):
        fields = ", ".join(f'"{f["name"]}" {seed_type(f)}' for f in column["fields"])
        return f"STRUCT({fields})" + ("[]" if column["type"].startswith("REPEATED") else "")
    return _SEED_TYPES[column["type"]]


def duckdb_spelling(type_name: str) -> str:
    """How DuckDB prints ``type_name`` (the spelling ExecuteSql's header uses)."""
    relation = duckdb.sql(f"SELECT CAST(NULL AS {type_name})")
    assert relation is not None
    return str(relation.types[0])


# --- answers ------------------------------------------------------------------------------------


async def test_every_seed_view_answers_with_the_seeds_columns_and_types(acme: pb_grpc.QueryServiceStub) -> None:
    assert set(SEED_COLUMNS) == set(SEED_VIEWS)
    for view in SEED_VIEWS:
        answer = await run_sql(acme, f"SELECT * FROM {view} LIMIT 0")
        expected = [(c["name"], duckdb_spelling(seed_type(c))) for c in SEED_COLUMNS[view]]
        assert answer.columns == expected, view
        assert answer.rows == [] and answer.order == ["header", "summary"]


async def test_a_query_streams_a_header_exact_rows_and_a_summary(acme: pb_grpc.QueryServiceStub) -> None:
    answer = await run_sql(
        acme,
        "SELECT ServiceName, BilledCost, EffectiveCost FROM acme_prod.cost_data_standard_1_3 "
        "WHERE x_source_provider = 'aws' ORDER BY BilledCost",
    )

    assert answer.columns == [("ServiceName", "VARCHAR"), ("BilledCost", "DECIMAL(38,12)"),
                              ("EffectiveCost", "DECIMAL(38,12)")]  # fmt: skip
    assert answer.rows == [
        ["Amazon Elastic Compute Cloud", "-1.500000000000", "-1.500000000000"],
        ["Amazon Bedrock", "2.250000000000", "2.250000000000"],
        ["Claude Sonnet 4.6 (Amazon Bedrock Edition)", "3.500000000000", "3.500000000000"],
        ["Amazon Elastic Compute Cloud", "10.000000000000", "8.000000000000"],
    ]
    assert answer.order == ["header", "batch", "summary"]
    assert answer.table_version >= 0
    assert (answer.summary.row_count, answer.summary.truncated) == (4, False)


async def test_cells_are_text_with_nulls_marked(acme: pb_grpc.QueryServiceStub) -> None:
    answer = await run_sql(
        acme,
        "SELECT NULL::VARCHAR AS n, '' AS empty, true AS b, DATE '2025-01-02' AS d, "
        "TIMESTAMPTZ '2025-01-05 10:00:00+00' AS ts, TIMESTAMP '2025-01-05 10:00:00.5' AS dt, "
        "1.5::DECIMAL(38,12) AS dec, 0.25::DOUBLE AS f, [1, 2] AS l, {'key': 'team', 'value': 'core'} AS s",
    )

    assert [t for _, t in answer.columns] == [
        "VARCHAR", "VARCHAR", "BOOLEAN", "DATE", "TIMESTAMP WITH TIME ZONE", "TIMESTAMP", "DECIMAL(38,12)",
        "DOUBLE", "INTEGER[]", 'STRUCT("key" VARCHAR, "value" VARCHAR)',
    ]  # fmt: skip
    assert answer.rows == [
        [None, "", "true", "2025-01-02", "2025-01-05T10:00:00Z", "2025-01-05T10:00:00.500000", "1.500000000000",
         "0.25", "[1, 2]", '{"key": "team", "value": "core"}'],
    ]  # fmt: skip


async def test_the_provider_views_show_their_providers_rows(acme: pb_grpc.QueryServiceStub) -> None:
    aws = await run_sql(
        acme, "SELECT service_description, cost, credit, labels, system_labels FROM aws_dci ORDER BY cost"
    )
    azure = await run_sql(acme, 'SELECT service_description, "report.cost", system_labels FROM azure_dci ORDER BY 1')
    databricks = await run_sql(
        acme, "SELECT service_description, cost, report.cost, report.savings FROM databricks_dci"
    )

    assert aws.rows == [
        ["Amazon Elastic Compute Cloud", "0", "-1.5", "[]", "[]"],
        ["Amazon Bedrock", "2.25", None, "[]", "[]"],
        ["Claude Sonnet 4.6 (Amazon Bedrock Edition)", "3.5", None, "[]", "[]"],
        ["Amazon Elastic Compute Cloud", "10", None, '[{"key": "team", "value": "core"}]',
         '[{"key": "aws:createdBy", "value": "alice"}]'],
    ]  # fmt: skip
    assert azure.rows == [
        ["Azure OpenAI", "0.75", '[{"key": "resourceType", "value": "Microsoft.CognitiveServices/accounts"}]'],
        ["Virtual Machines", "6", '[{"key": "resourceType", "value": "Microsoft.Compute/virtualMachines"}]'],
    ]
    assert databricks.rows == [["Databricks SQL Warehouse Compute", "12", "9", "15"]]  # ListCost is 2x billed


async def test_genai_dci_holds_the_genai_lines_of_every_bill(acme: pb_grpc.QueryServiceStub) -> None:
    answer = await run_sql(
        acme,
        "SELECT provider, service_description, cost, list_filter(system_labels, lambda l: l.key = "
        "'cloudact:genai_rule')[1].value AS rule FROM genai_dci ORDER BY provider, service_description",
    )

    assert answer.rows == [
        ["aws", "Amazon Bedrock", "2.25", "aws_bedrock_input_tokens"],
        ["aws", "Claude Sonnet 4.6 (Amazon Bedrock Edition)", "3.5", "aws_bedrock_edition"],
        ["azure", "Azure OpenAI", "0.75", "azure_cognitive_token_meter"],
        ["gcp", "Vertex AI", "1.5625", "gcp_gemini_sku"],
        ["openai", "OpenAI API", "5", "openai"],
    ]


# --- isolation ----------------------------------------------------------------------------------


async def test_an_org_sees_only_its_own_rows(server: tuple[CloudactSettings, str]) -> None:
    async with client(server) as acme, client(server, OTHER_ORG) as globex:
        mine = await run_sql(
            acme, f"SELECT count(*), count(*) FILTER (WHERE ServiceName = '{OTHER_SECRET}') FROM cost_data_standard_1_3"
        )
        views = await run_sql(acme, "SELECT service_description FROM aws_dci UNION ALL SELECT service_description "
                              "FROM genai_dci UNION ALL SELECT service_description FROM datahub_dci")  # fmt: skip
        theirs = await run_sql(globex, "SELECT ServiceName FROM cost_data_standard_1_3", org=OTHER_ORG)

    assert mine.rows == [[str(len(acme_rows())), "0"]]
    assert OTHER_SECRET not in {r[0] for r in views.rows}
    assert theirs.rows == [[OTHER_SECRET]]


async def test_another_orgs_dataset_is_permission_denied(acme: pb_grpc.QueryServiceStub) -> None:
    code, message, reason, _ = await refused(acme, f"SELECT * FROM {OTHER_ORG}_prod.cost_data_standard_1_3")

    assert (code, reason) == (grpc.StatusCode.PERMISSION_DENIED, "SQL_OTHER_ORG")
    assert f"belongs to org '{OTHER_ORG}'" in message


async def test_a_viewer_of_one_org_cannot_ask_for_another(server: tuple[CloudactSettings, str]) -> None:
    async with client(server, OTHER_ORG) as globex:
        code, message, reason, _ = await refused(globex, "SELECT * FROM aws_dci", org=ORG)

    assert (code, reason) == (grpc.StatusCode.PERMISSION_DENIED, "WRONG_ORG")
    assert "cannot act in org 'acme'" in message


async def test_an_org_without_a_focus_table_is_not_found(server: tuple[CloudactSettings, str]) -> None:
    async with client(server, "initech") as initech:
        code, _, reason, _ = await refused(initech, "SELECT 1", org="initech")

    assert (code, reason) == (grpc.StatusCode.NOT_FOUND, "FOCUS_TABLE_NOT_FOUND")


# --- refusals -----------------------------------------------------------------------------------

ATTACKS = [
    ("SELECT * FROM read_csv('/etc/passwd')", "SQL_FUNCTION_NOT_ALLOWED", "read_csv() is not allowed: it reads files"),
    ("SELECT * FROM read_csv_auto('/etc/passwd')", "SQL_FUNCTION_NOT_ALLOWED", "read_csv_auto()"),
    ("SELECT (SELECT count(*) FROM read_text('/etc/passwd')) FROM aws_dci", "SQL_FUNCTION_NOT_ALLOWED", "read_text()"),
    ("SELECT * FROM '/etc/passwd'", "SQL_TABLE_NOT_ALLOWED", "'/etc/passwd' is a file path"),
    ("SELECT * FROM parquet_scan('data/acme_prod/cost_data_standard_1_3/*.parquet')", "SQL_FUNCTION_NOT_ALLOWED",
     "parquet_scan() is not allowed: it reads files"),
    ("SELECT * FROM glob('/*')", "SQL_FUNCTION_NOT_ALLOWED", "glob()"),
    ("SELECT 1; DROP TABLE cost_data_standard_1_3", "SQL_MULTIPLE_STATEMENTS", "2 statements (SELECT, DROP)"),
    ("SELECT 1 -- just one query\n; DROP VIEW aws_dci", "SQL_MULTIPLE_STATEMENTS", "2 statements (SELECT, DROP)"),
    ("SELECT 1 /* ; */; ATTACH 'x.db' AS x", "SQL_MULTIPLE_STATEMENTS", "2 statements (SELECT, ATTACH)"),
    ("SELECT getvariable('x')", "SQL_FUNCTION_NOT_ALLOWED", "getvariable() is not allowed: it reads the database's"),
    ("SELECT current_setting('enable_external_access')", "SQL_FUNCTION_NOT_ALLOWED", "current_setting()"),
    ("SELECT * FROM duckdb_settings()", "SQL_FUNCTION_NOT_ALLOWED", "duckdb_settings()"),
    ("SELECT * FROM query('SELECT 1')", "SQL_FUNCTION_NOT_ALLOWED", "query() is not allowed: it runs SQL text"),
    ("SELECT json_execute_serialized_sql('{}')", "SQL_FUNCTION_NOT_ALLOWED", "json_execute_serialized_sql()"),
    ("WITH RECURSIVE t(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM t) SELECT count(*) FROM t", "SQL_RECURSIVE_CTE",
     "recursive CTEs (WITH RECURSIVE) are not allowed"),
    ("ATTACH 'other.duckdb' AS other", "SQL_NOT_A_QUERY", "this is ATTACH"),
    ("DETACH other", "SQL_NOT_A_QUERY", "this is DETACH"),
    ("COPY (SELECT * FROM aws_dci) TO 'leak.csv'", "SQL_NOT_A_QUERY", "this is COPY"),
    ("PRAGMA database_list", "SQL_NOT_A_QUERY", "this is PRAGMA"),
    ("SET enable_external_access = true", "SQL_NOT_A_QUERY", "this is SET"),
    ("RESET memory_limit", "SQL_NOT_A_QUERY", "this is RESET"),
    ("INSTALL httpfs", "SQL_NOT_A_QUERY", "this is INSTALL"),
    ("LOAD httpfs", "SQL_NOT_A_QUERY", "this is LOAD"),
    ("EXPORT DATABASE 'dump'", "SQL_NOT_A_QUERY", "this is EXPORT"),
    ("CALL pragma_version()", "SQL_NOT_A_QUERY", "this is CALL"),
    ("CREATE TABLE x AS SELECT 1", "SQL_NOT_A_QUERY", "this is CREATE"),
    ("DELETE FROM cost_data_standard_1_3", "SQL_NOT_A_QUERY", "this is DELETE"),
    ("DESCRIBE aws_dci", "SQL_NOT_A_QUERY", "this is DESCRIBE"),
    ("SELECT * FROM information_schema.tables", "SQL_TABLE_NOT_ALLOWED", "is not one of your tables"),
    ("SELECT * FROM duckdb_tables", "SQL_TABLE_NOT_ALLOWED", "table 'duckdb_tables' is not allowed"),
    ("SELECT * FROM ref_genai_rules", "SQL_TABLE_NOT_ALLOWED", "table 'ref_genai_rules' is not allowed"),
    ("SELECT * FROM _saas_dci", "SQL_TABLE_NOT_ALLOWED", "table '_saas_dci' is not allowed"),
    ("SELECT * FROM memory.main.cost_data_standard_1_3", "SQL_TABLE_NOT_ALLOWED", "name a table bare"),
    ("", "SQL_EMPTY", "the query is empty"),
    ("SELEC 1", "SQL_PARSE_ERROR", "does not parse"),
    ("SELECT " + "(" * 400 + "1" + ")" * 400, "SQL_TOO_DEEP", "nests expressions or subqueries too deeply"),
]  # fmt: skip


@pytest.mark.parametrize(("sql", "reason", "mentions"), ATTACKS, ids=[a[0][:40] for a in ATTACKS])
async def test_a_query_that_is_not_a_read_of_the_orgs_data_is_refused(
    acme: pb_grpc.QueryServiceStub, sql: str, reason: str, mentions: str
) -> None:
    code, message, got_reason, bad_field = await refused(acme, sql)

    assert (code, got_reason, bad_field) == (grpc.StatusCode.INVALID_ARGUMENT, reason, "sql")
    assert mentions in message


async def test_refused_statements_leave_no_trace(acme: pb_grpc.QueryServiceStub, tmp_path: Path) -> None:
    leak, attached = tmp_path / "leak.csv", tmp_path / "attached.duckdb"
    for sql in (f"COPY (SELECT * FROM aws_dci) TO '{leak}'", f"ATTACH '{attached}' AS a",
                f"SELECT 1; COPY (SELECT 1) TO '{leak}'"):  # fmt: skip
        assert (await refused(acme, sql))[0] == grpc.StatusCode.INVALID_ARGUMENT
    answer = await run_sql(acme, "SELECT count(*) FROM cost_data_standard_1_3")

    assert not leak.exists() and not attached.exists()
    assert answer.rows == [[str(len(acme_rows()))]]


async def test_a_cte_may_shadow_a_name_only_where_it_is_in_scope(acme: pb_grpc.QueryServiceStub) -> None:
    shadowed = await run_sql(acme, "WITH ref_genai_rules AS (SELECT 1 AS x) SELECT x FROM ref_genai_rules")
    code, _, reason, _ = await refused(
        acme, "SELECT * FROM (WITH ref_genai_rules AS (SELECT 1 AS x) SELECT x FROM ref_genai_rules), ref_genai_rules"
    )

    assert shadowed.rows == [["1"]]
    assert (code, reason) == (grpc.StatusCode.INVALID_ARGUMENT, "SQL_TABLE_NOT_ALLOWED")


# --- limits -------------------------------------------------------------------------------------


async def test_a_query_that_never_ends_is_stopped_at_the_time_limit(acme: pb_grpc.QueryServiceStub) -> None:
    started = time.monotonic()
    code, message, reason, _ = await refused(acme, "SELECT sum(range) FROM range(1000000000000)")
    elapsed = time.monotonic() - started

    assert (code, reason) == (grpc.StatusCode.DEADLINE_EXCEEDED, "SQL_TIME_LIMIT")
    assert "time limit (3 s" in message
    assert 2.5 < elapsed < 15
    after = await run_sql(acme, "SELECT 1 AS still_serving")  # the server is not left busy
    assert after.rows == [["1"]]


async def test_the_callers_deadline_is_honoured(acme: pb_grpc.QueryServiceStub) -> None:
    started = time.monotonic()
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        request = pb.ExecuteSqlRequest(org_slug=ORG, sql="SELECT sum(range) FROM range(1000000000000)")
        async for _ in acme.ExecuteSql(request, timeout=1.0):
            pass

    assert caught.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert time.monotonic() - started < 2.5


async def test_the_requests_row_limit_cuts_the_answer_and_says_so(acme: pb_grpc.QueryServiceStub) -> None:
    cut = await run_sql(acme, "SELECT * FROM range(10)", max_rows=3)
    whole = await run_sql(acme, "SELECT * FROM range(3)", max_rows=3)

    assert cut.rows == [["0"], ["1"], ["2"]]
    assert (cut.summary.row_count, cut.summary.truncated, cut.summary.row_limit) == (3, True, 3)
    assert "more than 3 rows" in cut.summary.truncation_reason and "max_rows" in cut.summary.truncation_reason
    assert (whole.summary.truncated, whole.summary.truncation_reason) == (False, "")


async def test_the_servers_row_limit_caps_every_answer(two_orgs: EmbeddedTableStore, tmp_path: Path) -> None:
    async with serving(two_orgs, tmp_path, sql_max_rows=2500) as running, client(running) as acme:
        capped = await run_sql(acme, "SELECT range AS n FROM range(5000)", max_rows=10_000)
        asked = await run_sql(acme, "SELECT range AS n FROM range(5000)")

    for answer in (capped, asked):
        assert [int(str(r[0])) for r in answer.rows] == list(range(2500))
        assert (answer.summary.truncated, answer.summary.row_limit) == (True, 2500)
        assert "CLOUDACT_SQL_MAX_ROWS" in answer.summary.truncation_reason
    assert capped.order.count("batch") >= 3  # streamed in batches, not one message


# --- the cloudact sql command -------------------------------------------------------------------


async def test_cloudact_sql_prints_csv_and_exits_1_on_a_refusal(services: Services) -> None:
    write_org(EmbeddedTableStore(services.settings.data_dir), ORG, acme_rows())
    settings = services.settings
    env = {
        "CLOUDACT_DATA_DIR": str(settings.data_dir),
        "CLOUDACT_QUERY_ADDRESS": settings.query_address,
        "CLOUDACT_TOKEN": org_token(settings.tokens_path, ORG, "viewer"),
    }
    query = "SELECT provider, service_description, cost FROM genai_dci WHERE provider <> 'openai' ORDER BY cost"
    runner = CliRunner()

    ok = await asyncio.to_thread(runner.invoke, app, ["sql", "--org", ORG, "--format", "csv", query], env=env)
    bad = await asyncio.to_thread(
        runner.invoke, app, ["sql", "--org", ORG, "--format", "csv", "SELECT * FROM read_csv('/etc/passwd')"], env=env
    )
    cut = await asyncio.to_thread(
        runner.invoke, app, ["sql", "--org", ORG, "--format", "json", "--max-rows", "1", query], env=env
    )
    table = await asyncio.to_thread(runner.invoke, app, ["sql", "--org", ORG, "SELECT labels FROM aws_dci"], env=env)

    assert ok.exit_code == 0, ok.output
    assert list(csv.reader(io.StringIO(ok.stdout))) == [
        ["provider", "service_description", "cost"],
        ["azure", "Azure OpenAI", "0.75"],
        ["gcp", "Vertex AI", "1.5625"],
        ["aws", "Amazon Bedrock", "2.25"],
        ["aws", "Claude Sonnet 4.6 (Amazon Bedrock Edition)", "3.5"],
    ]
    assert bad.exit_code == 1 and bad.stdout == ""
    assert "INVALID_ARGUMENT" in bad.stderr and "read_csv() is not allowed" in bad.stderr
    assert cut.exit_code == 0 and json.loads(cut.stdout) == [
        {"provider": "azure", "service_description": "Azure OpenAI", "cost": "0.75"}
    ]
    assert "note: the answer has more than 1 rows" in cut.stderr
    assert table.exit_code == 0, table.output
    assert "labels" in table.stdout and '[{"key": "team", "value": "core"}]' in table.stdout  # brackets are not markup
