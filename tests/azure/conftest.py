"""Azure fixtures: an Azurite blob server on loopback, export runs uploaded with the real async SDK."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from azure.storage.blob.aio import BlobServiceClient

from cloudact_cli.emulators import AZURITE_ACCOUNT as ACCOUNT
from cloudact_cli.emulators import AZURITE_KEY as ACCOUNT_KEY
from cloudact_cli.emulators import Azurite, azurite_available
from cloudact_cli.emulators import azurite as run_azurite
from cloudact_cli.emulators import put_cost_export_run as put_run
from tests.conftest import EA_ACTUAL, EA_AMORTIZED
from tests.conftest import EA_FOCUS_CONVERTERS as FFS_ACTUAL

__all__ = ["ACCOUNT", "ACCOUNT_KEY", "EA_ACTUAL", "EA_AMORTIZED", "FFS_ACTUAL", "Azurite", "put_run", "sample_bytes"]


@pytest.fixture(scope="session")
def azurite() -> Iterator[Azurite]:
    """Azurite (blob only) on a free loopback port for the session."""
    assert azurite_available(), "Azurite is not installed: run `make install` (npm azurite@3.35.0)"
    with run_azurite() as endpoint:
        yield endpoint


@pytest.fixture
async def container(azurite: Azurite, request: pytest.FixtureRequest) -> AsyncIterator[str]:
    name = f"exports-{uuid.uuid4().hex[:12]}"
    async with BlobServiceClient.from_connection_string(azurite.connection_string()) as service:
        await service.create_container(name)
        yield name


def sample_bytes(path: Path) -> bytes:
    return path.read_bytes()
