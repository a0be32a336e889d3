"""A small hand-made FOCUS table for the query_svc tests."""

from __future__ import annotations

import json
import random
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, localcontext
from typing import Any

import pyarrow as pa

from cloudact_shared.storage import load_schema
from cloudact_shared.storage.embedded import EmbeddedTableStore

ORG = "acme"
DATASET = f"{ORG}_prod"
BIG = "12345678901234567890.123456789012"


def focus_row(
    start: str,
    service: str,
    currency: str,
    billed: str,
    *,
    effective: str | None = None,
    tags: Mapping[str, object] | None = None,
    region: str | None = None,
    provider: str = "aws",
) -> dict[str, Any]:
    """One FOCUS row with every required column set; costs are exact decimals."""
    begins = datetime.fromisoformat(start).replace(tzinfo=UTC)
    month = begins.replace(day=1, hour=0, minute=0, second=0)
    cost = Decimal(billed)
    return {
        "BilledCost": cost,
        "EffectiveCost": Decimal(effective) if effective is not None else cost,
        "ListCost": _double(cost),
        "ContractedCost": cost,
        "BillingAccountId": "111122223333",
        "BillingAccountType": "Account",
        "BillingCurrency": currency,
        "BillingPeriodStart": month,
        "BillingPeriodEnd": month.replace(month=month.month % 12 + 1, year=month.year + month.month // 12),
        "ChargeCategory": "Usage",
        "ChargeFrequency": "Usage-Based",
        "ChargePeriodStart": begins,
        "ChargePeriodEnd": begins,
        "InvoiceIssuerName": "Amazon Web Services",
        "ProviderName": "AWS",
        "PublisherName": "AWS",
        "ServiceCategory": "Compute" if service == "EC2" else "Storage",
        "ServiceName": service,
        "ServiceProviderName": "AWS",
        "ServiceSubcategory": "Virtual Machines" if service == "EC2" else "Object Storage",
        "RegionId": region,
        "RegionName": region,
        "Tags": json.dumps(tags) if tags is not None else None,
        "x_source_provider": provider,
        "x_pipeline_id": f"{provider}-cost",
        "x_credential_id": f"cred-{provider}",
        "x_run_id": "run-1",
        "x_ingested_at": datetime(2025, 3, 2, tzinfo=UTC),
        "x_pipeline_run_date": date(2025, 3, 2),
    }


def acme_rows() -> list[dict[str, Any]]:
    """Two months (plus one row either side), two services, two currencies, tags and nulls."""
    return [
        focus_row("2025-01-05T00:00:00", "EC2", "USD", "0.1", effective="0.09",
                  tags={"team": "core", "env": "prod"}, region="us-east-1"),
        focus_row("2025-01-05T13:00:00", "EC2", "USD", "0.2", effective="0.18", tags={"team": "core"}),
        focus_row("2025-01-05T08:00:00", "S3", "USD", BIG, effective="1",
                  tags={"team": "data", "aws:createdBy": "alice"}),
        focus_row("2025-01-20T00:00:00", "EC2", "EUR", "5.5", effective="5"),
        focus_row("2025-02-01T00:00:00", "EC2", "USD", "20", effective="18", tags={"team": "core"}),
        focus_row("2025-02-28T23:59:59", "S3", "USD", "1.25", tags={"env": "dev"}),
        focus_row("2025-03-01T00:00:00", "EC2", "USD", "1000"),
        focus_row("2024-12-31T23:59:59", "EC2", "USD", "500"),
    ]  # fmt: skip


def write_focus(store: EmbeddedTableStore, rows: list[dict[str, Any]], provider: str = "aws") -> int:
    """Replaces the provider's slice of acme's FOCUS table; returns the new table version."""
    schema = load_schema("cost_data_standard_1_3")
    table = pa.Table.from_pylist(rows, schema=schema.arrow_schema())
    return store.replace_slice(DATASET, schema, {"x_source_provider": provider}, table.to_reader())


def _double(value: Decimal) -> Decimal:
    with localcontext() as exact:
        exact.prec = 76  # the default 28 digits would round DECIMAL(38,12) values
        return value * 2


def varied_rows(count: int, seed: int = 7, provider: str = "aws") -> list[dict[str, Any]]:
    """``count`` rows over Dec 2024..Mar 2025 at any hour: several services, regions (some null or
    ""), accounts, currencies, charge categories and tag sets, with costs of up to 12 decimals."""
    pick = random.Random(seed)
    tag_sets: list[dict[str, object] | None] = [
        None, {}, {"team": "core"}, {"team": "core", "env": "prod"}, {"team": "data", "env": "dev"},
        {"team": ""}, {"env": "prod", "aws:createdBy": "alice"}, {"team": "web", "cost.center": 42},
    ]  # fmt: skip
    rows = []
    for _ in range(count):
        start = datetime(2024, 12, 1, tzinfo=UTC) + timedelta(hours=pick.randrange(24 * 120))
        row = focus_row(
            start.replace(tzinfo=None).isoformat(),
            pick.choice(["EC2", "S3", "RDS", "Lambda", ""]),
            pick.choice(["USD", "USD", "EUR"]),
            str(Decimal(pick.randrange(-(10**6), 10**9)).scaleb(-pick.randrange(0, 13))),
            effective=f"{pick.randrange(0, 10**8)}.{pick.randrange(10**12):012d}",
            tags=pick.choice(tag_sets),
            region=pick.choice(["us-east-1", "eu-west-1", "", None]),
            provider=provider,
        )
        row["SubAccountId"] = pick.choice(["a1", "a2", "a3", None])
        row["ChargeCategory"] = pick.choice(["Usage", "Usage", "Purchase", "Tax", "Credit"])
        row["ResourceId"] = f"r-{pick.randrange(50)}"
        rows.append(row)
    return rows
