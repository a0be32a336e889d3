"""Snowflake helpers: fakesnow on loopback holding a generated organization, its users and roles; a download's rows."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import pytest

from cloudact_cli.convert import convert_files
from cloudact_providers.connector import ResolvedCredential
from cloudact_providers.snowflake.connector import SnowflakeBillingConnector
from cloudact_providers.snowflake.loopback import (
    ACCOUNT,
    ADMIN_ROLE,
    BILLING_ROLE,
    USAGE_ROLE,
    WAREHOUSE,
    FakeSnowflake,
    User,
    create_billing_views,
    fakesnow_available,
    fakesnow_server,
    key_pair,
    load_month,
)
from tests.rawrows import raw_rows as shared_raw_rows

PASSWORD = "S3cr3t-CANARY-pw-0c5f1d9e"
ADMIN_PASSWORD = "S3cr3t-CANARY-admin-7b2e4a61"
"""Passwords no message, row or repr may ever show."""
DEC, JAN, FEB = date(2025, 12, 1), date(2026, 1, 1), date(2026, 2, 1)
NO_GRANTS_ROLE = "NOBODY"


@dataclass(frozen=True)
class Organization:
    """fakesnow holding December 2025 (ORGANIZATION_USAGE only) and January 2026 (both views), its users'
    credentials, and a private key whose public key is registered for ``KEYED``."""

    server: FakeSnowflake
    private_key: str

    def credential(
        self, user: str = "FINOPS", secret: dict[str, str] | None = None, **config: str
    ) -> ResolvedCredential:
        settings = {"account": ACCOUNT, "user": user, "warehouse": WAREHOUSE, "endpoint": self.server.url, **config}
        return ResolvedCredential("cred-snowflake", "snowflake", settings, secret or {"password": PASSWORD})


@pytest.fixture(scope="session")
def organization() -> Iterator[Organization]:
    assert fakesnow_available(), "fakesnow is not installed: run `make install` (it builds .venv-fakesnow)"
    private_key, public_key = key_pair()
    users = {
        "SETUP": User((ADMIN_ROLE,), password=ADMIN_PASSWORD),
        # FOCUS view and ORGANIZATION_USAGE; its default role reads ORGANIZATION_USAGE only.
        "FINOPS": User((USAGE_ROLE, BILLING_ROLE, NO_GRANTS_ROLE), password=PASSWORD),
        "KEYED": User((BILLING_ROLE,), public_key=public_key),
    }
    grants = {
        "SNOWFLAKE.BILLING": [ADMIN_ROLE, BILLING_ROLE],
        "SNOWFLAKE.ORGANIZATION_USAGE": [ADMIN_ROLE, BILLING_ROLE, USAGE_ROLE],
    }
    with fakesnow_server(users, grants) as server:
        setup = server.connect("SETUP", ADMIN_PASSWORD, ADMIN_ROLE)
        try:
            create_billing_views(setup)
            load_month(setup, DEC)
            load_month(setup, JAN)
        finally:
            setup.close()
        yield Organization(server, private_key)


async def download_months(
    credential: ResolvedCredential, periods: list[date], work: Path, **options: Any
) -> dict[date, Path]:
    """One run of the connector: list, then download each month as the pipeline does."""
    files: dict[date, Path] = {}
    await asyncio.to_thread(work.mkdir, parents=True, exist_ok=True)
    async with SnowflakeBillingConnector(credential, **options) as source:
        for index, obj in enumerate(await source.list_objects(periods)):
            dest = work / f"{index:05d}-{Path(obj.key).name}"
            await source.download(obj, dest)
            files[obj.billing_period] = dest
    return files


def raw_rows(path: Path, source_object: str = "snowflake-test") -> list[dict[str, Any]]:
    """The rows ``build_raw_select`` makes of one file (a fixed lineage)."""
    return shared_raw_rows("snowflake", path, source_object)


def focus_rows(paths: list[Path], work: Path) -> list[dict[str, Any]]:
    """The FOCUS rows ``cloudact convert --provider snowflake`` makes of downloads."""
    output = work / "focus.parquet"
    convert_files("snowflake", paths, output, threads=2)
    cursor = duckdb.connect().execute(f"SELECT * FROM read_parquet('{output}')")
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
