"""Fixtures for query_svc: the hand-made FOCUS table and a real server on loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from cloudact_shared.auth import ensure_local_pki
from cloudact_shared.gen.cloudact.query.v1 import query_service_pb2_grpc as pb_grpc
from cloudact_shared.settings import CloudactSettings
from cloudact_shared.storage.embedded import EmbeddedTableStore
from query_svc.server import build
from tests.channels import org_channel
from tests.query_svc.focus_data import ORG, acme_rows, write_focus


@pytest.fixture(scope="module")
def shared_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedTableStore]:
    """A read-only table shared by the tests of a module (written once)."""
    store = EmbeddedTableStore(tmp_path_factory.mktemp("lake"))
    write_focus(store, acme_rows())
    yield store


@pytest.fixture
def own_store(tmp_path: Path) -> EmbeddedTableStore:
    """A table of the test's own, for tests that write to it."""
    store = EmbeddedTableStore(tmp_path)
    write_focus(store, acme_rows())
    return store


def tls_settings(data_dir: Path) -> CloudactSettings:
    """Settings over ``data_dir`` with the local CA and certificates issued."""
    settings = CloudactSettings(data_dir=data_dir)
    ensure_local_pki(settings)
    return settings


async def _serve(store: EmbeddedTableStore, data_dir: Path, org: str = ORG) -> AsyncIterator[pb_grpc.QueryServiceStub]:
    settings = tls_settings(data_dir)
    built = await build(settings, address="127.0.0.1:0", store=store)
    await built.start()
    try:
        async with org_channel(settings, f"127.0.0.1:{built.port}", org, "viewer") as channel:
            yield pb_grpc.QueryServiceStub(channel)
    finally:
        await built.stop()


@pytest.fixture
async def stub(shared_store: EmbeddedTableStore, tmp_path: Path) -> AsyncIterator[pb_grpc.QueryServiceStub]:
    """A client of a real query_svc over the shared table."""
    async for client in _serve(shared_store, tmp_path):
        yield client


@pytest.fixture
async def own_stub(own_store: EmbeddedTableStore, tmp_path: Path) -> AsyncIterator[pb_grpc.QueryServiceStub]:
    """A client of a real query_svc over the test's own table."""
    async for client in _serve(own_store, tmp_path):
        yield client


@pytest.fixture
async def globex_stub(shared_store: EmbeddedTableStore, tmp_path: Path) -> AsyncIterator[pb_grpc.QueryServiceStub]:
    """A viewer of ``globex``, an org with no FOCUS table, on the same server data."""
    async for client in _serve(shared_store, tmp_path, "globex"):
        yield client
