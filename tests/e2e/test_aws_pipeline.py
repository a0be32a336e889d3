"""AWS billing end to end: S3 (moto) -> ingest_svc -> raw Delta table -> focus_svc -> query_svc."""

from __future__ import annotations

import csv
import gc
import io
from datetime import date
from decimal import Decimal
from typing import Any

import grpc
import pyarrow.compute as pc
import pytest

from cloudact_providers.connector import ResolvedCredential
from cloudact_shared.gen.cloudact.query.v1 import query_service_pb2 as query_pb
from cloudact_shared.gen.cloudact.query.v1.query_service_pb2_grpc import QueryServiceStub
from cloudact_shared.lineage import LINEAGE_COLUMNS
from tests.channels import org_channel
from tests.conftest import LEGACY_CUR_SAMPLE, Services
from tests.e2e.helpers import (
    create_credential,
    error_reason,
    put_legacy_delivery,
    read_table,
    run_pipeline,
    table_version,
)

ORG = "acme"
NOV_2023 = date(2023, 11, 1)
RAW = "cloud_aws_billing_raw_daily"
FOCUS = "cost_data_standard_1_3"


def _sample_rows() -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(LEGACY_CUR_SAMPLE.read_text())))


def _csv_bytes(rows: list[dict[str, str]]) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode()


@pytest.fixture
def bucket(s3_client: Any, request: pytest.FixtureRequest) -> str:
    name = f"billing-{abs(hash(request.node.name)) % 10**8}"
    s3_client.create_bucket(Bucket=name)
    return name


async def test_legacy_cur_end_to_end_with_lineage_and_query(
    services: Services, s3_client: Any, s3_endpoint: str, bucket: str
) -> None:
    delivery = put_legacy_delivery(s3_client, bucket, "legacy-cur", LEGACY_CUR_SAMPLE.read_bytes(), NOV_2023)
    credential_id = await create_credential(services.settings, ORG, delivery, s3_endpoint)

    progress, result = await run_pipeline(services.settings, ORG, credential_id, NOV_2023)

    assert next(p.stage for p in progress) == 1  # STAGE_RESOLVING_CREDENTIAL first
    assert result.files_read == 1
    assert result.rows_read == 1281 == result.raw_rows_written
    assert result.rows_quarantined == 0
    assert result.focus_rows_written == 1281
    assert result.billing_periods == ["2023-11"]
    lineage = result.lineage
    assert lineage.pipeline_id == "aws/cost/billing" and lineage.credential_id == credential_id

    for table in (RAW, FOCUS):
        rows = read_table(services.settings, ORG, table)
        assert rows.num_rows == 1281
        for column in LINEAGE_COLUMNS:
            assert rows.column(column).null_count == 0, f"{table}.{column} has nulls"
        assert set(rows.column("x_run_id").to_pylist()) == {lineage.run_id}
        assert set(rows.column("x_credential_id").to_pylist()) == {credential_id}

    expected_billed = sum(Decimal(r["lineItem/UnblendedCost"] or "0") for r in _sample_rows())
    async with org_channel(services.settings, services.settings.query_address, ORG, role="viewer") as channel:
        answer = await QueryServiceStub(channel).QueryCosts(
            query_pb.QueryCostsRequest(
                org_slug=ORG,
                start_date="2023-11-01",
                end_date="2023-11-30",
                metrics=[query_pb.COST_METRIC_BILLED_COST],
                grain=query_pb.TIME_GRAIN_TOTAL,
            ),
            timeout=30,
        )
    # No decrypted credential outlives the run anywhere in the pipeline service.
    gc.collect()
    assert not [o for o in gc.get_objects() if isinstance(o, ResolvedCredential)]

    assert len(answer.rows) == 1
    assert Decimal(answer.rows[0].amounts["BilledCost"]) == expected_billed
    assert answer.rows[0].dimensions["BillingCurrency"] == "USD"


async def test_rerun_replaces_the_slice_without_duplicates(
    services: Services, s3_client: Any, s3_endpoint: str, bucket: str
) -> None:
    delivery = put_legacy_delivery(s3_client, bucket, "legacy-cur", LEGACY_CUR_SAMPLE.read_bytes(), NOV_2023)
    credential_id = await create_credential(services.settings, ORG, delivery, s3_endpoint)

    _, first = await run_pipeline(services.settings, ORG, credential_id, NOV_2023)
    before = {t: read_table(services.settings, ORG, t) for t in (RAW, FOCUS)}
    _, second = await run_pipeline(services.settings, ORG, credential_id, NOV_2023)
    after = {t: read_table(services.settings, ORG, t) for t in (RAW, FOCUS)}

    assert first.lineage.run_id != second.lineage.run_id
    for table in (RAW, FOCUS):
        assert after[table].num_rows == before[table].num_rows == 1281
        assert set(after[table].column("x_run_id").to_pylist()) == {second.lineage.run_id}
        data_columns = [c for c in after[table].column_names if not c.startswith("x_") and c != "ingestion_date"]
        sort_keys = [
            (c, "ascending")
            for c in data_columns
            if c in ("identity_line_item_id", "ChargeDescription", "BilledCost", "ResourceId", "ChargePeriodStart")
        ]
        assert (
            before[table]
            .select(data_columns)
            .sort_by(sort_keys)
            .equals(after[table].select(data_columns).sort_by(sort_keys))
        ), f"{table} changed between identical runs"


async def test_manifest_naming_a_missing_file_fails_and_keeps_previous_data(
    services: Services, s3_client: Any, s3_endpoint: str, bucket: str
) -> None:
    delivery = put_legacy_delivery(s3_client, bucket, "legacy-cur", LEGACY_CUR_SAMPLE.read_bytes(), NOV_2023)
    credential_id = await create_credential(services.settings, ORG, delivery, s3_endpoint)
    await run_pipeline(services.settings, ORG, credential_id, NOV_2023)
    versions = {t: table_version(services.settings, ORG, t) for t in (RAW, FOCUS)}

    put_legacy_delivery(
        s3_client,
        bucket,
        "legacy-cur",
        b"not,used\n1,2\n",
        NOV_2023,
        extra_manifest_keys=["legacy/legacy-cur/missing/part-2.csv.gz"],
    )
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await run_pipeline(services.settings, ORG, credential_id, NOV_2023)

    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "missing/part-2.csv.gz" in (caught.value.details() or "")
    assert error_reason(caught.value) == "MANIFEST_FILE_MISSING"
    assert {t: table_version(services.settings, ORG, t) for t in (RAW, FOCUS)} == versions
    assert read_table(services.settings, ORG, FOCUS).num_rows == 1281


async def test_not_a_cur_file_fails_cleanly_and_writes_nothing(
    services: Services, s3_client: Any, s3_endpoint: str, bucket: str
) -> None:
    delivery = put_legacy_delivery(s3_client, bucket, "legacy-cur", b"name,amount\nfoo,1\n", NOV_2023)
    credential_id = await create_credential(services.settings, ORG, delivery, s3_endpoint)

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await run_pipeline(services.settings, ORG, credential_id, NOV_2023)

    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "legacy-cur-00001.csv.gz" in (caught.value.details() or "")
    assert table_version(services.settings, ORG, RAW) is None
    assert table_version(services.settings, ORG, FOCUS) is None


async def test_unparsable_rows_are_quarantined_with_reasons_and_counted(
    services: Services, s3_client: Any, s3_endpoint: str, bucket: str
) -> None:
    rows = _sample_rows()
    rows[3]["lineItem/UnblendedCost"] = "twelve dollars"
    rows[7]["lineItem/UsageStartDate"] = "yesterday"
    delivery = put_legacy_delivery(s3_client, bucket, "legacy-cur", _csv_bytes(rows), NOV_2023)
    credential_id = await create_credential(services.settings, ORG, delivery, s3_endpoint)

    _, result = await run_pipeline(services.settings, ORG, credential_id, NOV_2023)

    assert result.rows_read == 1281
    assert result.rows_quarantined == 2
    assert result.raw_rows_written == 1279 == result.focus_rows_written
    assert sum(q.rows for q in result.quarantine) == 2
    quarantined = read_table(services.settings, ORG, "cloud_aws_billing_quarantine")
    reasons = " | ".join(quarantined.column("reason").to_pylist())
    assert "lineItem/UnblendedCost" in reasons and "twelve dollars" in reasons
    assert "lineItem/UsageStartDate" in reasons
    assert pc.all(pc.equal(quarantined.column("x_run_id"), result.lineage.run_id)).as_py()

    # Fixing the source and re-running clears the quarantine slice too.
    put_legacy_delivery(s3_client, bucket, "legacy-cur", LEGACY_CUR_SAMPLE.read_bytes(), NOV_2023)
    _, fixed = await run_pipeline(services.settings, ORG, credential_id, NOV_2023)
    assert fixed.rows_quarantined == 0
    assert read_table(services.settings, ORG, "cloud_aws_billing_quarantine").num_rows == 0


async def test_bad_requests_get_precise_statuses(
    services: Services, s3_client: Any, s3_endpoint: str, bucket: str
) -> None:
    delivery = put_legacy_delivery(s3_client, bucket, "legacy-cur", LEGACY_CUR_SAMPLE.read_bytes(), NOV_2023)
    credential_id = await create_credential(services.settings, ORG, delivery, s3_endpoint)

    cases = [
        ("Bad Org!", "aws", credential_id, grpc.StatusCode.INVALID_ARGUMENT, "INVALID_ORG_SLUG"),
        ("globex", "aws", credential_id, grpc.StatusCode.NOT_FOUND, None),  # another org's credential
        (ORG, "nosuchcloud", credential_id, grpc.StatusCode.NOT_FOUND, "UNKNOWN_PIPELINE"),
        (ORG, "aws", "no-such-credential", grpc.StatusCode.INVALID_ARGUMENT, "INVALID_CREDENTIAL_ID"),
        (ORG, "aws", "0b7c2f52-3f4e-4c1a-9d55-6a1f0e2b9c10", grpc.StatusCode.NOT_FOUND, None),
    ]
    for org, provider, cred, code, reason in cases:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await run_pipeline(services.settings, org, cred, NOV_2023, provider=provider)
        assert caught.value.code() == code, (org, provider, cred, caught.value.details())
        if reason:
            assert error_reason(caught.value) == reason


async def test_missing_manifest_is_not_found(services: Services, s3_client: Any, s3_endpoint: str, bucket: str) -> None:
    delivery = put_legacy_delivery(s3_client, bucket, "legacy-cur", LEGACY_CUR_SAMPLE.read_bytes(), NOV_2023)
    credential_id = await create_credential(services.settings, ORG, delivery, s3_endpoint)

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await run_pipeline(services.settings, ORG, credential_id, date(2024, 2, 1))

    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    assert error_reason(caught.value) == "MANIFEST_NOT_FOUND"
    assert "2024-02" in (caught.value.details() or "")


async def test_keys_aws_rejects_give_unauthenticated_without_leaking_the_secret(
    services: Services, s3_client: Any, s3_endpoint: str, bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import moto.settings

    delivery = put_legacy_delivery(s3_client, bucket, "legacy-cur", LEGACY_CUR_SAMPLE.read_bytes(), NOV_2023)
    credential_id = await create_credential(services.settings, ORG, delivery, s3_endpoint)
    # From here moto checks signatures against its IAM users, of which "testing" is not one.
    monkeypatch.setattr(moto.settings, "INITIAL_NO_AUTH_ACTION_COUNT", 0)

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await run_pipeline(services.settings, ORG, credential_id, NOV_2023)

    assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert error_reason(caught.value) == "SOURCE_UNAUTHENTICATED"
    assert "InvalidAccessKeyId" in (caught.value.details() or "")
    assert "testing" not in (caught.value.details() or "")
    assert table_version(services.settings, ORG, RAW) is None
