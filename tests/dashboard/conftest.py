"""The dashboard's test deployment: the four services on loopback with acme's costs and a pipeline run,
the dashboard's routes in the gateway's app (``build_app``) served by uvicorn over TLS (the "http"
certificate), and headless Chromium.

Selenium calls block, so the services and uvicorn run on an event loop of their own thread; tests
reach gRPC through ``Deployment.call`` (a coroutine run on that loop).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import socket
import threading
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

import boto3
import pytest
import uvicorn
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from selenium import webdriver
from selenium.webdriver.common.by import By

from cloudact_cli.supervisor import start_in_process
from cloudact_http.dashboard import dashboard_routes
from cloudact_http.server import build_app
from cloudact_shared.auth.tls import TlsFiles
from cloudact_shared.gen.cloudact.query.v1 import query_service_pb2 as query_pb
from cloudact_shared.gen.cloudact.query.v1.query_service_pb2_grpc import QueryServiceStub
from cloudact_shared.server import BuiltServer
from cloudact_shared.settings import CloudactSettings
from cloudact_shared.storage.embedded import EmbeddedTableStore
from tests.channels import org_channel, org_token
from tests.conftest import DATA
from tests.e2e.helpers import create_credential, put_legacy_delivery, run_pipeline
from tests.query_svc.focus_data import focus_row, write_focus

ORG = "acme"
OTHER_ORG = "globex"
PIPELINE_MONTH = date(2023, 11, 1)
MONTHS = ("2025-01", "2025-02", "2025-03", "2025-04")
"""Months of acme's costs; the default period is the last three (Feb..Apr 2025)."""
_T = TypeVar("_T")


def acme_costs(provider: str) -> list[dict[str, Any]]:
    """A provider's rows over MONTHS: two services, regions, accounts, tags, sub-cent amounts; azure
    also bills in EUR (kept apart from USD)."""
    rows = []
    for index, month in enumerate(MONTHS):
        scale = Decimal(index + 1) * {"aws": 1, "gcp": 3, "azure": 2}[provider]
        compute = focus_row(
            f"{month}-03T10:00:00", "EC2", "USD", str(Decimal("10.004") * scale),
            effective=str(Decimal("9.126") * scale), tags={"team": "core"}, region="us-east-1", provider=provider,
        )  # fmt: skip
        storage = focus_row(
            f"{month}-17T00:00:00", "S3", "USD", str(Decimal("2.335") * scale), tags={"team": "data"},
            region="eu-west-1", provider=provider,
        )  # fmt: skip
        for row in (compute, storage):
            row["BillingAccountId"] = f"{provider}-account"
            row["ServiceName"] = f"{provider.upper()} {row['ServiceName']}"
        rows += [compute, storage]
        if provider == "azure":
            rows.append(
                focus_row(f"{month}-20T00:00:00", "EC2", "EUR", "7.125", provider=provider, region="westeurope")
            )
            rows[-1]["BillingAccountId"] = "azure-eu-account"
    return rows


def spki_hash(certificate: Path) -> str:
    """base64(SHA-256(SubjectPublicKeyInfo)): what Chromium's --ignore-certificate-errors-spki-list pins."""
    cert = x509.load_pem_x509_certificate(certificate.read_bytes())
    der = cert.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(hashlib.sha256(der).digest()).decode()


@dataclass
class Deployment:
    settings: CloudactSettings
    loop: asyncio.AbstractEventLoop
    base_url: str
    credential_id: str
    run_id: str
    servers: dict[str, BuiltServer] = field(default_factory=dict)

    def call(self, coroutine: Coroutine[Any, Any, _T], timeout: float = 60) -> _T:
        """Runs ``coroutine`` on the deployment's loop and returns its result."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def token(self, org: str = ORG, role: str = "viewer") -> str:
        return org_token(self.settings.tokens_path, org, role)

    @property
    def ca(self) -> Path:
        return TlsFiles.from_settings(self.settings).ca

    def query_costs(self, start: str, end: str, **fields: Any) -> list[query_pb.CostRow]:
        """QueryCosts over gRPC as a viewer of acme (TOTAL grain, both metrics)."""

        async def ask() -> list[query_pb.CostRow]:
            request = query_pb.QueryCostsRequest(
                org_slug=ORG,
                start_date=start,
                end_date=end,
                metrics=[query_pb.COST_METRIC_BILLED_COST, query_pb.COST_METRIC_EFFECTIVE_COST],
                grain=query_pb.TIME_GRAIN_TOTAL,
                **fields,
            )
            async with org_channel(self.settings, self.settings.query_address, ORG, "viewer") as channel:
                response = await QueryServiceStub(channel).QueryCosts(request, timeout=30)
            return list(response.rows)

        return self.call(ask())


async def _fill(settings: CloudactSettings, s3: Any, endpoint: str) -> tuple[str, str]:
    store = EmbeddedTableStore(settings.data_dir)
    for provider in ("aws", "gcp", "azure"):
        write_focus(store, acme_costs(provider), provider=provider)
    # A real run of the AWS pipeline (November 2023, one row quarantined) for the pipelines page.
    s3.create_bucket(Bucket="dashboard-cur")
    csv = (DATA / "aws" / "legacy_small.csv").read_bytes()
    delivery = put_legacy_delivery(s3, "dashboard-cur", "dash", csv, PIPELINE_MONTH)
    credential_id = await create_credential(settings, ORG, delivery, endpoint)
    progress, _ = await run_pipeline(settings, ORG, credential_id, PIPELINE_MONTH)
    return credential_id, progress[0].run_id


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory, s3_endpoint: str) -> Iterator[Deployment]:
    s3_client = boto3.client(
        "s3",
        endpoint_url=s3_endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="dashboard-loop", daemon=True)
    thread.start()

    def on_loop(coroutine: Coroutine[Any, Any, _T]) -> _T:
        return asyncio.run_coroutine_threadsafe(coroutine, loop).result(120)

    data_dir = tmp_path_factory.mktemp("dashboard")
    settings, servers = on_loop(start_in_process(CloudactSettings(data_dir=data_dir, allow_endpoint_overrides=True)))
    credential_id, run_id = on_loop(_fill(settings, s3_client, s3_endpoint))
    tls = TlsFiles.from_settings(settings)
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    config = uvicorn.Config(
        build_app(settings, dashboard_routes(settings)),
        ssl_certfile=str(tls.cert("http")),
        ssl_keyfile=str(tls.key("http")),
        log_level="warning",
        lifespan="off",
    )
    server = uvicorn.Server(config)
    serving = asyncio.run_coroutine_threadsafe(server.serve(sockets=[listener]), loop)
    on_loop(_started(server))
    port = listener.getsockname()[1]
    yield Deployment(settings, loop, f"https://127.0.0.1:{port}", credential_id, run_id, servers)
    server.should_exit = True
    serving.result(30)
    for built in servers.values():
        on_loop(built.stop(0))
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)
    listener.close()


async def _started(server: uvicorn.Server) -> None:
    for _ in range(200):
        if server.started:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("uvicorn did not start")


@pytest.fixture(scope="module")
def downloads(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("downloads")


@pytest.fixture(scope="module")
def browser(deployment: Deployment, downloads: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """Headless Chromium that trusts exactly the dashboard's certificate.

    Chromium on Linux takes extra roots only from an NSS database, and certutil (to write one) is
    not installed here. So the test pins the server certificate's public key with
    --ignore-certificate-errors-spki-list (acceptInsecureCerts stays False): any other certificate,
    self-signed or not, is still refused, unlike --ignore-certificate-errors, which trusts all.
    """
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    spki = spki_hash(TlsFiles.from_settings(deployment.settings).cert("http"))
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--window-size=1400,1800",
        f"--ignore-certificate-errors-spki-list={spki}",
        f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}",
    ):
        options.add_argument(argument)
    options.set_capability("acceptInsecureCerts", False)
    options.add_experimental_option(
        "prefs", {"download.default_directory": str(downloads), "download.prompt_for_download": False}
    )
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService("/usr/bin/chromedriver"))
    driver.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)})
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()


def log_in(driver: Any, deployment: Deployment, token: str) -> None:
    """Logs ``driver`` in through the login form (a fresh session)."""
    driver.delete_all_cookies()
    driver.get(f"{deployment.base_url}/login")
    driver.find_element(By.NAME, "token").send_keys(token)
    driver.find_element(By.CSS_SELECTOR, "#login button[type=submit]").click()
