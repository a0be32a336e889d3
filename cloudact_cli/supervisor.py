"""``cloudact serve``: the four services as four child processes, health-checked and stopped together,
and the in-process components that run beside them (the pipeline scheduler)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from cloudact_shared.auth.files import write_atomically
from cloudact_shared.auth.tls import ensure_local_pki
from cloudact_shared.clients import open_channel
from cloudact_shared.readiness import await_until
from cloudact_shared.server import BuiltServer
from cloudact_shared.settings import CloudactSettings

SERVICES = ("credential_svc", "focus_svc", "query_svc", "ingest_svc")
"""Start order: ingest_svc last, it dials the others."""


class ServeComponent(Protocol):
    """Something ``cloudact serve`` runs in its own process once the services serve (the scheduler;
    later an HTTP gateway or a dashboard): started after them, stopped before them."""

    name: str

    async def start(self, settings: CloudactSettings) -> None:
        """Starts it; ``settings`` carry the addresses the services are serving on."""
        ...

    async def stop(self) -> None:
        """Stops it gracefully (called once, on SIGINT/SIGTERM or when a service died)."""
        ...


def public_address(settings: CloudactSettings, service: str) -> str:
    """Where ``service`` answers callers (and health checks)."""
    return settings.service_addresses(service)[0]


async def wait_healthy(settings: CloudactSettings, address: str, *, timeout: float) -> None:
    """Polls grpc.health.v1 on ``address`` (over TLS; health needs no token) until SERVING.

    Raises:
        TimeoutError: when it is not SERVING within ``timeout`` seconds.
    """
    async with open_channel(settings, address) as channel:
        stub = health_pb2_grpc.HealthStub(channel)

        async def serving() -> bool:
            try:
                reply = await stub.Check(health_pb2.HealthCheckRequest(), timeout=1.0)
            except grpc.aio.AioRpcError:
                return False
            return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)

        await await_until(serving, what=f"SERVING health status from {address}", timeout=timeout, interval=0.2)


def service_environment(settings: CloudactSettings) -> dict[str, str]:
    """``CLOUDACT_*`` variables that give a child service the settings this process was given
    explicitly (paths made absolute); a caller's token is never handed to a service."""
    env = {"CLOUDACT_DATA_DIR": str(settings.data_dir.resolve())}
    for name in settings.model_fields_set - {"token", "data_dir"}:
        value = getattr(settings, name)
        if value is None:
            continue
        text = (
            str(value.resolve())
            if isinstance(value, Path)
            else str(value).lower()
            if isinstance(value, bool)
            else str(value)
        )
        env[f"CLOUDACT_{name.upper()}"] = text
    return env


async def start_services(
    settings: CloudactSettings, names: Sequence[str], *, log: Callable[[str], None], timeout: float = 60.0
) -> tuple[list[asyncio.subprocess.Process], CloudactSettings]:
    """Starts each service as ``python -m NAME``, one after the other, each once the previous serves.

    Each child writes the ports it bound to a ready file; the next child (ingest_svc dials the
    others) and the health check get those, so an address ending in ``:0`` works everywhere.

    Returns:
        The processes, and the settings with every address at the port its service bound.
    """
    processes: list[asyncio.subprocess.Process] = []
    with tempfile.TemporaryDirectory(prefix="cloudact-serve-") as ready_dir:
        try:
            for name in names:
                ready = Path(ready_dir) / f"{name}.json"
                env = {**os.environ, **service_environment(settings), "CLOUDACT_READY_FILE": str(ready)}
                process = await asyncio.create_subprocess_exec(sys.executable, "-m", name, env=env)
                processes.append(process)
                settings = await _bound(settings, name, process, ready, timeout)
                await wait_healthy(settings, public_address(settings, name), timeout=timeout)
                log(f"{name} SERVING on {', '.join(settings.service_addresses(name))} (pid {process.pid})")
        except BaseException:
            await stop_services(processes, grace=5.0)
            raise
    return processes, settings


async def _bound(
    settings: CloudactSettings, name: str, process: asyncio.subprocess.Process, ready: Path, timeout: float
) -> CloudactSettings:
    """``settings`` with ``name``'s addresses at the ports it reports in ``ready`` once serving."""

    async def reported() -> dict[str, int | None] | None:
        if process.returncode is not None:
            raise RuntimeError(f"{name} exited with code {process.returncode} before it was serving")
        return await asyncio.to_thread(_read_ports, ready)

    ports = await await_until(reported, what=f"{name}'s bound ports", timeout=timeout)
    return settings.with_ports(name, int(ports["port"] or 0), ports.get("internal_port"))


def _read_ports(ready: Path) -> dict[str, int | None] | None:
    if not ready.exists():
        return None
    ports: dict[str, int | None] = json.loads(ready.read_text())
    return ports


async def stop_services(processes: Sequence[asyncio.subprocess.Process], *, grace: float) -> None:
    """SIGTERM to every child (graceful shutdown), SIGKILL to any still running after ``grace``."""
    for process in processes:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
    for process in processes:
        try:
            await asyncio.wait_for(process.wait(), timeout=grace + 5)
        except TimeoutError:
            process.kill()
            await process.wait()


async def supervise(
    settings: CloudactSettings,
    names: Sequence[str],
    *,
    log: Callable[[str], None],
    addresses_file: Path | None = None,
    components: Sequence[ServeComponent] = (),
) -> int:
    """Runs the services and ``components`` until SIGINT/SIGTERM or until a service dies; returns the exit code.

    Once all serve, ``addresses_file`` (when given) receives ``{service: [address, ...]}`` as JSON,
    then the components start (in order; they are stopped in reverse order, before the services).
    """
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    processes, settings = await start_services(settings, names, log=log)
    if addresses_file is not None:
        bound = {name: settings.service_addresses(name) for name in names}
        write_atomically(addresses_file, json.dumps(bound).encode(), mode=0o644)
    started: list[ServeComponent] = []
    stopper = asyncio.create_task(stop.wait())
    try:
        for component in components:
            await component.start(settings)
            started.append(component)
        waits = [asyncio.create_task(p.wait()) for p in processes]
        done, _ = await asyncio.wait({stopper, *waits}, return_when=asyncio.FIRST_COMPLETED)
        failed = stopper not in done
        if failed:
            log("a service exited; stopping the others")
    finally:
        for component in reversed(started):
            await component.stop()
            log(f"{component.name} stopped")
        await stop_services(processes, grace=settings.shutdown_grace_seconds)
        stopper.cancel()
    return 1 if failed else 0


async def start_in_process(settings: CloudactSettings) -> tuple[CloudactSettings, dict[str, BuiltServer]]:
    """Builds and starts the four services in this process on ephemeral loopback ports (tests, benchmarks).

    Creates the local TLS material first when the CA is missing. Returns the settings updated with
    the addresses the services got, and the running servers.
    """
    from credential_svc.server import build as build_credential
    from focus_svc.server import build as build_focus
    from ingest_svc.server import build as build_ingest
    from query_svc.server import build as build_query

    if not settings.ca_path.exists():
        await asyncio.to_thread(ensure_local_pki, settings)
    servers: dict[str, BuiltServer] = {}
    loopback = "127.0.0.1:0"
    # ingest_svc last: it dials the others, so it is built once their addresses are known.
    servers["credential_svc"] = await build_credential(settings, address=loopback, internal_address=loopback)
    servers["focus_svc"] = await build_focus(settings, address=loopback, internal_address=loopback)
    servers["query_svc"] = await build_query(settings, address=loopback)
    settings = settings.model_copy(
        update={
            "credential_address": f"127.0.0.1:{servers['credential_svc'].port}",
            "credential_internal_address": f"127.0.0.1:{servers['credential_svc'].internal_port}",
            "focus_address": f"127.0.0.1:{servers['focus_svc'].port}",
            "focus_internal_address": f"127.0.0.1:{servers['focus_svc'].internal_port}",
            "query_address": f"127.0.0.1:{servers['query_svc'].port}",
        }
    )
    servers["ingest_svc"] = await build_ingest(settings, address=loopback)
    settings = settings.model_copy(update={"ingest_address": f"127.0.0.1:{servers['ingest_svc'].port}"})
    for server in servers.values():
        await server.start()
    return settings, servers
