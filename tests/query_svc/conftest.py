"""Fixtures for query_svc: a small hand-made FOCUS table and a real server on loopback."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator, Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import grpc
import pyarrow as pa
import pytest

from cloudact_shared.gen.cloudact.query.v1 import query_service_pb2_grpc as pb_grpc
from cloudact_shared.settings import CloudactSettings
from cloudact_shared.storage import load_schema
from cloudact_shared.storage.embedded import EmbeddedTableStore
import sys; print("SP", sys.path[:4])
from query_svc.server import build

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
        "ListCost": cost * 2,
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


@pytest.fixture(scope="module")
def shared_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedTableStore]:
    """A read-only table shared by the tests of a module (written once)."""
    store = EmbeddedTableStore(tmp_path_factory.mktemp("lake"))
    write_focus(store, acme_rows())
    yield store


@pytest.fixture
def own_store(tmp_path: Path) -> EmbeddedTableStore:
    """A table of the test's own, for tests that write to it."""
    store = EmbeddedTableStore(tmp_path)
    write_focus(store, acme_rows())
    return store


async def _serve(store: EmbeddedTableStore, data_dir: Path) -> AsyncIterator[pb_grpc.QueryServiceStub]:
    built = await build(CloudactSettings(data_dir=data_dir), address="127.0.0.1:0", store=store)
    await built.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{built.port}") as channel:
            yield pb_grpc.QueryServiceStub(channel)
    finally:
        await built.stop()


@pytest.fixture
async def stub(shared_store: EmbeddedTableStore, tmp_path: Path) -> AsyncIterator[pb_grpc.QueryServiceStub]:
    """A client of a real query_svc over the shared table."""
    async for client in _serve(shared_store, tmp_path):
        yield client


@pytest.fixture
async def own_stub(own_store: EmbeddedTableStore, tmp_path: Path) -> AsyncIterator[pb_grpc.QueryServiceStub]:
    """A client of a real query_svc over the test's own table."""
    async for client in _serve(own_store, tmp_path):
        yield client
