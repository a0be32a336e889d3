"""``cloudact serve``: four processes, each listing itself through reflection and answering health."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

GRPCURL = shutil.which("grpcurl", path=str(Path(sys.executable).parent)) or "grpcurl"
EXPECTED = {
    "credential": "cloudact.credential.v1.CredentialService",
    "ingest": "cloudact.pipeline.v1.PipelineService",
    "focus": "cloudact.focus.v1.FocusService",
    "query": "cloudact.query.v1.QueryService",
}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _grpcurl(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([GRPCURL, "-plaintext", *args], capture_output=True, text=True, timeout=30, check=False)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[dict[str, str], subprocess.Popen[bytes]]]:
    addresses = {name: f"127.0.0.1:{_free_port()}" for name in EXPECTED}
    env = {**os.environ, "CLOUDACT_DATA_DIR": str(tmp_path / "data")}
    env.update({f"CLOUDACT_{name.upper()}_ADDRESS": address for name, address in addresses.items()})
    process = subprocess.Popen([sys.executable, "-m", "cloudact_cli.main", "serve"], env=env)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if all(_grpcurl(a, "grpc.health.v1.Health/Check").returncode == 0 for a in addresses.values()):
            break
        assert process.poll() is None, "cloudact serve exited early"
        time.sleep(0.5)
    yield addresses, process
    if process.poll() is None:
        process.kill()


def test_grpcurl_lists_describes_and_health_checks_every_service(
    served: tuple[dict[str, str], subprocess.Popen[bytes]],
) -> None:
    addresses, process = served
    for name, address in addresses.items():
        listed = _grpcurl(address, "list")
        assert listed.returncode == 0, listed.stderr
        services = set(listed.stdout.split())
        assert {
            EXPECTED[name],
            "grpc.health.v1.Health",
            "grpc.reflection.v1alpha.ServerReflection",
        } <= services
        described = _grpcurl(address, "describe", EXPECTED[name])
        assert described.returncode == 0 and "rpc " in described.stdout, described.stderr
        health = _grpcurl("-d", json.dumps({"service": EXPECTED[name]}), address, "grpc.health.v1.Health/Check")
        assert json.loads(health.stdout)["status"] == "SERVING"

    bad = _grpcurl(
        "-d",
        '{"org_slug": "Not Valid"}',
        addresses["credential"],
        "cloudact.credential.v1.CredentialService/ListCredentials",
    )
    assert "InvalidArgument" in bad.stderr and "google.rpc.BadRequest" in bad.stderr

    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=30) == 0
