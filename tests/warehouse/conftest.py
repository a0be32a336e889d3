"""bqemulator for the warehouse tests, and a BigQueryTableStore on it with a dataset prefix per test."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from cloudact_cli.bigquery_emulator import BigQueryEmulator, bigquery_emulator, bqemulator_available
from cloudact_shared.storage.bigquery import BigQueryTableStore


@pytest.fixture(scope="session")
def emulator() -> Iterator[BigQueryEmulator]:
    """bqemulator (REST + Storage API gRPC) on free loopback ports for the session."""
    assert bqemulator_available(), "bqemulator is not installed: run `make install` (it builds .venv-bqemulator)"
    with bigquery_emulator() as running:
        yield running


def make_store(emulator: BigQueryEmulator, **options: object) -> BigQueryTableStore:
    """A store on the emulator whose datasets carry a fresh prefix, so tests never share a table."""
    return BigQueryTableStore(
        emulator.project,
        endpoint=emulator.endpoint,
        read_endpoint=emulator.grpc_endpoint,
        dataset_prefix=f"t{uuid.uuid4().hex[:10]}_",
        api_deadline=10.0,
        **options,  # type: ignore[arg-type]
    )


@pytest.fixture
def store(emulator: BigQueryEmulator) -> BigQueryTableStore:
    return make_store(emulator)
