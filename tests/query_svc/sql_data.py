"""FOCUS rows for the ExecuteSql and seed-view tests: several providers, GenAI lines, and a second org."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal
from typing import Any

import pyarrow as pa

from cloudact_shared.naming import FOCUS_TABLE
from cloudact_shared.storage import load_schema
from cloudact_shared.storage.embedded import EmbeddedTableStore
from tests.query_svc.focus_data import focus_row

OTHER_ORG = "globex"
OTHER_SECRET = "GLOBEX-ONLY-SERVICE"
"""A ServiceName only the other org's table holds: no answer to acme may ever show it."""


def row(provider: str, service: str, billed: str = "1", **columns: Any) -> dict[str, Any]:
    """A FOCUS row of ``provider`` in January 2025; ``columns`` set any other FOCUS column."""
    tags = columns.pop("tags", None)
    effective = columns.pop("effective", None)
    values = focus_row("2025-01-10T00:00:00", service, "USD", billed, effective=effective, tags=tags, provider=provider)
    values.update(columns)
    return values


def acme_rows() -> list[dict[str, Any]]:
    """What acme's FOCUS table holds: cloud rows, SaaS rows, and GenAI lines inside and outside the cloud bills."""
    return [
        row("aws", "Amazon Elastic Compute Cloud", "10", effective="8", x_service_code="AmazonEC2",
            SkuId="SKU-EC2", SkuMeter="USE1-BoxUsage:m5.large", ChargeDescription="m5.large Linux",
            SubAccountId="123456789012", SubAccountName="prod", RegionId="us-east-1", AvailabilityZone="us-east-1a",
            ConsumedQuantity=Decimal(2), PricingQuantity=Decimal(2), tags={"team": "core", "aws:createdBy": "alice"}),
        row("aws", "Amazon Elastic Compute Cloud", "-1.5", ChargeCategory="Credit", x_service_code="AmazonEC2",
            ChargeDescription="Promotional credit"),
        row("aws", "Amazon Bedrock", "2.25", x_service_code="AmazonBedrock",
            x_usage_type="USE1-Nova-Pro-input-tokens", ConsumedQuantity=Decimal(900000), ConsumedUnit="Tokens"),
        row("aws", "Claude Sonnet 4.6 (Amazon Bedrock Edition)", "3.5", x_service_code="7zgyu5r4abcd",
            x_usage_type="USE1-Claude4.6Sonnet-output-tokens"),
        row("gcp", "Compute Engine", "4", x_service_code="6F81-5844-456A", SubAccountId="acme-p1",
            ResourceId="//compute.googleapis.com/projects/acme-p1/zones/us-central1-a/instances/vm-1",
            ResourceName="vm-1",
            tags={"env": "prod", "goog-k8s-cluster-name": "prod-gke", "k8s-namespace": "web",
                  "gcp:compute.googleapis.com/machine_spec": "n1-standard-1"}),
        row("gcp", "Vertex AI", "1.5625", x_service_code="C7E2-9256-1C43",
            SkuMeter="Online Prediction - Gemini 2.5 Pro Input Tokens"),
        row("azure", "Virtual Machines", "6", x_service_code="microsoft.compute",
            ResourceType="Microsoft.Compute/virtualMachines", tags={"CostCenter": "CC1001"}),
        row("azure", "Azure OpenAI", "0.75", x_service_code="microsoft.cognitiveservices",
            ResourceType="Microsoft.CognitiveServices/accounts", SkuMeter="gpt 4o 0806 Inp glbl 1K Tokens"),
        row("databricks", "Databricks SQL Warehouse Compute", "12", effective="9", x_service_code="SQL",
            SubAccountId="ws-1", InvoiceIssuerName="Databricks", ServiceProviderName="Databricks",
            tags={"team": "data", "databricks:cluster_id": "c-1"}),
        row("openai", "OpenAI API", "5", x_service_code="gpt-4o", ConsumedUnit="Tokens",
            ConsumedQuantity=Decimal(100000)),
        row("datahub", "DataHub Ingestion", "0"),
    ]  # fmt: skip


def globex_rows() -> list[dict[str, Any]]:
    """The other org's table: never visible to acme."""
    return [row("aws", OTHER_SECRET, "999")]


def write_org(store: EmbeddedTableStore, org: str, rows: list[dict[str, Any]]) -> int:
    """Writes ``rows`` into ``org``'s FOCUS table, one slice per provider; returns the last version."""
    schema = load_schema(FOCUS_TABLE)
    by_provider: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for values in rows:
        by_provider[values["x_source_provider"]].append(values)
    version = 0
    for provider, provider_rows in by_provider.items():
        table = pa.Table.from_pylist(provider_rows, schema=schema.arrow_schema())
        version = store.replace_slice(f"{org}_prod", schema, {"x_source_provider": provider}, table.to_reader())
    return version
