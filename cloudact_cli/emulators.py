"""Local stand-ins for the clouds' storage, on loopback, for ``make demo`` and the tests.

Azurite (Microsoft's Azure Storage emulator, from the project's npm packages) serves Blob Storage;
the export-run uploader lays files out the way Cost Management delivers them (data part, then
``manifest.json`` as the completion marker).
"""

from __future__ import annotations

import gzip
import json
import shutil
import socket
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from azure.storage.blob.aio import BlobServiceClient

from cloudact_shared.readiness import wait_until

REPO = Path(__file__).resolve().parents[1]
AZURITE_SCRIPT = REPO / "node_modules" / "azurite" / "dist" / "src" / "blob" / "main.js"
# Microsoft's public, documented Azurite development account; not a secret.
AZURITE_ACCOUNT = "devstoreaccount1"
AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


@dataclass(frozen=True)
class Azurite:
    """A running Azurite blob endpoint."""

    port: int
    scheme: str = "http"

    @property
    def account_url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}/{AZURITE_ACCOUNT}"

    def connection_string(self, key: str = AZURITE_KEY) -> str:
        return (
            f"DefaultEndpointsProtocol={self.scheme};AccountName={AZURITE_ACCOUNT};AccountKey={key};"
            f"BlobEndpoint={self.account_url};"
        )


def azurite_available(script: Path = AZURITE_SCRIPT) -> bool:
    """Whether node and the Azurite package are installed (``make install`` provides both)."""
    return script.is_file() and shutil.which("node") is not None


@contextmanager
def azurite(
    script: Path = AZURITE_SCRIPT,
    *,
    start_timeout: float = 30.0,
    tls: tuple[Path, Path] | None = None,
) -> Iterator[Azurite]:
    """Runs Azurite (blob only, in memory) on a free loopback port until the block ends.

    node runs the script directly, so the PID we stop is the server's own (npx would wrap it).
    --skipApiVersionCheck: the SDK speaks a newer API version than Azurite knows;
    --disableTelemetry: Azurite phones home by default.
    ``tls`` (certificate PEM, key PEM) serves HTTPS and turns on OAuth (``--oauth basic``: bearer
    tokens are checked for audience, issuer and lifetime, not signature), which needs HTTPS.
    """
    node = shutil.which("node")
    if node is None or not script.is_file():
        raise RuntimeError(f"Azurite needs node and {script} (run 'make install')")
    port = free_port()
    oauth = ["--oauth", "basic", "--cert", str(tls[0]), "--key", str(tls[1])] if tls else []
    process = subprocess.Popen(
        [node, str(script), "--blobHost", "127.0.0.1", "--blobPort", str(port), "--inMemoryPersistence",
         "--skipApiVersionCheck", "--disableTelemetry", "--loose", *oauth],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        _wait_for_port(port, process, start_timeout)
        yield Azurite(port, "https" if tls else "http")
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


async def put_cost_export_run(
    endpoint: Azurite,
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
    data_version: str = "2023-07-01-preview",
    scope: str = "/providers/Microsoft.Billing/billingAccounts/8611537",
    parquet: bool = False,
    ca_bundle: Path | None = None,
) -> list[str]:
    """Uploads one Cost Management export run: a data part, then its ``manifest.json``.

    ``dataset`` is the manifest's exportConfig.type (ActualCost, AmortizedCost, FocusCost) and
    ``data_version`` its dataVersion; ``scope`` prefixes the export's resourceId; ``parquet`` names
    the part .parquet (``data`` is then Parquet bytes, never gzipped).
    """
    end = date(period.year + period.month // 12, period.month % 12 + 1, 1)
    run_id = uuid.uuid4().hex
    folder = f"{root}/{export_name}/{period:%Y%m%d}-{end:%Y%m%d}/{submitted.replace(':', '')}/{run_id}"
    gz = gz and not parquet
    part = f"{folder}/part_0_0001." + ("parquet" if parquet else "csv.gz" if gz else "csv")
    body = gzip.compress(data) if gz else data
    blobs = [part, *(extra_blobs or [])]
    manifest = {
        "blobCount": len(blobs),
        "dataRowCount": data.count(b"\n"),
        "exportConfig": {
            "exportName": export_name,
            "type": dataset,
            "dataVersion": data_version,
            "resourceId": f"{scope}/providers/Microsoft.CostManagement/exports/{export_name}",
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
    verify: dict[str, Any] = {"connection_verify": str(ca_bundle)} if ca_bundle else {}
    async with BlobServiceClient.from_connection_string(endpoint.connection_string(), **verify) as service:
        client = service.get_container_client(container)
        if not await client.exists():
            await client.create_container()
        await client.upload_blob(part, body, overwrite=True)
        if write_manifest:
            await client.upload_blob(f"{folder}/manifest.json", json.dumps(manifest).encode(), overwrite=True)
    return blobs


def free_port() -> int:
    """A loopback port free right now (an emulator or a test server binds it next)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_for_port(port: int, process: subprocess.Popen[bytes], timeout: float) -> None:
    def listening() -> bool:
        if process.poll() is not None:
            err = process.stderr.read().decode() if process.stderr else ""
            raise RuntimeError(f"Azurite exited before listening on port {port}: {err[-2000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            return False

    wait_until(listening, what=f"Azurite on port {port}", timeout=timeout)
