"""The seed views of sql/views and the GenAI recognition rules, run by the ExecuteSql engine in-process."""

from __future__ import annotations

import dataclasses
import shutil
import time
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.parquet as pq
import pytest
import sqlglot
from sqlglot.errors import ErrorLevel

from cloudact_cli.convert import convert_files
from cloudact_cli.demo import GCP_MONTH, gcp_demo_rows
from cloudact_providers.gcp.synthetic import NESTED_SCHEMA
from cloudact_shared.naming import FOCUS_TABLE
from cloudact_shared.storage import load_schema
from query_svc.adhoc import SqlLimits
from query_svc.adhoc.engine import SqlRun
from query_svc.adhoc.guard import ALLOWED_FUNCTIONS, ALLOWED_TABLE_FUNCTIONS, check_query
from query_svc.adhoc.views import SEED_VIEWS, VIEWS_DIR, ViewCatalog, load_catalog
from tests.query_svc.sql_data import row

CATALOG = load_catalog()
RULES: list[dict[str, Any]] = dict(CATALOG.references)["ref_genai_rules"].to_pylist()
SEED_VIEW_PROVIDERS: list[dict[str, Any]] = dict(CATALOG.references)["ref_seed_views"].to_pylist()


def query(rows: list[dict[str, Any]], sql: str, catalog: ViewCatalog = CATALOG) -> list[list[str | None]]:
    """``sql`` over a FOCUS table of ``rows``, on the engine ExecuteSql uses (cells as text, None for NULL)."""
    table = pa.Table.from_pylist(rows, schema=load_schema(FOCUS_TABLE).arrow_schema())
    run = SqlRun(pads.dataset(table), "acme_prod", catalog, SqlLimits(), time.monotonic() + 60)
    try:
        run.start(sql)
        answer: list[list[str | None]] = []
        while (batch := run.fetch(1000)) is not None:
            answer += [[None if i in nulls else c for i, c in enumerate(cells)] for cells, nulls in batch]
        return answer
    finally:
        run.close()


def with_rules(rules: list[dict[str, Any]]) -> ViewCatalog:
    """The catalog with ``rules`` as genai_rules.csv."""
    references = dict(CATALOG.references)
    references["ref_genai_rules"] = pa.Table.from_pylist(rules, schema=references["ref_genai_rules"].schema)
    return dataclasses.replace(CATALOG, references=tuple(references.items()))


GENAI_CASES: dict[str, dict[str, Any]] = {
    "openai": row("openai", "OpenAI API", x_service_code="gpt-4o-2024-08-06"),
    "anthropic": row("anthropic", "Claude API", x_service_code="claude-sonnet-4-6"),
    "aws_bedrock_service": row("aws", "Amazon Bedrock AgentCore", x_service_code="AmazonBedrockAgentCore"),
    "aws_bedrock_product_code": row("aws", "Bedrock", x_service_code="AmazonBedrockService"),
    "aws_bedrock_edition": row("aws", "Claude Sonnet 4.6 (Amazon Bedrock Edition)", x_service_code="7zgyu5r4abcd"),
    "aws_bedrock_input_tokens": row("aws", "Some model", x_usage_type="USE1-Claude4.6Sonnet-input-tokens"),
    "aws_bedrock_output_tokens": row("aws", "Some model", x_usage_type="USW2-mantle-output-tokens-standard"),
    "aws_bedrock_cache_tokens": row("aws", "Some model",
                                    x_usage_type="USE1-Claude4.6Sonnet-cache-read-input-token-count"),
    "gcp_vertex_ai": row("gcp", "Vertex AI", x_service_code="Z9Z9-0000-0000"),
    "gcp_vertex_ai_service_id": row("gcp", "AI Platform", x_service_code="C7E2-9256-1C43"),
    "gcp_gemini_api": row("gcp", "Gemini API"),
    "gcp_generative_language_api": row("gcp", "Generative Language API", x_service_code="aiplatform.googleapis.com"),
    "gcp_gemini_sku": row("gcp", "Gemini for Google Cloud", SkuMeter="Gemini Code Assist Standard"),
    "azure_openai": row("azure", "Azure OpenAI", x_service_code="microsoft.cognitiveservices"),
    "azure_foundry_models": row("azure", "Foundry Models"),
    "azure_ai_foundry": row("azure", "Azure AI Foundry"),
    "azure_cognitive_token_meter": row("azure", "Azure AI services",
                                       ResourceType="Microsoft.CognitiveServices/accounts",
                                       SkuMeter="5 mini pp Inp Gl 1M Tokens"),
    "azure_cognitive_token_subcategory": row("azure", "Azure AI services",
                                             x_service_code="Microsoft.CognitiveServices",
                                             x_usage_type="gpt 4o 0513 Input global Tokens"),
    "azure_cognitive_ptu": row("azure", "Azure AI services", ResourceType="microsoft.cognitiveservices/accounts",
                               SkuMeter="Provisioned Managed Unit"),
}  # fmt: skip
"""A real-looking FOCUS row each rule of genai_rules.csv exists for."""

NOT_GENAI = [
    row("aws", "Amazon Elastic Compute Cloud", x_service_code="AmazonEC2", x_usage_type="USE1-BoxUsage:m5.large"),
    row("aws", "Amazon Simple Storage Service", x_service_code="AmazonS3", x_usage_type="USE1-DataTransfer-Out-Bytes"),
    row("aws", "Amazon SageMaker", x_service_code="AmazonSageMaker", x_usage_type="USE1-ml.m5.large-hours"),
    row("gcp", "Compute Engine", x_service_code="6F81-5844-456A", SkuMeter="N1 Predefined Instance Core"),
    row("azure", "Virtual Machines", x_service_code="microsoft.compute",
        ResourceType="Microsoft.Compute/virtualMachines"),
    row("azure", "Azure AI services", ResourceType="Microsoft.CognitiveServices/accounts",
        SkuMeter="S1 Speech To Text Audio Hours"),
    row("oci", "Generative AI", x_service_code="GENERATIVE_AI"),
    row("databricks", "Model Serving", x_service_code="SERVERLESS_REAL_TIME_INFERENCE"),
    row("datadog", "LLM Observability"),
]  # fmt: skip
"""Rows no rule may take: cloud services that are not GenAI, AI services without tokens, other providers."""


def test_every_genai_rule_has_a_case() -> None:
    assert sorted(GENAI_CASES) == sorted(r["rule_id"] for r in RULES)


@pytest.mark.parametrize("rule", RULES, ids=[r["rule_id"] for r in RULES])
def test_each_genai_rule_recognises_its_lines_and_only_its_providers(rule: dict[str, Any]) -> None:
    case = GENAI_CASES[rule["rule_id"]]
    elsewhere = {**case, "x_source_provider": "oci"}  # the same text in another provider's bill
    sql = "SELECT provider, service_description, list_last(system_labels).value FROM genai_dci"

    assert query([case, elsewhere], sql, with_rules([rule])) == [
        [case["x_source_provider"], case["ServiceName"], rule["rule_id"]]
    ]
    assert query(NOT_GENAI, sql, with_rules([rule])) == []


def test_the_rules_together_take_the_genai_lines_and_nothing_else() -> None:
    answer = query([*GENAI_CASES.values(), *NOT_GENAI], "SELECT service_description, cost FROM genai_dci")

    assert sorted(str(r[0]) for r in answer) == sorted(str(c["ServiceName"]) for c in GENAI_CASES.values())
    assert {r[1] for r in answer} == {"1"}  # BilledCost of each line, once (several matching rules add no row)


def test_the_demo_data_carries_a_cloud_genai_line(tmp_path: Path) -> None:
    """make demo's GCP month (cloudact_cli/demo.py) converts to FOCUS with one Vertex AI line in genai_dci."""
    export = tmp_path / "export.parquet"
    pq.write_table(pa.Table.from_pylist(gcp_demo_rows(GCP_MONTH), schema=NESTED_SCHEMA), export)
    result = convert_files("gcp", [export], tmp_path / "focus.parquet", memory_limit="256MB", threads=1)
    rows = pq.read_table(tmp_path / "focus.parquet").to_pylist()

    assert result.rows_quarantined == 0
    assert query(rows, "SELECT provider, service_description, sku_description, cost FROM genai_dci") == [
        ["gcp", "Vertex AI", "Online Prediction - Gemini 2.5 Pro Input Tokens", "1.5625"]
    ]


def test_each_provider_view_shows_the_rows_of_the_providers_seed_views_csv_names() -> None:
    providers = sorted({r["x_source_provider"] for r in SEED_VIEW_PROVIDERS} | {"oci", "openai"})
    rows = [row(p, f"service of {p}") for p in providers]

    for view in SEED_VIEWS[:-1]:
        expected = sorted(f"service of {r['x_source_provider']}" for r in SEED_VIEW_PROVIDERS if r["view_name"] == view)
        assert sorted(str(r[0]) for r in query(rows, f"SELECT service_description FROM {view}")) == expected, view
    assert query(rows, "SELECT service_description FROM genai_dci") == [["service of openai"]]


def test_a_provider_slug_changes_in_seed_views_csv_only() -> None:
    renamed = [
        {**r, "x_source_provider": "mongodb_atlas"} if r["view_name"] == "mongodb_dci" else r
        for r in SEED_VIEW_PROVIDERS
    ]
    references = {**dict(CATALOG.references), "ref_seed_views": pa.Table.from_pylist(renamed)}
    catalog = dataclasses.replace(CATALOG, references=tuple(references.items()))
    rows = [row("mongodb", "old slug"), row("mongodb_atlas", "Atlas Dedicated Cluster")]

    assert query(rows, "SELECT service_description FROM mongodb_dci", catalog) == [["Atlas Dedicated Cluster"]]


def test_gcp_dci_gives_system_labels_their_own_keys_and_reads_gke_labels() -> None:
    gke = row("gcp", "Kubernetes Engine", ResourceId="//container.googleapis.com/projects/p/zones/z/clusters/c",
              ResourceName="c", tags={"env": "prod", "goog-k8s-cluster-name": "prod-gke", "k8s-namespace": "web",
                                      "gcp:compute.googleapis.com/machine_spec": "e2-standard-4"})  # fmt: skip
    credit = row("gcp", "Compute Engine", "-0.5", ChargeCategory="Credit")

    answer = query(
        [gke, credit],
        "SELECT system_labels, kubernetes_cluster_name, kubernetes_namespace, resource_id, resource_global_id, "
        "cost, credits FROM gcp_dci ORDER BY cost DESC",
    )

    assert answer == [
        ['[{"key": "compute.googleapis.com/machine_spec", "value": "e2-standard-4"}]', "prod-gke", "web", "c",
         "//container.googleapis.com/projects/p/zones/z/clusters/c", "1", None],
        ["[]", None, None, None, None, "0", "-0.5"],
    ]  # fmt: skip


def test_the_saas_shape_nests_as_the_seed_does() -> None:
    databricks = row("databricks", "Jobs Compute", "3", effective="2", SubAccountId="ws-9",
                     InvoiceIssuerName="Databricks", ServiceProviderName="Databricks",
                     tags={"team": "data", "databricks:cluster_id": "c-1"})  # fmt: skip

    answer = query(
        [databricks],
        'SELECT usage_date_time, usage_start_time, "invoice.month", project.id, location.region, labels, '
        "system_labels, report.cost, report.savings, report.savings_description, etl[1].session_id, "
        "currency_conversion_rate, is_marketplace FROM snowflake_dci UNION ALL SELECT usage_date_time, "
        'usage_start_time, "invoice.month", project.id, location.region, labels, system_labels, report.cost, '
        "report.savings, report.savings_description, etl[1].session_id, currency_conversion_rate, is_marketplace "
        "FROM databricks_dci",
    )

    assert answer == [
        ["2025-01-10T00:00:00", "2025-01-10T00:00:00Z", "202501", "ws-9", None, '[{"key": "team", "value": "data"}]',
         '[{"key": "databricks:cluster_id", "value": "c-1"}]', "2", "4", "Discount from list price", "run-1", "1",
         "false"],
    ]  # fmt: skip


@pytest.mark.parametrize("path", sorted(VIEWS_DIR.glob("*.sql")), ids=lambda p: p.name)
def test_each_view_is_one_select_that_sqlglot_transpiles_to_bigquery(path: Path) -> None:
    statements = sqlglot.parse(path.read_text(), read="duckdb")

    assert len(statements) == 1 and isinstance(statements[0], sqlglot.exp.Select)
    assert sqlglot.transpile(path.read_text(), read="duckdb", write="bigquery", unsupported_level=ErrorLevel.RAISE)


def test_a_bad_rule_fails_at_load_not_on_a_query(tmp_path: Path) -> None:
    shutil.copytree(VIEWS_DIR, tmp_path / "views")
    rules = tmp_path / "views" / "genai_rules.csv"
    rules.write_text(rules.read_text() + "typo,aws,ServiceNmae,Amazon%,,,a misspelt column matches nothing\n")

    with pytest.raises(ValueError, match="typo"):
        load_catalog(tmp_path / "views")


def test_the_allow_lists_name_real_duckdb_functions() -> None:
    functions = duckdb.connect().execute("SELECT DISTINCT lower(function_name) FROM duckdb_functions()").fetchall()
    known = {str(r[0]) for r in functions}

    assert sorted(ALLOWED_FUNCTIONS - known) == []
    assert sorted(ALLOWED_TABLE_FUNCTIONS - known) == []


def test_an_everyday_analysis_query_passes_both_guards() -> None:
    sql = """
        WITH monthly AS (
            SELECT date_trunc('month', usage_start_time) AS month, service_description, sum(cost) AS cost,
                   count(*) FILTER (WHERE cost_type = 'Usage') AS lines
            FROM acme_prod.aws_dci
            WHERE usage_start_time >= TIMESTAMPTZ '2025-01-01' AND service_description ILIKE '%compute%'
            GROUP BY ALL
        )
        SELECT strftime(month, '%Y-%m') AS month, service_description, round(cost, 2) AS cost, lines,
               rank() OVER (PARTITION BY month ORDER BY cost DESC) AS place,
               coalesce(nullif(service_description, ''), 'unknown') AS name, cost::DECIMAL(18, 2) AS exact,
               EXTRACT(year FROM month) AS year, [1, 2][1] AS first, {'a': 1}.a AS a, month + INTERVAL 1 MONTH AS next
        FROM monthly
        UNION ALL
        SELECT NULL, l.key, NULL, NULL, NULL, l.value, NULL, NULL, NULL, NULL, NULL
        FROM gcp_dci, unnest(labels) AS u(l)
        ORDER BY 1 NULLS LAST
    """
    rows = [row("aws", "Amazon Elastic Compute Cloud", "10"), row("gcp", "Compute Engine", tags={"env": "prod"})]
    check_query(sql, "acme")

    assert query(rows, sql) == [
        ["2025-01", "Amazon Elastic Compute Cloud", "10", "1", "1", "Amazon Elastic Compute Cloud", "10.00", "2025",
         "1", "1", "2025-02-01T00:00:00Z"],
        [None, "env", None, None, None, "prod", None, None, None, None, None],
    ]  # fmt: skip
