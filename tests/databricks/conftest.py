"""Databricks helpers: a loopback workspace over generated system tables, and the raw and FOCUS rows of a download."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest

from cloudact_cli.convert import convert_files
from cloudact_providers.connector import ResolvedCredential
from cloudact_providers.databricks.connector import DatabricksBillingConnector
from cloudact_providers.databricks.loopback import WAREHOUSE_ID, DatabricksApi
from cloudact_providers.databricks.warehouse import CATALOG, SystemTables
from cloudact_providers.loopback import Running, serving
from tests.rawrows import raw_rows as shared_raw_rows

TOKEN = "dapi-S3cr3t-CANARY-0c5f1d9e7b2e4a61"
CLIENT_ID = "7c1d1e7a-5b1e-4c8f-9d0e-2f3a4b5c6d7e"
CLIENT_SECRET = "dose-S3cr3t-CANARY-4a61b2e7"
"""Secrets no message, row or repr may ever show."""
JAN, FEB, MAR = date(2026, 1, 1), date(2026, 2, 1), date(2026, 3, 1)


@dataclass
class Workspace:
    """The loopback workspace's server state, where it listens, and credentials for it."""

    server: DatabricksApi
    running: Running

    @property
    def tables(self) -> SystemTables:
        return self.server.tables

    def credential(self, secret: dict[str, str] | None = None, **config: str) -> ResolvedCredential:
        settings = {"host": self.running.url, "warehouse_id": WAREHOUSE_ID, "retry_seconds": "20", **config}
        return ResolvedCredential("cred-databricks", "databricks", settings, secret or {"token": TOKEN})

    def statements_sent(self) -> list[dict[str, Any]]:
        """The bodies of the execute requests seen, in order."""
        return [json.loads(seen.body) for seen in self.server.api.requests_to(r"/api/2\.0/sql/statements/?")]


@pytest.fixture
def tables() -> Iterator[SystemTables]:
    warehouse = SystemTables()
    try:
        yield warehouse
    finally:
        warehouse.close()


@pytest.fixture
def workspace(tables: SystemTables) -> Iterator[Workspace]:
    server = DatabricksApi(tables, token=TOKEN, clients={CLIENT_ID: CLIENT_SECRET}, rows_per_chunk=500)
    with serving(server.api) as running:
        yield Workspace(server, running)


async def download_months(
    credential: ResolvedCredential, periods: list[date], work: Path, **options: Any
) -> dict[date, Path]:
    """One run of the connector: list, then download each month as the pipeline does."""
    files: dict[date, Path] = {}
    await asyncio.to_thread(work.mkdir, parents=True, exist_ok=True)
    async with DatabricksBillingConnector(credential, **options) as source:
        for index, obj in enumerate(await source.list_objects(periods)):
            dest = work / f"{index:05d}-{Path(obj.key).name}"
            await source.download(obj, dest)
            files[obj.billing_period] = dest
    return files


def raw_rows(path: Path, source_object: str = "databricks-test") -> list[dict[str, Any]]:
    """The rows ``build_raw_select`` makes of one file (a fixed lineage)."""
    return shared_raw_rows("databricks", path, source_object)


def focus_rows(path: Path, work: Path) -> list[dict[str, Any]]:
    """The FOCUS rows ``cloudact convert --provider databricks`` makes of one download."""
    output = work / f"{path.stem}.focus.parquet"
    convert_files("databricks", [path], output, threads=2)
    cursor = duckdb.connect().execute(f"SELECT * FROM read_parquet('{output}')")
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def add_price(
    tables: SystemTables,
    sku: str,
    start: datetime,
    end: datetime | None,
    default: str,
    *,
    effective: str | None = None,
    promotional: str | None = None,
    currency: str = "USD",
    cloud: str = "AWS",
    unit: str = "DBU",
) -> None:
    """One row of ``system.billing.list_prices``."""
    pricing = {"default": default, "promotional": {"default": promotional}, "effective_list": {"default": effective}}
    tables.con.execute(
        f"INSERT INTO {CATALOG}.billing.list_prices VALUES (?, ?, 'acct-1', ?, ?, ?, ?, ?)",
        [start, end, sku, cloud, currency, unit, pricing],
    )


def add_usage(
    tables: SystemTables,
    record_id: str,
    sku: str,
    start: datetime,
    quantity: str,
    *,
    record_type: str = "ORIGINAL",
    ingested: date | None = None,
    cloud: str = "AWS",
    product: str = "JOBS",
    unit: str = "DBU",
    tags: dict[str, str] | None = None,
) -> None:
    """One record of ``system.billing.usage`` (an hour from ``start``), its job's metadata filled in."""
    tables.con.execute(
        f"""INSERT INTO {CATALOG}.billing.usage VALUES (
            $id, 'acct-1', '1234567890123456', $sku, $cloud, $start, $end, CAST($start AS DATE),
            $tags, $unit, CAST($quantity AS DECIMAL(38, 18)),
            {{'cluster_id': '0115-093000-abcd', 'job_id': '1001', 'job_run_id': '9', 'warehouse_id': NULL,
              'instance_pool_id': NULL, 'node_type': 'i3.xlarge', 'notebook_id': NULL, 'dlt_pipeline_id': NULL,
              'endpoint_name': NULL, 'endpoint_id': NULL}},
            {{'run_as': 'svc@example.com', 'owned_by': NULL, 'created_by': NULL}},
            $type, $ingested, $product,
            {{'is_serverless': false, 'is_photon': false, 'sql_tier': NULL, 'jobs_tier': 'CLASSIC',
              'serving_type': NULL}},
            'COMPUTE_TIME')""",
        {
            "id": record_id,
            "sku": sku,
            "cloud": cloud,
            "start": start,
            "end": start + timedelta(hours=1),
            "tags": tags,
            "unit": unit,
            "quantity": quantity,
            "type": record_type,
            "ingested": ingested or start.date(),
            "product": product,
        },
    )


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)
