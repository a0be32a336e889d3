"""Azure fixtures: an Azurite blob server on loopback, export runs uploaded with the real async SDK."""

from __future__ import annotations

import gzip
import json
import os
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest
from azure.storage.blob.aio import BlobServiceClient

from tests.conftest import REPO, SHARED

SAMPLES = SHARED / "samples/raw/azure"
EA_ACTUAL = SAMPLES / "EA_ActualCost_Small.csv"
EA_AMORTIZED = SAMPLES / "EA_AmortizedCost_Small.csv"
FFS_ACTUAL = SAMPLES / "ea_actual_sample-anonymous-ea-export-dataset.csv"
ACCOUNT = "devstoreaccount1"
# Microsoft's public, documented Azurite development key (not a secret).
ACCOUNT_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
_AZURITE_CANDIDATES = (
    os.environ.get("AZURITE_BLOB", ""),
    str(REPO / "node_modules/azurite/dist/src/blob/main.js"),
    "/tmp/azurite-tools/node_modules/azurite/dist/src/blob/main.js",
)


def _azurite_script() -> Path | None:
    for candidate in _AZURITE_CANDIDATES:
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    return None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class Azurite:
    port: int

    @property
    def account_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/{ACCOUNT}"

    def connection_string(self, key: str = ACCOUNT_KEY) -> str:
        return f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={key};BlobEndpoint={self.account_url};"


@pytest.fixture(scope="session")
def azurite() -> Iterator[Azurite]:
    """Azurite (blob only) on a free loopback port; node is run directly so its PID is the server's."""
    script = _azurite_script()
    node = shutil.which("node")
    if script is None or node is None:
        pytest.skip("Azurite is not installed (npm install azurite@3.35.0) or node is missing")
    port = _free_port()
    process = subprocess.Popen(
        [
            node,
            str(script),
            "--blobHost",
            "127.0.0.1",
            "--blobPort",
            str(port),
            "--inMemoryPersistence",
            "--skipApiVersionCheck",
            "--disableTelemetry",
            "--loose",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    err = process.stderr.read().decode() if process.stderr else ""
                    raise RuntimeError(f"Azurite did not start on port {port}: {err[-2000:]}") from None
                time.sleep(0.1)
        yield Azurite(port)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture
async def container(azurite: Azurite, request: pytest.FixtureRequest) -> AsyncIterator[str]:
    name = f"exports-{uuid.uuid4().hex[:12]}"
    async with BlobServiceClient.from_connection_string(azurite.connection_string()) as service:
        await service.create_container(name)
        yield name


async def put_run(
    azurite: Azurite,
    container: str,
    export_name: str,
    data: bytes,
    period: date,
    *,
    dataset: str = "ActualCost",
    submitted: str = "2023-09-22T10:00:00Z",
    root: str = "costexports",
    gz: bool = True,
    extra_blobs: list[str] | None = None,
    write_manifest: bool = True,
) -> list[str]:
    """Uploads one export run (a part file, then manifest.json) in the documented layout."""
    end = date(period.year + period.month // 12, period.month % 12 + 1, 1)
    run_id = uuid.uuid4().hex
    folder = f"{root}/{export_name}/{period:%Y%m%d}-{end:%Y%m%d}/{submitted.replace(':', '')}/{run_id}"
    part = f"{folder}/part_0_0001.csv" + (".gz" if gz else "")
    body = gzip.compress(data) if gz else data
    blobs = [part, *(extra_blobs or [])]
    manifest = {
        "blobCount": len(blobs),
        "dataRowCount": data.count(b"\n"),
        "exportConfig": {
            "exportName": export_name,
            "type": dataset,
            "dataVersion": "2023-07-01-preview",
            "resourceId": (
                "/providers/Microsoft.Billing/billingAccounts/8611537"
                f"/providers/Microsoft.CostManagement/exports/{export_name}"
            ),
            "apiVersion": "2023-07-01-preview",
        },
        "runInfo": {
            "runId": run_id,
            "startDate": f"{period:%Y-%m-%d}T00:00:00",
            "endDate": f"{end:%Y-%m-%d}T00:00:00",
            "executionType": "Scheduled",
            "submittedTime": submitted,
        },
        "blobs": [{"blobName": b, "byteCount": len(body), "dataRowCount": 1} for b in blobs],
    }
    async with BlobServiceClient.from_connection_string(azurite.connection_string()) as service:
        client = service.get_container_client(container)
        await client.upload_blob(part, body, overwrite=True)
        if write_manifest:
            await client.upload_blob(f"{folder}/manifest.json", json.dumps(manifest).encode(), overwrite=True)
    return blobs


def sample_bytes(path: Path) -> bytes:
    return path.read_bytes()
