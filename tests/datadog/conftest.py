"""Datadog's cost endpoints on loopback (``cloudact_providers.datadog.loopback``) and the raw rows of a download."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from cloudact_providers.connector import ResolvedCredential
from cloudact_providers.datadog.loopback import DatadogCostApi
from cloudact_providers.loopback import Running, serving
from tests.rawrows import raw_rows as shared_raw_rows

API_KEY = "S3cr3t-CANARY-api-0c5f1d9e"
APPLICATION_KEY = "S3cr3t-CANARY-app-7b2e4a61"
"""Keys no message, row or repr may ever show."""


def this_month() -> date:
    today = datetime.now(UTC).date()
    return date(today.year, today.month, 1)


def months_back(count: int) -> date:
    """The first day of the month ``count`` months before this one (UTC)."""
    current = this_month()
    index = current.year * 12 + current.month - 1 - count
    return date(index // 12, index % 12 + 1, 1)


@dataclass
class Datadog:
    """The server's state (``api``), where it listens, and credentials for it."""

    server: DatadogCostApi
    running: Running

    def credential(self, **config: str) -> ResolvedCredential:
        return ResolvedCredential(
            "cred-datadog",
            "datadog",
            {"api_url": self.running.url, **config},
            {"api_key": API_KEY, "application_key": APPLICATION_KEY},
        )


@pytest.fixture
def datadog() -> Iterator[Datadog]:
    server = DatadogCostApi(API_KEY, APPLICATION_KEY)
    with serving(server.api) as running:
        yield Datadog(server, running)


def raw_rows(path: Path, source_object: str = "datadog-test") -> list[dict[str, Any]]:
    """The rows ``build_raw_select`` makes of one file (a fixed lineage)."""
    return shared_raw_rows("datadog", path, source_object)
