"""Helpers for the end-to-end tests: deliveries in S3, credentials, pipeline calls, table reads."""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import grpc
import pyarrow as pa
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from cloudact_shared.gen.cloudact.credential.v1 import credential_service_pb2 as cred_pb
from cloudact_shared.gen.cloudact.credential.v1.credential_service_pb2_grpc import CredentialServiceStub
from cloudact_shared.gen.cloudact.pipeline.v1 import pipeline_service_pb2 as pipe_pb
from cloudact_shared.gen.cloudact.pipeline.v1.pipeline_service_pb2_grpc import PipelineServiceStub
from cloudact_shared.readiness import await_until
from cloudact_shared.settings import CloudactSettings
from cloudact_shared.storage.embedded import EmbeddedTableStore
from tests.channels import org_channel


@dataclass
class Delivery:
    bucket: str
    export_name: str
    prefix: str
    layout: str
    data_keys: list[str] = field(default_factory=list)


def put_legacy_delivery(
    s3: Any,
    bucket: str,
    export_name: str,
    csv_bytes: bytes,
    period: date,
    *,
    extra_manifest_keys: list[str] | None = None,
) -> Delivery:
    """Uploads one legacy CUR delivery (gzip CSV + period manifest) for ``period``."""
    end = date(period.year + period.month // 12, period.month % 12 + 1, 1)
    folder = f"legacy/{export_name}/{period:%Y%m%d}-{end:%Y%m%d}"
    key = f"{folder}/assembly-1/{export_name}-00001.csv.gz"
    s3.put_object(Bucket=bucket, Key=key, Body=gzip.compress(csv_bytes))
    keys = [key, *(extra_manifest_keys or [])]
    s3.put_object(Bucket=bucket, Key=f"{folder}/{export_name}-Manifest.json", Body=json.dumps({"reportKeys": keys}))
    return Delivery(bucket, export_name, "legacy", "legacy", keys)


async def create_credential(
    settings: CloudactSettings, org: str, delivery: Delivery, endpoint: str, provider: str = "aws"
) -> str:
    async with org_channel(settings, settings.credential_address, org, role="operator") as channel:
        response = await CredentialServiceStub(channel).CreateCredential(
            cred_pb.CreateCredentialRequest(
                org_slug=org,
                provider=provider,
                display_name=f"{delivery.export_name}-{provider}",
                secret={"aws_access_key_id": "testing", "aws_secret_access_key": "testing"},
                config={
                    "bucket": delivery.bucket,
                    "export_name": delivery.export_name,
                    "prefix": delivery.prefix,
                    "layout": delivery.layout,
                    "endpoint_url": endpoint,
                },
            ),
            timeout=10,
        )
    return str(response.credential.credential_id)


async def run_pipeline(
    settings: CloudactSettings, org: str, credential_id: str, period: date, provider: str = "aws"
) -> tuple[list[pipe_pb.ProgressEvent], pipe_pb.RunResult]:
    """Runs the pipeline over real gRPC; returns the progress events and the result."""
    request = pipe_pb.RunPipelineRequest(
        org_slug=org,
        provider=provider,
        credential_id=credential_id,
        billing_period=pipe_pb.BillingPeriod(year=period.year, month=period.month),
    )
    progress: list[pipe_pb.ProgressEvent] = []
    result = pipe_pb.RunResult()
    async with org_channel(settings, settings.ingest_address, org, role="operator") as channel:
        async for event in PipelineServiceStub(channel).RunPipeline(request, timeout=120):
            if event.HasField("progress"):
                progress.append(event.progress)
            else:
                result.CopyFrom(event.result)
    return progress, result


def pipeline_request(org: str, credential_id: str, period: date, provider: str = "aws") -> pipe_pb.RunPipelineRequest:
    return pipe_pb.RunPipelineRequest(
        org_slug=org,
        provider=provider,
        credential_id=credential_id,
        billing_period=pipe_pb.BillingPeriod(year=period.year, month=period.month),
    )


async def run_pipeline_until_error(
    settings: CloudactSettings, org: str, credential_id: str, period: date
) -> tuple[list[pipe_pb.ProgressEvent], grpc.aio.AioRpcError]:
    """Runs a pipeline that is expected to fail; returns the progress it streamed and the error."""
    progress: list[pipe_pb.ProgressEvent] = []
    async with org_channel(settings, settings.ingest_address, org, role="operator") as channel:
        try:
            async for event in PipelineServiceStub(channel).RunPipeline(
                pipeline_request(org, credential_id, period), timeout=120
            ):
                progress.append(event.progress)
        except grpc.aio.AioRpcError as err:
            return progress, err
    raise AssertionError("the run succeeded")


async def get_run(settings: CloudactSettings, org: str, run_id: str) -> pipe_pb.Run:
    async with org_channel(settings, settings.ingest_address, org, role="viewer") as channel:
        response: pipe_pb.GetRunResponse = await PipelineServiceStub(channel).GetRun(
            pipe_pb.GetRunRequest(org_slug=org, run_id=run_id), timeout=10
        )
    return response.run


async def list_runs(settings: CloudactSettings, org: str, **fields: Any) -> pipe_pb.ListRunsResponse:
    async with org_channel(settings, settings.ingest_address, org, role="viewer") as channel:
        response: pipe_pb.ListRunsResponse = await PipelineServiceStub(channel).ListRuns(
            pipe_pb.ListRunsRequest(org_slug=org, **fields), timeout=10
        )
    return response


async def wait_for_run(
    settings: CloudactSettings, org: str, run_id: str, done: Callable[[pipe_pb.Run], bool], timeout: float = 60
) -> pipe_pb.Run:
    """Polls GetRun until ``done(run)``; fails after ``timeout`` seconds."""

    async def finished() -> pipe_pb.Run | None:
        run = await get_run(settings, org, run_id)
        return run if done(run) else None

    return await await_until(finished, what=f"run {run_id}", timeout=timeout, interval=0.2)


def read_table(settings: CloudactSettings, org: str, table: str) -> pa.Table:
    return EmbeddedTableStore(settings.data_dir).scan(f"{org}_prod", table).to_table()


def table_version(settings: CloudactSettings, org: str, table: str) -> int | None:
    return EmbeddedTableStore(settings.data_dir).version(f"{org}_prod", table)


def error_reason(err: grpc.aio.AioRpcError) -> str:
    """The ErrorInfo reason of a rich error status."""
    status = rpc_status.from_call(err)
    assert status is not None, "the error carries no google.rpc.Status"
    for detail in status.details:
        info = error_details_pb2.ErrorInfo()
        if detail.Is(info.DESCRIPTOR) and detail.Unpack(info):
            return str(info.reason)
    raise AssertionError("no ErrorInfo detail")


def legacy_sample_bytes(path: Path) -> bytes:
    return path.read_bytes()
