"""Fixtures for credential_svc: a real TLS server on 127.0.0.1:0 over a tmp data dir, and real channels.

``stub`` acts as an admin of ``ORG`` with a bearer token; ``stub_for(org, role)`` as any other
caller; ``pipeline_stub`` as ingest_svc over mutual TLS on the internal port (the only way to
DecryptCredential).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import grpc
import pytest

from cloudact_shared.auth import ensure_local_pki
from cloudact_shared.clients import open_channel
from cloudact_shared.gen.cloudact.credential.v1 import credential_service_pb2_grpc as pb_grpc
from cloudact_shared.server import BuiltServer
from cloudact_shared.settings import CloudactSettings
from credential_svc.server import build
from tests.channels import org_channel

ORG = "acme_corp"
OTHER_ORG = "globex_inc"
StubFor = Callable[..., pb_grpc.CredentialServiceStub]


@pytest.fixture
def settings(tmp_path: Path) -> CloudactSettings:
    configured = CloudactSettings(data_dir=tmp_path / "data", allow_endpoint_overrides=True)
    ensure_local_pki(configured)
    return configured


@pytest.fixture
async def built(settings: CloudactSettings) -> AsyncIterator[BuiltServer]:
    server = await build(settings, address="127.0.0.1:0", internal_address="127.0.0.1:0")
    await server.start()
    try:
        yield server
    finally:
        await server.stop(0)


@pytest.fixture
async def channel(settings: CloudactSettings, built: BuiltServer) -> AsyncIterator[grpc.aio.Channel]:
    async with org_channel(settings, f"127.0.0.1:{built.port}", ORG) as chan:
        yield chan


@pytest.fixture
def stub(channel: grpc.aio.Channel) -> pb_grpc.CredentialServiceStub:
    return pb_grpc.CredentialServiceStub(channel)


@pytest.fixture
async def stub_for(settings: CloudactSettings, built: BuiltServer) -> AsyncIterator[StubFor]:
    """Stubs acting as ``role`` of ``org`` (admin by default) on the public port."""
    channels: list[grpc.aio.Channel] = []

    def make(org: str, role: str = "admin") -> pb_grpc.CredentialServiceStub:
        channels.append(org_channel(settings, f"127.0.0.1:{built.port}", org, role))
        return pb_grpc.CredentialServiceStub(channels[-1])

    yield make
    for chan in channels:
        await chan.close()


@pytest.fixture
async def pipeline_stub(settings: CloudactSettings, built: BuiltServer) -> AsyncIterator[pb_grpc.CredentialServiceStub]:
    """ingest_svc's view: its certificate on the internal mutual-TLS port."""
    async with open_channel(settings, f"127.0.0.1:{built.internal_port}", service="ingest_svc") as chan:
        yield pb_grpc.CredentialServiceStub(chan)
