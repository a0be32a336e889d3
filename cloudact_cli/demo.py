"""``make demo``: the whole system end to end on one machine, on the embedded default or on BigQuery.

Starts an S3 endpoint (moto) on loopback holding the legacy CUR sample and two generated CUR 2.0
months (:data:`CUR2_MONTHS`), Azurite, a local OCI Object Storage, and bqemulator holding a generated month of the GCP
detailed billing export in BigQuery, and the API of every SaaS and GenAI provider that registers a
demo source (its vendor's API on loopback with a generated month); starts the four services, stores
one credential per export or API, runs each provider's pipeline, then pushes a generated batch of
custom cost events (DataHub, ``cloudact events upload``), prints a cost summary from query_svc, then
stops everything and exits 0 (non-zero on any failure).

``CLOUDACT_WAREHOUSE=bigquery make demo`` runs the same demo with BigQuery as the warehouse: the org's
dataset, its tables and the FOCUS procedure live in bqemulator (the instance that also holds the GCP
export), and credential_svc wraps data keys with the Cloud KMS client against a loopback KMS
(``cloudact_cli/kms_emulator.py``). ``CLOUDACT_DEMO_EXPORT=PATH`` (.parquet or .csv) writes the org's
FOCUS table to PATH before anything stops, with the code of ``cloudact focus export``, so two demos'
tables can be compared.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import functools
import gzip
import json
import logging
import os
import shutil
import sys
import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import boto3
from moto.server import ThreadedMotoServer
from pydantic import SecretStr
from rich.console import Console

from cloudact_cli.bigquery_emulator import (
    BigQueryEmulator,
    bigquery_emulator,
    bqemulator_available,
    create_billing_export_table,
    load_export_rows,
    throwaway_service_account,
)
from cloudact_cli.emulators import Azurite, azurite, azurite_available, put_cost_export_run
from cloudact_cli.events import print_summary, upload_file
from cloudact_cli.kms_emulator import kms_emulator
from cloudact_cli.main import (
    export_focus,
    list_all_credentials,
    pipeline_request,
    print_costs,
    query_costs,
    run_pipeline,
)
from cloudact_cli.oci_object_storage import ApiKey, FakeObjectStorage, running
from cloudact_cli.rpc import caller_channel
from cloudact_cli.supervisor import SERVICES, start_services, stop_services
from cloudact_providers.aws.synthetic import generate_cur2, generate_legacy_cur_csv
from cloudact_providers.connector import DemoAccount, DemoUnavailable
from cloudact_providers.datahub.events import inbox_dir
from cloudact_providers.datahub.synthetic import generate as generate_events
from cloudact_providers.gcp.synthetic import NESTED_SCHEMA, month_rows
from cloudact_providers.registry import known_providers, registration
from cloudact_shared.auth import Role, TokenAuthority, ensure_local_pki
from cloudact_shared.gen.cloudact.credential.v1 import credential_service_pb2 as cred_pb
from cloudact_shared.gen.cloudact.credential.v1.credential_service_pb2_grpc import CredentialServiceStub
from cloudact_shared.gen.cloudact.focus.v1 import focus_service_pb2 as focus_pb
from cloudact_shared.gen.cloudact.query.v1 import query_service_pb2 as query_pb
from cloudact_shared.settings import CloudactSettings

ORG = "acme"
BUCKET = "acme-billing"
SAMPLES = Path(__file__).resolve().parents[1] / "tests" / "data" / "samples"
"""The public samples vendored with the repository (tests/data/samples/SOURCES.md)."""
LEGACY_SAMPLE = SAMPLES / "aws" / "cur_legacy_sample-anonymous-aws-export-dataset.csv"
AZURE_ACTUAL = SAMPLES / "azure" / "EA_ActualCost_Small.csv"
AZURE_AMORTIZED = SAMPLES / "azure" / "EA_AmortizedCost_Small.csv"
AZURE_CONTAINER = "billing-exports"
OCI_SAMPLE = SAMPLES / "oci" / "reports_cost-csv_0000000030000269.csv"
GCP_MONTH = date(2025, 1, 1)
GCP_TABLE = "gcp_billing_export_resource_v1_0123AB_CDEF01_234567"
KMS_KEY = "projects/acme-billing/locations/us/keyRings/cloudact/cryptoKeys/credentials"
"""The Cloud KMS key the BigQuery demo's credential_svc wraps data keys with (in the loopback KMS)."""
EXPORT_VARIABLE = "CLOUDACT_DEMO_EXPORT"
_console = Console(width=150)


@dataclass(frozen=True)
class DemoExport:
    name: str
    layout: str
    prefix: str
    periods: tuple[date, ...]


@dataclass(frozen=True)
class Cur2Month:
    """One generated CUR 2.0 month of the demo: its period, line items and change against the baseline."""

    period: date
    rows: int
    growth: float


CUR2_MONTHS = (Cur2Month(date(2024, 12, 1), 42_000, 0.0), Cur2Month(date(2025, 1, 1), 50_000, 0.2))
"""The demo's two consecutive CUR 2.0 months: the company grows (more line items, compute +~20%, Amazon
SageMaker new), so a month-over-month comparison on the dashboard has something to show."""


def _upload_legacy(s3: object, work: Path) -> DemoExport:
    """The FinOps Foundation's legacy CUR sample (Nov 2023), laid out as a legacy CUR delivery."""
    export = DemoExport("acme-legacy-cur", "legacy", "legacy", (date(2023, 11, 1),))
    source = LEGACY_SAMPLE
    if not source.is_file():
        _console.print(f"[yellow]{source} not found: generating a legacy CUR month instead[/yellow]")
        source = generate_legacy_cur_csv(work / "legacy.csv", 20_000, billing_period=export.periods[0])
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
    """The generated CUR 2.0 months (Parquet) of one export, each uploaded data first and manifest last,
    as AWS delivers."""
    export = DemoExport("acme-cur2", "cur2", "exports", tuple(month.period for month in CUR2_MONTHS))
    for month in CUR2_MONTHS:
        generated = generate_cur2(
            work / "cur2",
            month.rows,
            export_name=export.name,
            billing_period=month.period,
            bucket=BUCKET,
            prefix=export.prefix,
            rows_per_file=20_000,
            growth=month.growth,
        )
        for path in [*generated.data_files, generated.manifest_path]:
            key = path.relative_to(work / "cur2").as_posix()
            s3.upload_file(str(path), BUCKET, key)  # type: ignore[attr-defined]
    return export


async def _replace_credential(
    settings: CloudactSettings, provider: str, name: str, secret: dict[str, str], config: dict[str, str]
) -> str:
    """Stores the demo's credential ``name`` (replacing one left by an earlier run); returns its id."""
    async with caller_channel(settings, settings.credential_address) as channel:
        stub = CredentialServiceStub(channel)
        for existing in await list_all_credentials(stub, ORG, provider):
            if existing.display_name == name:
                await stub.DeleteCredential(
                    cred_pb.DeleteCredentialRequest(org_slug=ORG, credential_id=existing.credential_id), timeout=30
                )
        created = await stub.CreateCredential(
            cred_pb.CreateCredentialRequest(
                org_slug=ORG, provider=provider, display_name=name, secret=secret, config=config
            ),
            timeout=30,
        )
        return str(created.credential.credential_id)


async def _run_and_report(settings: CloudactSettings, provider: str, credential_id: str, period: date) -> None:
    run = pipeline_request(ORG, provider, credential_id, f"{period:%Y-%m}", None, None)
    result = await run_pipeline(settings, run, timeout=900)
    _console.print(
        f"run {result.lineage.run_id}: {result.files_read} files, {result.rows_read} rows read, "
        f"{result.raw_rows_written} raw rows, {result.rows_quarantined} quarantined, "
        f"{result.focus_rows_written} FOCUS rows in {result.duration_seconds:.1f} s"
    )


async def _aws(settings: CloudactSettings, export: DemoExport, endpoint: str) -> None:
    credential_id = await _replace_credential(
        settings, "aws", export.name,
        secret={"aws_access_key_id": "demo-access-key", "aws_secret_access_key": "demo-secret-key"},
        config={"bucket": BUCKET, "export_name": export.name, "prefix": export.prefix, "layout": export.layout,
                "endpoint_url": endpoint, "region": "us-east-1"},
    )  # fmt: skip
    for period in export.periods:
        _console.rule(f"aws/cost/billing: {export.name} ({export.layout}) {period:%Y-%m}")
        await _run_and_report(settings, "aws", credential_id, period)


async def _azure(settings: CloudactSettings, endpoint: Azurite) -> None:
    """Microsoft's EA actual and amortized cost samples as two Cost Management exports in Blob Storage."""
    september = date(2023, 9, 1)
    for dataset, sample in (("ActualCost", AZURE_ACTUAL), ("AmortizedCost", AZURE_AMORTIZED)):
        export = f"acme-ea-{dataset.removesuffix('Cost').lower()}"
        await put_cost_export_run(endpoint, AZURE_CONTAINER, export, sample.read_bytes(), september, dataset=dataset)
    credential_id = await _replace_credential(
        settings, "azure", "acme-ea",
        secret={"connection_string": endpoint.connection_string()},
        config={"container": AZURE_CONTAINER, "export_name": "acme-ea-actual,acme-ea-amortized",
                "root_path": "costexports"},
    )  # fmt: skip
    _console.rule("azure/cost/billing: EA actual + amortized cost exports 2023-09 (Azurite)")
    await _run_and_report(settings, "azure", credential_id, september)


async def _oci(settings: CloudactSettings, storage: FakeObjectStorage, key: ApiKey) -> None:
    """The FinOps Foundation's OCI cost report sample in the tenancy's ``bling`` bucket."""
    storage.put(key.tenancy, f"reports/cost-csv/{OCI_SAMPLE.stem}.csv.gz", gzip.compress(OCI_SAMPLE.read_bytes()),
                created=datetime(2023, 11, 20, tzinfo=UTC))  # fmt: skip
    credential_id = await _replace_credential(
        settings, "oci", "acme-oci", secret=key.secret(), config={"endpoint": storage.endpoint}
    )
    _console.rule("oci/cost/billing: cost reports 2023-11 (local Object Storage, signed requests)")
    await _run_and_report(settings, "oci", credential_id, date(2023, 11, 1))


@dataclass(frozen=True)
class GcpExport:
    """Where the demo's BigQuery billing export is, and the service account key that reads it."""

    config: dict[str, str]
    key: dict[str, str]


def gcp_demo_rows(period: date) -> list[dict[str, Any]]:
    """The demo's GCP month: the generated detailed-export month plus one Vertex AI line.

    None of the generated kinds is GenAI spend, so without it the genai_dci view would have no line
    from a cloud bill to show. It is added here, to the demo's input only: the generator's output is
    fingerprinted by tests/contract/test_golden_outputs.py and other tests count its rows.
    """
    rows = month_rows(period)
    line = copy.deepcopy(rows[0])  # day 1, first project, a plain usage row
    model = f"//aiplatform.googleapis.com/projects/{line['project']['id']}/locations/us-central1/publishers/google"
    line.update(
        service={"id": "C7E2-9256-1C43", "description": "Vertex AI"},
        sku={"id": "DEMO-GEMINI-25-PRO-INPUT", "description": "Online Prediction - Gemini 2.5 Pro Input Tokens"},
        usage={"amount": 1_250_000.0, "unit": "count", "amount_in_pricing_units": 1_250_000.0, "pricing_unit": "count"},
        price={"effective_price": Decimal("0.00000125"), "tier_start_amount": Decimal("0"), "unit": "count",
               "pricing_unit_quantity": Decimal("1")},
        cost=1.5625,
        cost_at_list=1.5625,
        location={"location": "us-central1", "country": "US", "region": "us-central1", "zone": None},
        resource={"name": "gemini-2.5-pro", "global_name": f"{model}/models/gemini-2.5-pro"},
        system_labels=[],
    )  # fmt: skip
    return [*rows, line]


def _load_gcp(bq: BigQueryEmulator) -> GcpExport:
    """A generated month of the detailed billing export, streamed into the emulator as Google appends it."""
    client = bq.client()
    table = create_billing_export_table(client, f"{bq.project}.billing_export.{GCP_TABLE}", NESTED_SCHEMA)
    rows = gcp_demo_rows(GCP_MONTH)
    load_export_rows(client, table, rows)
    client.close()  # type: ignore[no-untyped-call]
    _console.print(f"BigQuery (bqemulator) on {bq.endpoint}: {bq.project}.billing_export.{GCP_TABLE}, {len(rows)} rows")
    config = {"project": bq.project, "dataset": "billing_export", "table": GCP_TABLE, "location": "US",
              "api_endpoint": bq.endpoint}  # fmt: skip
    return GcpExport(config, throwaway_service_account(bq.project))


async def _gcp(settings: CloudactSettings, export: GcpExport) -> None:
    credential_id = await _replace_credential(settings, "gcp", "acme-gcp", secret=export.key, config=export.config)
    _console.rule(f"gcp/cost/billing: detailed billing export in BigQuery {GCP_MONTH:%Y-%m} (bqemulator)")
    await _run_and_report(settings, "gcp", credential_id, GCP_MONTH)


async def _api_source(settings: CloudactSettings, slug: str, account: DemoAccount) -> None:
    """A provider read through its vendor's API (a ``DemoSource`` of its registration, on loopback)."""
    spec = registration(slug)
    credential_id = await _replace_credential(
        settings, slug, account.display_name, secret=dict(account.secret), config=dict(account.config)
    )
    for period in account.periods:
        _console.rule(f"{spec.pipeline_id}: the {spec.name} API on loopback, {period:%Y-%m}")
        await _run_and_report(settings, slug, credential_id, period)


def _start_api_sources(stack: contextlib.ExitStack, sources: dict[str, DemoSource]) -> None:
    """Starts the loopback API of every registered provider that has a demo source."""
    work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="cloudact-demo-")))
    for slug in known_providers():
        spec = registration(slug)
        demo_source = spec.demo_source()
        if demo_source is None or slug in sources:
            continue
        try:
            account = stack.enter_context(demo_source(work / slug))
        except DemoUnavailable as unavailable:
            _console.print(f"[yellow]{spec.name}: {unavailable}; skipped[/yellow]")
            continue
        _console.print(f"{spec.name} API (loopback) holds {', '.join(f'{p:%Y-%m}' for p in account.periods)}")
        sources[slug] = functools.partial(_api_source, slug=slug, account=account)


DemoSource = Callable[[CloudactSettings], Awaitable[None]]
"""Stores a provider's demo credential(s) and runs its pipeline against its emulator."""


async def _aws_exports(settings: CloudactSettings, exports: list[DemoExport], endpoint: str) -> None:
    for export in exports:
        await _aws(settings, export, endpoint)


async def _push_events(settings: CloudactSettings) -> None:
    """Custom cost events (DataHub): a generated batch of January 2025, pushed as ``cloudact events upload`` does."""
    _console.rule("datahub/cost/billing: custom cost events pushed with EventsService.UploadEvents, 2025-01")
    # The org starts from nothing (``_run``): an earlier demo's events would otherwise be loaded again.
    shutil.rmtree(inbox_dir(settings.data_dir, ORG), ignore_errors=True)
    with tempfile.TemporaryDirectory(prefix="cloudact-demo-events-") as work:
        events = generate_events(Path(work), 300)
        summary = await upload_file(settings, ORG, events)
        print_summary(summary, Path(events.name))
    if summary.rejected:
        raise RuntimeError(f"{summary.rejected} generated events were rejected")


async def _run_sources(settings: CloudactSettings, sources: dict[str, DemoSource]) -> None:
    """Runs the demo source of every registered provider, in the registry's order; custom cost events
    (category ``custom``) last, once every export is in."""
    unconvertible = _without_warehouse_form(settings)
    for slug in sorted(known_providers(), key=lambda slug: registration(slug).category == "custom"):
        if slug in unconvertible:
            _console.print(
                f"[yellow]{registration(slug).name}: its FOCUS mapping has no BigQuery form yet "
                f"({unconvertible[slug]}); skipped on this warehouse[/yellow]"
            )
            continue
        source = sources.get(slug)
        if source is None:
            _console.print(f"[yellow]{registration(slug).name}: no demo source is running; skipped[/yellow]")
            continue
        await source(settings)


def _without_warehouse_form(settings: CloudactSettings) -> dict[str, str]:
    """Providers whose conversion cannot run in the configured warehouse, with why (none embedded)."""
    if settings.warehouse != "bigquery":
        return {}
    from focus_svc.bigquery import providers_without_bigquery_form

    return providers_without_bigquery_form()


async def _run(settings: CloudactSettings, sources: dict[str, DemoSource]) -> None:
    # The demo owns org "acme": it starts from an empty dataset, so every run shows the same answer
    # (its credentials are recreated for each run's endpoints, and a new credential is a new slice).
    # On BigQuery the dataset lives in the emulator, which starts empty on every demo.
    shutil.rmtree(settings.data_dir / f"{ORG}_prod", ignore_errors=True)
    async with contextlib.AsyncExitStack() as stack:
        if settings.key_backend == "cloudkms":
            kms = await stack.enter_async_context(kms_emulator(None))
            await kms.create_key(*_key_path(KMS_KEY))
            settings = settings.model_copy(update={"kms_endpoint": kms.endpoint, "kms_key_name": KMS_KEY})
            _console.print(f"Cloud KMS (loopback) on {kms.endpoint}: {KMS_KEY}")
        await _run_services(settings, sources)


def _key_path(name: str) -> tuple[str, str, str, str]:
    """(project, location, key ring, key) of a CryptoKey name."""
    parts = name.split("/")
    return parts[1], parts[3], parts[5], parts[7]


async def _run_services(settings: CloudactSettings, sources: dict[str, DemoSource]) -> None:
    where = (
        f"BigQuery ({settings.bigquery_project}, {settings.bigquery_endpoint})"
        if settings.warehouse == "bigquery"
        else f"embedded ({settings.data_dir})"
    )
    _console.print(f"warehouse: {where}; credential keys: {settings.key_backend}")
    processes, settings = await start_services(settings, list(SERVICES), log=_console.print)
    try:
        await _run_sources(settings, sources)
        _console.rule("BilledCost and EffectiveCost by month, provider and ServiceCategory, from query_svc")
        dimensions = ["x_source_provider", "ServiceCategory"]
        question = query_pb.QueryCostsRequest(
            org_slug=ORG,
            start_date="2023-01-01",
            end_date="2026-12-31",
            grain=query_pb.TIME_GRAIN_MONTH,
            metrics=[query_pb.COST_METRIC_BILLED_COST, query_pb.COST_METRIC_EFFECTIVE_COST],
            group_by=dimensions,
        )
        print_costs(await query_costs(settings, question), dimensions)
        if export := os.environ.get(EXPORT_VARIABLE):
            rows = await export_focus(settings, focus_pb.ExportFocusRequest(org_slug=ORG), Path(export))
            _console.print(f"{EXPORT_VARIABLE}: wrote {rows} FOCUS rows of {ORG} to {export}")
    finally:
        await stop_services(processes, grace=settings.shutdown_grace_seconds)


def _azure_ready() -> bool:
    if not (AZURE_ACTUAL.is_file() and AZURE_AMORTIZED.is_file()):
        _console.print(f"[yellow]{AZURE_ACTUAL.parent} not found: skipping the Azure export[/yellow]")
        return False
    if not azurite_available():
        _console.print("[yellow]node or Azurite missing (run 'make install'): skipping the Azure export[/yellow]")
        return False
    return True


def _demo_settings(warehouse: BigQueryEmulator | None) -> CloudactSettings:
    """The environment's settings, with endpoint overrides on (the sources are local emulators),
    the local TLS material issued if missing, and an admin token of the demo's org. With a
    ``warehouse`` emulator, BigQuery is the warehouse and Cloud KMS (on loopback) the key backend."""
    production: dict[str, Any] = {}
    if warehouse is not None:
        emulated = {
            name.removeprefix("CLOUDACT_").lower(): value for name, value in warehouse.settings_overrides().items()
        }
        production = {**emulated, "key_backend": "cloudkms", "kms_key_name": KMS_KEY}
    settings = CloudactSettings(allow_endpoint_overrides=True, **production)
    if not settings.ca_path.exists():
        ensure_local_pki(settings)
    token, _ = TokenAuthority(settings.tokens_path).mint(ORG, Role.ADMIN, ttl=timedelta(hours=2), subject="make demo")
    return settings.model_copy(update={"token": SecretStr(token)})


def main() -> int:
    bigquery_warehouse = os.environ.get("CLOUDACT_WAREHOUSE") == "bigquery"
    if bigquery_warehouse and not bqemulator_available():
        _console.print("[red]CLOUDACT_WAREHOUSE=bigquery: the demo runs it on bqemulator; run 'make install'[/red]")
        return 2
    export = os.environ.get(EXPORT_VARIABLE)
    if export and Path(export).suffix not in (".parquet", ".csv"):
        _console.print(f"[red]{EXPORT_VARIABLE} must name a .parquet or .csv file[/red]")
        return 2
    with contextlib.ExitStack() as stack:
        # One emulator holds both the GCP billing export (Google's side) and, on BigQuery, the warehouse.
        bq = stack.enter_context(bigquery_emulator()) if bqemulator_available() else None
        return _main(_demo_settings(bq if bigquery_warehouse else None), bq)


def _main(settings: CloudactSettings, bq: BigQueryEmulator | None) -> int:
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
        sources: dict[str, DemoSource] = {"aws": functools.partial(_aws_exports, exports=exports, endpoint=endpoint)}
        with contextlib.ExitStack() as stack:
            if _azure_ready():
                azure = stack.enter_context(azurite())
                _console.print(f"Azure Blob Storage (Azurite) on {azure.account_url}")
                sources["azure"] = functools.partial(_azure, endpoint=azure)
            if OCI_SAMPLE.is_file():
                key, storage = ApiKey(), FakeObjectStorage()
                storage.accept(key)
                stack.enter_context(running(storage))
                _console.print(f"OCI Object Storage (local, signature-checking) on {storage.endpoint}")
                sources["oci"] = functools.partial(_oci, storage=storage, key=key)
            if bq is not None:
                sources["gcp"] = functools.partial(_gcp, export=_load_gcp(bq))
            else:
                _console.print("[yellow]bqemulator missing (run 'make install'): skipping the GCP export[/yellow]")
            _start_api_sources(stack, sources)
            sources["datahub"] = _push_events
            asyncio.run(_run(settings, sources))
    finally:
        server.stop()
    _console.print("[green]demo finished[/green]")
    return 0


if __name__ == "__main__":
    sys.exit(main())
