"""Synthetic DataHub cost events at any size, for tests, the demo and benchmarks.

One template per kind of event a DataHub feed carries: the seed's own example (a Compute Engine core
hour on GCP, with its project, labels, system labels and a metric), a Snowflake warehouse, a MongoDB
Atlas cluster, a day of Datadog hosts (a date-only usage time: a day's usage), OpenAI tokens, and a
Snowflake credit (cost_type Credit, negative). Copies of the mix get their own event_id and usage hour
within the month; the same arguments give the same events, and the same bytes.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Final

_ACCOUNT = "AB-12345-CDEFG"

TEMPLATES: Final[tuple[dict[str, object], ...]] = (
    {
        "cloud": "GCP",
        "billing_account_id": _ACCOUNT,
        "service_description": "Compute Engine",
        "service_id": "6F81-5844-456A",
        "sku_description": "N1 Predefined Instance Core running in Americas",
        "sku_id": "B53E-74B8-60C9",
        "operation": "COMPUTE_INSTANCE_RUNNING",
        "project_id": "123456789012",
        "project_name": "Data Analytics",
        "project_number": "project-1234",
        "project_labels": [{"key": "Data-Tier", "value": "Gold"}],
        "labels": [{"key": "team", "value": "frontend"}],
        "system_labels": [{"key": "cloud.region", "value": "us-central1"}],
        "country": "US",
        "region": "us-central1",
        "zone": "us-central1-a",
        "resource_id": "0123456789012345678",
        "resource_global_id": "gcp-us-central1-12345",
        "pricing_unit": "hour",
        "cost_type": "Usage",
        "is_marketplace": False,
        "metrics": [{"key": "cpu_utilization", "value": 45.2}],
        "source": "gcp.compute.us-central1-a",
        "batch": "batch_size: 500",
        "cost": "0.031611",
        "currency": "USD",
        "usage_amount": "1",
    },
    {
        "cloud": "Snowflake",
        "billing_account_id": "SF-ACME-01",
        "service_description": "Snowflake Warehouse",
        "service_id": "WAREHOUSE_METERING",
        "sku_description": "Virtual Warehouse X-Small",
        "sku_id": "WH-XS",
        "operation": "COMPUTE_QUERY_EXECUTION",
        "project_id": "analytics",
        "project_name": "Analytics account",
        "labels": [{"key": "team", "value": "data"}, {"key": "env", "value": "prod"}],
        "region": "aws_us_east_1",
        "resource_id": "wh-prod-analytics-01",
        "pricing_unit": "credits",
        "metrics": [{"key": "queries", "value": 1240}],
        "source": "snowflake.account_usage",
        "cost": "6.00",
        "currency": "USD",
        "usage_amount": "2",
    },
    {
        "cloud": "MongoDB Atlas",
        "billing_account_id": "atlas-org-5f1e",
        "service_description": "Atlas Cluster",
        "service_id": "ATLAS_AWS_INSTANCE_M30",
        "sku_description": "M30 cluster instance",
        "sku_id": "ATLAS_AWS_INSTANCE_M30",
        "project_id": "64b7f0c2e1",
        "project_name": "orders",
        "labels": [{"key": "team", "value": "backend"}],
        "region": "eu-west-1",
        "resource_id": "orders-prod",
        "pricing_unit": "hours",
        "cost": "0.54",
        "currency": "USD",
        "usage_amount": "1",
    },
    {
        "cloud": "Datadog",
        "billing_account_id": "dd-acme",
        "service_description": "Infrastructure Monitoring",
        "service_id": "infra_hosts",
        "sku_description": "Infrastructure Pro host",
        "pricing_unit": "hosts",
        "labels": [{"key": "team", "value": "platform"}],
        "cost": "15.00",
        "currency": "USD",
        "usage_amount": "12",
    },
    {
        "cloud": "OpenAI",
        "billing_account_id": "org-acme",
        "service_description": "Chat Completions",
        "service_id": "chat.completions",
        "sku_description": "gpt-4o input tokens",
        "sku_id": "gpt-4o-input",
        "project_id": "proj_support_bot",
        "project_name": "support bot",
        "pricing_unit": "tokens",
        "cost": "0.3125",
        "currency": "USD",
        "usage_amount": "125000",
    },
    {
        "cloud": "Snowflake",
        "billing_account_id": "SF-ACME-01",
        "service_description": "Snowflake Warehouse",
        "service_id": "WAREHOUSE_METERING",
        "sku_description": "Promotional credit",
        "project_id": "analytics",
        "project_name": "Analytics account",
        "cost_type": "Credit",
        "cost": "-1.25",
        "currency": "USD",
    },
)
"""One invented event per kind (no event_id or usage time: each copy gets its own)."""

_DAILY = frozenset({3})
"""Templates reported per day (a date-only usage time)."""


def events(count: int, month: date = date(2025, 1, 1), prefix: str = "evt") -> list[dict[str, object]]:
    """``count`` events of ``month``: the templates in turn, each with its own event_id and usage time."""
    made = []
    for n in range(count):
        kind = n % len(TEMPLATES)
        day, hour = 1 + (n // len(TEMPLATES)) % 28, (n * 7) % 24
        when = f"{month:%Y-%m}-{day:02d}"
        usage = when if kind in _DAILY else f"{when}T{hour:02d}:00:00Z"
        made.append({"event_id": f"{prefix}-{n:08d}", **TEMPLATES[kind], "usage_date_time": usage})
    return made


def generate(directory: Path, rows: int) -> Path:
    """Events of January 2025 as newline-delimited JSON (the provider's ``SyntheticGenerator``)."""
    path = directory / f"datahub-events-{rows}.jsonl"
    with path.open("w", encoding="utf-8") as handle:
        for event in events(rows):
            handle.write(json.dumps(event, ensure_ascii=False, separators=(",", ":")) + "\n")
    return path
