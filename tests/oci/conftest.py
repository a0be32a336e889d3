"""Fixtures of the OCI suite: a throwaway API key, the Object Storage fake, cost report bytes."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path

import pytest

from cloudact_cli.oci_object_storage import ApiKey, FakeObjectStorage, running
from tests.conftest import OCI_COST_REPORT

SAMPLE = OCI_COST_REPORT
PREFIX = "reports/cost-csv/"


def sample_rows() -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(SAMPLE.read_text())))


def csv_bytes(rows: list[dict[str, str]], fieldnames: list[str] | None = None) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=fieldnames or list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode()


@pytest.fixture(scope="session")
def api_key() -> ApiKey:
    return ApiKey()


@pytest.fixture
def object_storage(api_key: ApiKey) -> Iterator[FakeObjectStorage]:
    state = FakeObjectStorage()
    state.accept(api_key)
    with running(state) as server:
        yield server


FOCUS_FIXTURE = Path(__file__).resolve().parents[1] / "data/oci/focus_report_2025-01-14.csv"
"""OCI FOCUS report (1.0-preview names + oci_*), January 2025: 12 lines of 8 services, a correction
pair (…a10 corrected by …c11) and a correction whose original is not in the file (…c12)."""
FOCUS_PREFIX = "FOCUS Reports/"


def focus_rows() -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(FOCUS_FIXTURE.read_text())))
