"""PipelineService.StartRun (the unary start behind the HTTP route): RunPipeline's rules, an answer as
soon as the run is recorded, and a run that finishes without anyone watching it."""

from __future__ import annotations

from datetime import date
from typing import Any

import grpc
import pytest

from cloudact_shared.gen.cloudact.pipeline.v1 import pipeline_service_pb2 as pipe_pb
from cloudact_shared.gen.cloudact.pipeline.v1.pipeline_service_pb2_grpc import PipelineServiceStub
from tests.channels import org_channel
from tests.conftest import LEGACY_CUR_SAMPLE, Services
from tests.e2e.helpers import create_credential, error_reason, put_legacy_delivery, read_table, wait_for_run

ORG = "acme"
NOV_2023 = date(2023, 11, 1)


def _request(credential_id: str, **fields: Any) -> pipe_pb.StartRunRequest:
    return pipe_pb.StartRunRequest(
        org_slug=ORG,
        provider="aws",
        domain="cost",
        pipeline="billing",
        credential_id=credential_id,
        billing_period=pipe_pb.BillingPeriod(year=NOV_2023.year, month=NOV_2023.month),
        **fields,
    )


async def test_start_run_returns_the_recorded_run_which_then_finishes(
    services: Services, s3_client: Any, s3_endpoint: str
) -> None:
    s3_client.create_bucket(Bucket="start-run")
    delivery = put_legacy_delivery(s3_client, "start-run", "legacy-cur", LEGACY_CUR_SAMPLE.read_bytes(), NOV_2023)
    credential_id = await create_credential(services.settings, ORG, delivery, s3_endpoint)
    settings = services.settings
    async with org_channel(settings, settings.ingest_address, ORG, role="operator") as channel:
        # A short call deadline: the run must not inherit it (it outlives the call).
        response = await PipelineServiceStub(channel).StartRun(_request(credential_id.upper()), timeout=5)
    assert response.run.run_id == response.run_id
    assert response.run.credential_id == credential_id  # canonical spelling, as RunPipeline records it
    assert response.run.billing_periods == ["2023-11"]
    assert response.run.status in (pipe_pb.RUN_STATUS_RUNNING, pipe_pb.RUN_STATUS_SUCCEEDED)

    run = await wait_for_run(settings, ORG, response.run_id, lambda r: r.status != pipe_pb.RUN_STATUS_RUNNING)
    assert run.status == pipe_pb.RUN_STATUS_SUCCEEDED, run.error
    assert run.focus_rows_written == 1281
    assert set(read_table(settings, ORG, "cost_data_standard_1_3").column("x_run_id").to_pylist()) == {response.run_id}


@pytest.mark.parametrize(
    ("role", "org", "code"),
    [("viewer", ORG, grpc.StatusCode.PERMISSION_DENIED), ("operator", "globex", grpc.StatusCode.PERMISSION_DENIED)],
)
async def test_start_run_needs_an_operator_of_the_org(services: Services, role: str, org: str, code: Any) -> None:
    settings = services.settings
    async with org_channel(settings, settings.ingest_address, org, role=role) as channel:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await PipelineServiceStub(channel).StartRun(_request("00000000-0000-4000-8000-000000000001"), timeout=5)
    assert caught.value.code() == code


async def test_a_bad_start_records_nothing(services: Services) -> None:
    settings = services.settings
    async with org_channel(settings, settings.ingest_address, ORG, role="operator") as channel:
        stub = PipelineServiceStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.StartRun(_request("not-a-uuid"), timeout=5)
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert error_reason(caught.value) == "INVALID_CREDENTIAL_ID"
        runs = await stub.ListRuns(pipe_pb.ListRunsRequest(org_slug=ORG), timeout=5)
    assert list(runs.runs) == []
