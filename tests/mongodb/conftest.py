"""The Atlas Admin API's billing endpoints on loopback (``cloudact_providers.mongodb.loopback``) and raw rows."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from cloudact_providers.connector import ResolvedCredential
from cloudact_providers.loopback import Running, serving
from cloudact_providers.mongodb.loopback import AtlasBillingApi
from cloudact_providers.mongodb.synthetic import ORG_ID
from tests.rawrows import raw_rows as shared_raw_rows

CLIENT_ID = "mdb_sa_id_65f0c1d2e3a4b5c6d7e8f901"
CLIENT_SECRET = "S3cr3t-CANARY-mdb-sa-sk-4f1e9a"
"""The service account's secret: no message, row or repr may ever show it."""


@dataclass
class Atlas:
    """The server's state, where it listens, and credentials for it."""

    server: AtlasBillingApi
    running: Running

    def credential(self, secret: str = CLIENT_SECRET, **config: str) -> ResolvedCredential:
        return ResolvedCredential(
            "cred-mongodb",
            "mongodb",
            {"org_id": ORG_ID, "api_url": self.running.url, **config},
            {"client_id": CLIENT_ID, "client_secret": secret},
        )


def atlas_server(**options: Any) -> Iterator[Atlas]:
    server = AtlasBillingApi(ORG_ID, CLIENT_ID, CLIENT_SECRET, **options)
    with serving(server.api) as running:
        yield Atlas(server, running)


@pytest.fixture
def atlas() -> Iterator[Atlas]:
    yield from atlas_server()


def raw_rows(path: Path, source_object: str = "mongodb-test") -> list[dict[str, Any]]:
    """The rows ``build_raw_select`` makes of one file (a fixed lineage)."""
    return shared_raw_rows("mongodb", path, source_object)
