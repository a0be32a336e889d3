"""One org, many writers at once: parallel pipelines and parallel conversions all succeed, exactly once.

Testers saw 4 pipelines of one org run at once fail in every round but one (a Delta commit conflict
on the shared raw table, reported as FAILED_PRECONDITION), and concurrent ConvertToFocus calls
conflict the same way on the FOCUS table.
"""

from __future__ import annotations

import asyncio
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow.compute as pc
import pytest

from cloudact_providers.aws.synthetic import generate_legacy_cur_csv
from cloudact_shared.clients import open_channel
from cloudact_shared.gen.cloudact.focus.v1 import focus_service_pb2 as focus_pb
from cloudact_shared.gen.cloudact.focus.v1.focus_service_pb2_grpc import FocusServiceStub
from tests.conftest import Services
from tests.e2e.helpers import create_credential, put_legacy_delivery, read_table, run_pipeline

ORG = "acme"
JAN_2025 = date(2025, 1, 1)
PIPELINES = 4
ROWS = 2_000


@pytest.fixture
def bucket(s3_client: Any) -> str:
    s3_client.create_bucket(Bucket="parallel-billing")
    return "parallel-billing"


def _billed_by_credential(services: Services, table: str, cost_column: str) -> dict[str, Decimal]:
    rows = read_table(services.settings, ORG, table)
    totals: dict[str, Decimal] = {}
    grouped = rows.group_by("x_credential_id").aggregate([(cost_column, "sum"), (cost_column, "count")])
    for entry in grouped.to_pylist():
        totals[entry["x_credential_id"]] = Decimal(str(entry[f"{cost_column}_sum"]))
    return totals


@pytest.mark.timeout(600)
async def test_four_pipelines_and_three_conversions_of_one_org_at_once(
    services: Services, s3_client: Any, s3_endpoint: str, bucket: str, tmp_path: Path
) -> None:
    credentials = []
    for index in range(PIPELINES):
        export = generate_legacy_cur_csv(tmp_path / f"cur-{index}.csv", ROWS, seed=index + 1, billing_period=JAN_2025)
        delivery = put_legacy_delivery(s3_client, bucket, f"cur-{index}", export.read_bytes(), JAN_2025)
        credentials.append(await create_credential(services.settings, ORG, delivery, s3_endpoint))

    runs = await asyncio.gather(*(run_pipeline(services.settings, ORG, c, JAN_2025) for c in credentials))

    results = [result for _, result in runs]
    assert all(result.raw_rows_written == ROWS for result in results)
    raw = read_table(services.settings, ORG, "cloud_aws_billing_raw_daily")
    focus = read_table(services.settings, ORG, "cost_data_standard_1_3")
    assert raw.num_rows == PIPELINES * ROWS
    for result, credential in zip(results, credentials, strict=True):
        mine = pc.equal(raw["x_credential_id"], credential)
        assert pc.sum(mine).as_py() == ROWS  # nothing lost, nothing duplicated
        assert set(raw.filter(mine)["x_run_id"].to_pylist()) == {result.lineage.run_id}
        in_focus = focus.filter(pc.equal(focus["x_credential_id"], credential))
        assert in_focus.num_rows == result.focus_rows_written > 0
        assert set(in_focus["x_run_id"].to_pylist()) == {result.lineage.run_id}
    focus_before = _billed_by_credential(services, "cost_data_standard_1_3", "BilledCost")

    # Three conversions of three runs' slices at once, as ingest_svc (the only caller allowed).
    address = services.settings.focus_internal_address
    async with open_channel(services.settings, address, service="ingest_svc") as channel:
        stub = FocusServiceStub(channel)
        converted = await asyncio.gather(
            *(
                stub.ConvertToFocus(
                    focus_pb.ConvertToFocusRequest(
                        org_slug=ORG, provider="aws", lineage=result.lineage, billing_periods=["2025-01"]
                    ),
                    timeout=300,
                )
                for result in results[:3]
            )
        )
    assert [c.focus_rows_written for c in converted] == [r.focus_rows_written for r in results[:3]]
    assert read_table(services.settings, ORG, "cost_data_standard_1_3").num_rows == focus.num_rows
    assert _billed_by_credential(services, "cost_data_standard_1_3", "BilledCost") == focus_before
