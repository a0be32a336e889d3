"""What callers send, parsed once at the edge: credential id spellings and dates far from today."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from typing import Any

import grpc
import pytest

from cloudact_shared.gen.cloudact.pipeline.v1 import pipeline_service_pb2 as pipe_pb
from cloudact_shared.gen.cloudact.pipeline.v1.pipeline_service_pb2_grpc import PipelineServiceStub
from cloudact_shared.gen.cloudact.query.v1 import query_service_pb2 as query_pb
from cloudact_shared.gen.cloudact.query.v1.query_service_pb2_grpc import QueryServiceStub
from cloudact_shared.settings import CloudactSettings
from tests.channels import org_channel
from tests.conftest import LEGACY_CUR_SAMPLE, Services
from tests.e2e.helpers import create_credential, list_runs, put_legacy_delivery, read_table, run_pipeline

ORG = "acme"
NOV_2023 = date(2023, 11, 1)
RAW = "cloud_aws_billing_raw_daily"
FOCUS = "cost_data_standard_1_3"
SPELLINGS: dict[str, Callable[[str], str]] = {
    "upper_case": str.upper,
    "no_hyphens": lambda cid: cid.replace("-", ""),
    "urn_uuid": lambda cid: f"urn:uuid:{cid}",
}


@pytest.fixture
async def credential(services: Services, s3_client: Any, s3_endpoint: str, request: pytest.FixtureRequest) -> str:
    """A credential (canonical id) reading the legacy CUR sample for November 2023."""
    bucket = f"edges-{abs(hash(request.node.name)) % 10**8}"
    s3_client.create_bucket(Bucket=bucket)
    delivery = put_legacy_delivery(s3_client, bucket, "legacy-cur", LEGACY_CUR_SAMPLE.read_bytes(), NOV_2023)
    return await create_credential(services.settings, ORG, delivery, s3_endpoint)


async def _billed(settings: CloudactSettings) -> Decimal:
    async with org_channel(settings, settings.query_address, ORG, role="viewer") as channel:
        answer = await QueryServiceStub(channel).QueryCosts(
            query_pb.QueryCostsRequest(
                org_slug=ORG,
                start_date="2023-11-01",
                end_date="2023-11-30",
                metrics=[query_pb.COST_METRIC_BILLED_COST],
                grain=query_pb.TIME_GRAIN_TOTAL,
            ),
            timeout=30,
        )
    return sum((Decimal(row.amounts["BilledCost"]) for row in answer.rows), Decimal(0))


def _assert_one_slice(settings: CloudactSettings, credential_id: str, run_id: str) -> None:
    for table in (RAW, FOCUS):
        rows = read_table(settings, ORG, table)
        assert rows.num_rows == 1281, table
        assert set(rows.column("x_credential_id").to_pylist()) == {credential_id}, table
        assert set(rows.column("x_run_id").to_pylist()) == {run_id}, table


@pytest.mark.parametrize("spelling", sorted(SPELLINGS))
async def test_another_spelling_of_the_credential_id_replaces_the_same_slice(
    services: Services, credential: str, spelling: str
) -> None:
    _, first = await run_pipeline(services.settings, ORG, credential, NOV_2023)
    billed = await _billed(services.settings)

    _, again = await run_pipeline(services.settings, ORG, SPELLINGS[spelling](credential), NOV_2023)

    assert again.lineage.credential_id == credential
    _assert_one_slice(services.settings, credential, again.lineage.run_id)
    assert await _billed(services.settings) == billed
    # The run log and its credential filter know one spelling too.
    listed = await list_runs(services.settings, ORG, credential_id=SPELLINGS[spelling](credential))
    assert [r.run_id for r in listed.runs] == [again.lineage.run_id, first.lineage.run_id]
    assert {r.credential_id for r in listed.runs} == {credential}


async def test_two_spellings_at_once_share_one_lock_and_one_slice(services: Services, credential: str) -> None:
    runs = [run_pipeline(services.settings, ORG, SPELLINGS[s](credential), NOV_2023) for s in sorted(SPELLINGS)]

    results = [result for _, result in await asyncio.gather(*runs)]

    run_ids = {r.lineage.run_id for r in results}
    assert len(run_ids) == 3 and {r.lineage.credential_id for r in results} == {credential}
    in_tables = {}
    for table in (RAW, FOCUS):
        rows = read_table(services.settings, ORG, table)
        assert rows.num_rows == 1281, table
        assert set(rows.column("x_credential_id").to_pylist()) == {credential}
        in_tables[table] = set(rows.column("x_run_id").to_pylist())
    # One run's slice, in both tables: the runs took turns instead of writing over each other.
    assert len(in_tables[RAW]) == 1 and in_tables[RAW] == in_tables[FOCUS] and in_tables[RAW] <= run_ids


async def test_a_credential_id_that_is_not_a_uuid_is_invalid_and_starts_no_run(services: Services) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await run_pipeline(services.settings, ORG, "57175a76-not-a-uuid", NOV_2023)

    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert not (await list_runs(services.settings, ORG)).runs


@pytest.mark.parametrize(
    ("start", "end"),
    [
        ("9999-12-01", "9999-12-31"),
        ("9999-12-31", "9999-12-31"),
        ("2025-01-01", "9999-12-31"),
        ("0001-01-01", "0001-01-31"),
        ("2101-01-01", "2101-01-31"),
    ],
)
async def test_run_pipeline_dates_outside_2000_2100_are_invalid_argument(
    services: Services, credential: str, start: str, end: str
) -> None:
    request = pipe_pb.RunPipelineRequest(
        org_slug=ORG,
        provider="aws",
        credential_id=credential,
        date_range=pipe_pb.DateRange(start_date=start, end_date=end),
    )
    async with org_channel(services.settings, services.settings.ingest_address, ORG, role="operator") as channel:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            async for _ in PipelineServiceStub(channel).RunPipeline(request, timeout=30):
                pass

    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT, caught.value.details()
    assert "date_range" in (caught.value.details() or "")
    assert not (await list_runs(services.settings, ORG)).runs
