"""bqemulator (a BigQuery REST emulator on DuckDB) on loopback, for the GCP tests and ``make demo``.

bqemulator 1.4.0 runs from its own venv, ``.venv-bqemulator`` (``make install``, pinned by
``requirements-bqemulator.lock``): its pins (grpcio-tools<1.81, protobuf 6) conflict with the services'.
It runs ``INSTALL spatial`` at start-up and refuses to start when that download fails; the venv holds
the DuckDB extension wheels, whose files are linked into the DuckDB extension directory of a HOME
given to the subprocess, where DuckDB finds them and skips the download (no network needed).

The helpers below play Google's side: they create a billing export table with the export's real
nested schema (ingestion-time partitioned, as Google creates it) and stream rows into it with
``insert_rows`` (``load_table_from_json`` is broken on bqemulator: 400 on its multipart upload).
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import tempfile
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from google.api_core.client_options import ClientOptions
from google.auth.credentials import AnonymousCredentials
from google.cloud import bigquery

from cloudact_shared.readiness import wait_until

REPO = Path(__file__).resolve().parents[1]
VENV = REPO / ".venv-bqemulator"
DEFAULT_PROJECT = "acme-billing"

# DuckDB's platform directory names, by (system, machine).
_DUCKDB_PLATFORMS = {
    ("Linux", "x86_64"): "linux_amd64",
    ("Linux", "aarch64"): "linux_arm64",
    ("Darwin", "arm64"): "osx_arm64",
    ("Darwin", "x86_64"): "osx_amd64",
}
_ARROW_SCALARS = (
    (pa.types.is_string, "STRING"),
    (pa.types.is_floating, "FLOAT"),
    (pa.types.is_integer, "INTEGER"),
    (pa.types.is_decimal, "NUMERIC"),
    (pa.types.is_timestamp, "TIMESTAMP"),
    (pa.types.is_boolean, "BOOLEAN"),
    (pa.types.is_date, "DATE"),
)


@dataclass(frozen=True)
class BigQueryEmulator:
    """A running bqemulator: its REST endpoint and its Storage Read/Write API (plaintext gRPC)."""

    port: int
    project: str
    grpc_port: int = 0

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def grpc_endpoint(self) -> str:
        """``host:port`` of the Storage API, for a plaintext gRPC channel."""
        return f"127.0.0.1:{self.grpc_port}"

    def settings_overrides(self) -> dict[str, str]:
        """The CLOUDACT_* settings that point a BigQuery warehouse (BigQueryTableStore) at this emulator."""
        return {
            "CLOUDACT_WAREHOUSE": "bigquery",
            "CLOUDACT_BIGQUERY_PROJECT": self.project,
            "CLOUDACT_BIGQUERY_ENDPOINT": self.endpoint,
            "CLOUDACT_BIGQUERY_READ_ENDPOINT": self.grpc_endpoint,
        }

    def client(self) -> bigquery.Client:
        """A client for setting up data (Google's side); the connector builds its own from a credential."""
        return bigquery.Client(
            project=self.project,
            credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
            client_options=ClientOptions(api_endpoint=self.endpoint),
        )


def bqemulator_available(venv: Path = VENV) -> bool:
    """Whether ``make install`` has built the emulator's venv."""
    return (venv / "bin" / "bqemulator").is_file()


@contextmanager
def bigquery_emulator(
    *, project: str = DEFAULT_PROJECT, venv: Path = VENV, start_timeout: float = 60.0
) -> Iterator[BigQueryEmulator]:
    """Runs bqemulator (in memory) on a free loopback port until the block ends.

    The port is chosen by the emulator (``--rest-port 0``) and read from its JSON start-up log, so
    two emulators (or a busy port) never collide.
    """
    executable = venv / "bin" / "bqemulator"
    if not executable.is_file():
        raise RuntimeError(f"bqemulator is not installed in {venv} (run 'make install')")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
    env["HOME"] = str(_offline_home(venv))
    with tempfile.TemporaryDirectory(prefix="bqemulator-") as work:
        log = Path(work) / "bqemulator.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                [str(executable), "start", "--rest-host", "127.0.0.1", "--rest-port", "0",
                 "--grpc-host", "127.0.0.1", "--grpc-port", "0", "--ephemeral", "--project", project,
                 "--log-level", "info", "--log-format", "json"],
                stdout=out, stderr=subprocess.STDOUT, env=env, cwd=work,
            )  # fmt: skip
        try:
            port, grpc_port = _wait_until_ready(process, log, project, start_timeout)
            yield BigQueryEmulator(port, project, grpc_port)
        finally:
            _stop(process)


def _offline_home(venv: Path) -> Path:
    """A HOME whose ~/.duckdb/extensions holds the extension wheels' files (linked, else copied)."""
    home = venv / "home"
    machine = (platform.system(), platform.machine())
    if machine not in _DUCKDB_PLATFORMS:
        raise RuntimeError(f"no DuckDB extension platform known for {machine}")
    pattern = "lib/python*/site-packages/duckdb_extension_*/extensions/v*/*.duckdb_extension"
    for src in sorted(venv.glob(pattern)):
        dest = home / ".duckdb" / "extensions" / src.parent.name / _DUCKDB_PLATFORMS[machine] / src.name
        if dest.exists() and dest.stat().st_size == src.stat().st_size:
            continue
        dest.parent.mkdir(parents=True, exist_ok=True)
        partial = dest.with_name(f"{dest.name}.{os.getpid()}.partial")
        try:
            os.link(src, partial)
        except OSError:  # another file system: copy instead
            shutil.copyfile(src, partial)
        os.replace(partial, dest)  # atomic: a concurrent start never sees half a file
    return home


def _wait_until_ready(process: subprocess.Popen[bytes], log: Path, project: str, timeout: float) -> tuple[int, int]:
    """The REST and gRPC ports, once both are logged and REST answers."""

    def answering_ports() -> tuple[int, int] | None:
        if process.poll() is not None:
            raise RuntimeError(f"bqemulator exited ({process.returncode}):\n{log.read_text(errors='replace')[-3000:]}")
        port = _listening_port(log)
        grpc_port = _listening_port(log, event="grpc.listen")
        if port is None or grpc_port is None or not _answers(port, project):
            return None
        return port, grpc_port

    try:
        return wait_until(answering_ports, what="bqemulator", timeout=timeout)
    except (RuntimeError, TimeoutError):
        _stop(process)
        raise


def _listening_port(log: Path, *, event: str = "rest.listen") -> int | None:
    """The port from the emulator's ``event`` log line (``rest.listen``, ``grpc.listen``), once written."""
    for line in log.read_text(errors="replace").splitlines():
        if f'"{event}"' not in line:
            continue
        try:
            return int(json.loads(line)["port"])
        except (ValueError, KeyError, TypeError):
            return None
    return None


def _answers(port: int, project: str) -> bool:
    url = f"http://127.0.0.1:{port}/bigquery/v2/projects/{project}/datasets"
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return int(response.status) == 200
    except (urllib.error.URLError, OSError):
        return False


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


# -- Google's side: the export table, its rows, a service account key --------------------------------
def bigquery_schema(schema: pa.Schema) -> list[bigquery.SchemaField]:
    """The BigQuery schema of an Arrow schema (struct -> RECORD, list -> REPEATED)."""
    return [_schema_field(field) for field in schema]


def _schema_field(field: pa.Field) -> bigquery.SchemaField:
    kind = field.type
    if pa.types.is_list(kind):
        item = _schema_field(pa.field(field.name, kind.value_type))
        return bigquery.SchemaField(field.name, item.field_type, mode="REPEATED", fields=item.fields)
    if pa.types.is_struct(kind):
        children = [_schema_field(kind.field(i)) for i in range(kind.num_fields)]
        return bigquery.SchemaField(field.name, "RECORD", fields=children)
    for test, name in _ARROW_SCALARS:
        if test(kind):
            return bigquery.SchemaField(field.name, name)
    raise ValueError(f"no BigQuery type for {field.name}: {kind}")


def create_billing_export_table(
    client: bigquery.Client, table_id: str, schema: pa.Schema, *, location: str = "US"
) -> bigquery.Table:
    """Creates ``project.dataset.table`` (and its dataset) like Google's billing export: DAY
    partitions on ingestion time (``_PARTITIONTIME``), no partitioning column."""
    project, dataset, _ = table_id.split(".")
    ds = bigquery.Dataset(f"{project}.{dataset}")
    ds.location = location
    client.create_dataset(ds, exists_ok=True)
    table = bigquery.Table(table_id, schema=bigquery_schema(schema))
    table.time_partitioning = bigquery.TimePartitioning(type_=bigquery.TimePartitioningType.DAY)
    return client.create_table(table)


def load_export_rows(
    client: bigquery.Client, table: bigquery.Table, rows: Sequence[dict[str, Any]], *, chunk_rows: int = 2000
) -> None:
    """Streams ``rows`` into ``table`` (insertAll), as the export appends; the client turns datetimes
    and Decimals into the JSON BigQuery expects using the table's schema."""
    for start in range(0, len(rows), chunk_rows):
        errors = client.insert_rows(table, rows[start : start + chunk_rows])
        if errors:
            raise RuntimeError(f"bqemulator rejected rows: {errors[:3]}")


def throwaway_service_account(project: str) -> dict[str, str]:
    """A service account key in Google's JSON key format, with a fresh RSA key no one else holds."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    email = f"cloudact-billing-reader@{project}.iam.gserviceaccount.com"
    return {
        "type": "service_account",
        "project_id": project,
        "private_key_id": os.urandom(20).hex(),
        "private_key": pem,
        "client_email": email,
        "client_id": str(int.from_bytes(os.urandom(8), "big")),
        "auth_uri": "https://accounts.google.com/o/oauth2/auth",
        "token_uri": "https://oauth2.googleapis.com/token",
        "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
        "client_x509_cert_url": f"https://www.googleapis.com/robot/v1/metadata/x509/{email.replace('@', '%40')}",
        "universe_domain": "googleapis.com",
    }
