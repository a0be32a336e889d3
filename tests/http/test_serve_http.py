"""``cloudact serve --only http``: the HTTPS side alone, in front of services elsewhere (here: none,
so every call is the gateway's 503 for UNAVAILABLE), stopped cleanly by SIGTERM."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import httpx

from cloudact_cli.emulators import free_port
from cloudact_shared.readiness import await_until
from cloudact_shared.settings import CloudactSettings
from tests.http.conftest import tls_client


async def test_serve_only_http_against_unreachable_services(tmp_path: Path) -> None:
    port, dead = free_port(), free_port()
    env = {
        **os.environ,
        "CLOUDACT_DATA_DIR": str(tmp_path / "data"),
        "CLOUDACT_HTTP_ADDRESS": f"127.0.0.1:{port}",
        "CLOUDACT_INGEST_ADDRESS": f"127.0.0.1:{dead}",
        "CLOUDACT_HTTP_TIMEOUT_SECONDS": "5",
    }
    env.pop("CLOUDACT_TOKEN", None)
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "cloudact_cli.main",
        "serve",
        "--only",
        "http",
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    settings = CloudactSettings(data_dir=tmp_path / "data")
    try:

        async def healthy() -> bool:
            assert process.returncode is None, "cloudact serve exited early"
            if not settings.ca_path.exists():
                return False
            try:
                async with tls_client(settings, port) as client:
                    return (await client.get("/healthz")).status_code == 200
            except httpx.TransportError:
                return False

        await await_until(healthy, what="cloudact serve --only http", timeout=60, interval=0.3)
        async with tls_client(settings, port) as client:
            response = await client.get("/api/v1/orgs/acme/runs", headers={"authorization": "Bearer not-checked-here"})
        assert response.status_code == 503
        assert response.json()["code"] == "UNAVAILABLE"
        assert "not-checked-here" not in response.text
        process.send_signal(signal.SIGTERM)
        out, _ = await asyncio.wait_for(process.communicate(), timeout=30)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode == 0, out.decode()
    text = out.decode()
    assert f"http SERVING on https://127.0.0.1:{port}" in text and "http stopped" in text
    assert "not-checked-here" not in text
