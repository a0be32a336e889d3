"""Pipeline runs over damaged and empty deliveries, through the four services (S3 on moto, loopback).

A header-only file the manifest lists is the period's valid empty slice: the run replaces the
period's raw and FOCUS rows with nothing and succeeds. A file with ragged rows and mixed line
endings loads its good rows; each bad one lands in the quarantine table with its row number, its
text and its reason, and the run's count is the table's.
"""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import pytest

from tests.cli.csvedit import read_rows, write_rows
from tests.conftest import LEGACY_CUR_SAMPLE, Services
from tests.e2e.helpers import create_credential, put_legacy_delivery, read_table, run_pipeline

ORG = "acme"
NOV_2023 = date(2023, 11, 1)
RAW = "cloud_aws_billing_raw_daily"
QUARANTINE = "cloud_aws_billing_quarantine"
FOCUS = "cost_data_standard_1_3"


@pytest.fixture
def bucket(s3_client: Any, request: pytest.FixtureRequest) -> str:
    name = f"tolerant-{abs(hash(request.node.name)) % 10**8}"
    s3_client.create_bucket(Bucket=name)
    return name


def _slice(services: Services, table: str, credential_id: str) -> list[dict[str, Any]]:
    rows = read_table(services.settings, ORG, table).to_pylist()
    return [row for row in rows if row["x_credential_id"] == credential_id]


async def test_a_header_only_delivery_empties_its_period(
    services: Services, s3_client: Any, s3_endpoint: str, bucket: str, tmp_path: Any
) -> None:
    header, rows = read_rows(LEGACY_CUR_SAMPLE)
    full = write_rows(tmp_path / "full.csv", header, rows[:10]).read_bytes()
    empty = write_rows(tmp_path / "empty.csv", header, []).read_bytes()
    delivery = put_legacy_delivery(s3_client, bucket, "cur", full, NOV_2023)
    credential_id = await create_credential(services.settings, ORG, delivery, s3_endpoint)
    _, first = await run_pipeline(services.settings, ORG, credential_id, NOV_2023)
    assert first.raw_rows_written == 10 and len(_slice(services, FOCUS, credential_id)) == 10

    put_legacy_delivery(s3_client, bucket, "cur", empty, NOV_2023)  # the period restated: no charges
    progress, result = await run_pipeline(services.settings, ORG, credential_id, NOV_2023)

    assert (result.files_read, result.rows_read, result.raw_rows_written, result.rows_quarantined) == (1, 0, 0, 0)
    assert result.focus_rows_written == 0 and result.lineage.run_id != first.lineage.run_id
    assert _slice(services, RAW, credential_id) == [] and _slice(services, FOCUS, credential_id) == []
    assert any("the export holds no rows for 2023-11" in event.message for event in progress)


async def test_ragged_rows_land_in_the_quarantine_table_one_by_one(
    services: Services, s3_client: Any, s3_endpoint: str, bucket: str, tmp_path: Any
) -> None:
    header, rows = read_rows(LEGACY_CUR_SAMPLE)
    rows = rows[:50]
    rows[9] = rows[9][:-2]
    rows[29] = [*rows[29], "x", "y"]
    body = write_rows(tmp_path / "ragged.csv", header, rows, endings="mixed").read_bytes()
    delivery = put_legacy_delivery(s3_client, bucket, "cur", body, NOV_2023)
    credential_id = await create_credential(services.settings, ORG, delivery, s3_endpoint)

    _, result = await run_pipeline(services.settings, ORG, credential_id, NOV_2023)

    assert (result.rows_read, result.raw_rows_written, result.rows_quarantined) == (50, 48, 2)
    quarantined = sorted(_slice(services, QUARANTINE, credential_id), key=lambda row: row["source_row_number"])
    assert [row["source_row_number"] for row in quarantined] == [10, 30]
    short = f"the row has {len(header) - 2} of the header's {len(header)} fields"
    long = f"the row has more fields than the header's {len(header)}"
    assert [row["reason"].split(":")[0] for row in quarantined] == [short, long]
    assert rows[9][0] in json.loads(quarantined[0]["record"]).values()
    assert json.loads(quarantined[1]["record"])["(fields past the header)"] == "x"
    assert {q.reason: q.rows for q in result.quarantine} == {short: 1, long: 1}
    assert len(_slice(services, FOCUS, credential_id)) == 48
