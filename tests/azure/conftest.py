"""Azure fixtures: an Azurite blob server on loopback, export runs uploaded with the real async SDK."""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest
from azure.storage.blob.aio import BlobServiceClient

from cloudact_cli.convert import convert_files
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


def write_csv(path: Path, rows: list[dict[str, str]]) -> Path:
    """``rows`` as a CSV file at ``path`` (header from the first row)."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    path.write_text(out.getvalue())
    return path


def focus_rows(inputs: list[Path], tmp_path: Path) -> list[dict[str, Any]]:
    """The FOCUS rows ``cloudact convert`` makes of Azure ``inputs``; no row may be quarantined."""
    output = tmp_path / "focus.parquet"
    result = convert_files("azure", inputs, output)
    assert result.rows_quarantined == 0, result.quarantine_reasons
    cursor = duckdb.connect().execute(f"SELECT * FROM '{output}'")
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, r, strict=True)) for r in cursor.fetchall()]
