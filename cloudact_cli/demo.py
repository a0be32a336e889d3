"""``make demo``: the whole system end to end on the embedded default, on one machine.

Starts an S3 endpoint (moto) on loopback holding the legacy CUR sample and a generated CUR 2.0
month, starts the four services, stores one credential per export, runs the AWS pipeline for each,
prints a cost summary from query_svc, then stops everything and exits 0 (non-zero on any failure).
"""

from __future__ import annotations

import asyncio
import gzip
import json
import logging
import shutil
import sys
import tempfile
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import boto3
from moto.server import ThreadedMotoServer
from rich.console import Console

from cloudact_cli.main import pipeline_request, print_costs, query_costs, run_pipeline
from cloudact_cli.supervisor import SERVICES, start_services, stop_services
from cloudact_cli.synthetic import generate_cur2, generate_legacy_cur_csv
from cloudact_shared.clients import open_channel
from cloudact_shared.gen.cloudact.credential.v1 import credential_service_pb2 as cred_pb
from cloudact_shared.gen.cloudact.credential.v1.credential_service_pb2_grpc import CredentialServiceStub
from cloudact_shared.gen.cloudact.query.v1 import query_service_pb2 as query_pb
from cloudact_shared.settings import CloudactSettings

ORG = "acme"
BUCKET = "acme-billing"
LEGACY_SAMPLE = (
    Path(__file__).resolve().parents[1].parent
    / "shared/samples/raw/aws/cur_legacy_sample-anonymous-aws-export-dataset.csv"
)
_console = Console(width=150)


@dataclass(frozen=True)
class DemoExport:
    name: str
    layout: str
    prefix: str
    period: date


def _upload_legacy(s3: object, work: Path) -> DemoExport:
    """The FinOps Foundation's legacy CUR sample (Nov 2023), laid out as a legacy CUR delivery."""
    export = DemoExport("acme-legacy-cur", "legacy", "legacy", date(2023, 11, 1))
    source = LEGACY_SAMPLE
    if not source.is_file():
        _console.print(f"[yellow]{source} not found: generating a legacy CUR month instead[/yellow]")
        source = generate_legacy_cur_csv(work / "legacy.csv", 20_000, billing_period=export.period)
    folder = f"{export.prefix}/{export.name}/20231101-20231201"
    data_key = f"{folder}/20231101T000000Z/{export.name}-00001.csv.gz"
    s3.put_object(Bucket=BUCKET, Key=data_key, Body=gzip.compress(source.read_bytes()))  # type: ignore[attr-defined]
    manifest = {
        "assemblyId": "20231101T000000Z",
        "reportKeys": [data_key],
        "billingPeriod": {"start": "20231101T000000.000Z", "end": "20231201T000000.000Z"},
    }
    s3.put_object(Bucket=BUCKET, Key=f"{folder}/{export.name}-Manifest.json", Body=json.dumps(manifest))  # type: ignore[attr-defined]
    return export


def _upload_cur2(s3: object, work: Path) -> DemoExport:
    """A generated CUR 2.0 month (Parquet), uploaded data first and manifest last, as AWS delivers."""
    export = DemoExport("acme-cur2", "cur2", "exports", date(2025, 1, 1))
    generated = generate_cur2(
        work / "cur2",
        50_000,
        export_name=export.name,
        billing_period=export.period,
        bucket=BUCKET,
        prefix=export.prefix,
        rows_per_file=20_000,
    )
    for path in [*generated.data_files, generated.manifest_path]:
        key = path.relative_to(work / "cur2").as_posix()
        s3.upload_file(str(path), BUCKET, key)  # type: ignore[attr-defined]
    return export


async def _credential_for(settings: CloudactSettings, export: DemoExport, endpoint: str) -> str:
    """Stores (or, on a re-run, finds) the credential that reads ``export``."""
    async with open_channel(settings.credential_address) as channel:
        stub = CredentialServiceStub(channel)
        listed = await stub.ListCredentials(cred_pb.ListCredentialsRequest(org_slug=ORG, provider="aws"), timeout=30)
        for existing in listed.credentials:
            if existing.display_name == export.name:
                await stub.DeleteCredential(
                    cred_pb.DeleteCredentialRequest(org_slug=ORG, credential_id=existing.credential_id),
                    timeout=30,
                )
        created = await stub.CreateCredential(
            cred_pb.CreateCredentialRequest(
                org_slug=ORG,
                provider="aws",
                display_name=export.name,
                secret={"aws_access_key_id": "demo-access-key", "aws_secret_access_key": "demo-secret-key"},
                config={
                    "bucket": BUCKET,
                    "export_name": export.name,
                    "prefix": export.prefix,
                    "layout": export.layout,
                    "endpoint_url": endpoint,
                    "region": "us-east-1",
                },
            ),
            timeout=30,
        )
        return str(created.credential.credential_id)


async def _run(settings: CloudactSettings, endpoint: str, exports: list[DemoExport]) -> None:
    # The demo owns org "acme": it starts from an empty dataset, so every run shows the same answer
    # (its credentials are recreated for each run's S3 endpoint, and a new credential is a new slice).
    shutil.rmtree(settings.data_dir / f"{ORG}_prod", ignore_errors=True)
    processes = await start_services(settings, list(SERVICES), log=_console.print)
    try:
        for export in exports:
            credential_id = await _credential_for(settings, export, endpoint)
            _console.rule(f"aws/cost/billing: {export.name} ({export.layout}) {export.period:%Y-%m}")
            run = pipeline_request(ORG, "aws", credential_id, f"{export.period:%Y-%m}", None, None)
            result = await run_pipeline(settings, run, timeout=900)
            _console.print(
                f"run {result.lineage.run_id}: {result.files_read} files, {result.rows_read} rows read, "
                f"{result.raw_rows_written} raw rows, {result.rows_quarantined} quarantined, "
                f"{result.focus_rows_written} FOCUS rows in {result.duration_seconds:.1f} s"
            )
        _console.rule("BilledCost and EffectiveCost by month and ServiceCategory, from query_svc")
        question = query_pb.QueryCostsRequest(
            org_slug=ORG,
            start_date="2023-01-01",
            end_date="2026-12-31",
            grain=query_pb.TIME_GRAIN_MONTH,
            metrics=[query_pb.COST_METRIC_BILLED_COST, query_pb.COST_METRIC_EFFECTIVE_COST],
            group_by=["ServiceCategory"],
        )
        print_costs(await query_costs(settings, question), ["ServiceCategory"])
    finally:
        await stop_services(processes, grace=settings.shutdown_grace_seconds)


def main() -> int:
    settings = CloudactSettings()
    # moto's HTTP server logs every request through werkzeug; the demo shows the pipeline's own progress.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    # moto's HTTP server logs every request through werkzeug; the demo shows the pipeline's own progress.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    try:
        s3 = boto3.client(
            "s3",
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id="demo-access-key",
            aws_secret_access_key="demo-secret-key",
        )
        s3.create_bucket(Bucket=BUCKET)
        with tempfile.TemporaryDirectory() as tmp:
            exports = [_upload_legacy(s3, Path(tmp)), _upload_cur2(s3, Path(tmp))]
        _console.print(f"S3 (moto) on {endpoint}: s3://{BUCKET} holds {len(exports)} exports")
        asyncio.run(_run(settings, endpoint, exports))
    finally:
        server.stop()
    _console.print("[green]demo finished[/green]")
    return 0


if __name__ == "__main__":
    sys.exit(main())
