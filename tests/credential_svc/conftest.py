"""Fixtures for credential_svc: a real server on 127.0.0.1:0 over a tmp data dir, and a real channel."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest

from cloudact_shared.clients import pipeline_identity
from cloudact_shared.gen.cloudact.credential.v1 import credential_service_pb2_grpc as pb_grpc
from cloudact_shared.server import BuiltServer
from cloudact_shared.settings import CloudactSettings
from credential_svc.server import build


@pytest.fixture
def settings(tmp_path: Path) -> CloudactSettings:
    # pipeline_token left unset on purpose: the token file path of resolved_pipeline_token() is used.
    return CloudactSettings(data_dir=tmp_path / "data", credential_address="127.0.0.1:0")


@pytest.fixture
async def built(settings: CloudactSettings) -> AsyncIterator[BuiltServer]:
    server = await build(settings, address="127.0.0.1:0")
    await server.start()
    try:
        yield server
    finally:
        await server.stop(0)


@pytest.fixture
async def channel(built: BuiltServer) -> AsyncIterator[grpc.aio.Channel]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{built.port}") as chan:
        yield chan


@pytest.fixture
def stub(channel: grpc.aio.Channel) -> pb_grpc.CredentialServiceStub:
    return pb_grpc.CredentialServiceStub(channel)


@pytest.fixture
def pipeline(settings: CloudactSettings) -> tuple[tuple[str, str], ...]:
    """Call metadata proving the pipeline identity."""
    return pipeline_identity(settings.resolved_pipeline_token())
