"""EventsService.UploadEvents through the four services in-process: per-event errors, idempotency by
event_id, FOCUS rows whose ServiceProviderName is the event's cloud, and who may upload."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from cloudact_providers.datahub.events import credential_id_for, inbox_dir, upload_files
from cloudact_shared.clients import open_channel
from cloudact_shared.gen.cloudact.credential.v1 import credential_service_pb2 as cred_pb
from cloudact_shared.gen.cloudact.credential.v1.credential_service_pb2_grpc import CredentialServiceStub
from cloudact_shared.gen.cloudact.events.v1 import events_service_pb2 as pb
from cloudact_shared.gen.cloudact.events.v1.events_service_pb2_grpc import EventsServiceStub
from cloudact_shared.gen.cloudact.pipeline.v1 import pipeline_service_pb2 as pipe_pb
from tests.channels import org_channel
from tests.conftest import Services
from tests.datahub.helpers import ORG, event, focus_rows, raw_table, upload, without_run
from tests.e2e.helpers import error_reason, get_run, run_pipeline

JANUARY = datetime(2025, 1, 1, tzinfo=UTC)
FEBRUARY = datetime(2025, 2, 1, tzinfo=UTC)


async def test_good_events_land_and_each_bad_one_is_answered(services: Services) -> None:
    first = [
        event("snow-1", labels=[{"key": "team", "value": "data"}]),
        event("bad-cost", cost="12,50"),
        event("gcp-1", cloud="GCP", service_description="Compute Engine", service_id="6F81-5844-456A",
              project_id="123456789012", region="us-central1", cost="0.75"),
    ]  # fmt: skip
    second = [
        event("no-currency", currency="", usage_date_time="not a time"),
        event("atlas-1", cloud="MongoDB Atlas", service_description="Atlas Cluster", usage_date_time="2025-01-31"),
    ]

    response = await upload(services.settings, [first, second])

    assert (response.accepted, response.rejected) == (3, 2)
    errors = [(e.row, e.event_id, e.field, e.reason) for e in response.errors]
    assert errors == [
        (1, "bad-cost", "cost", "not a decimal number"),
        (3, "no-currency", "usage_date_time", errors[1][3]),
        (3, "no-currency", "currency", "Field required"),
    ]
    assert errors[1][3].startswith("not an ISO 8601 date or date-time") and not response.errors_truncated
    assert response.credential_id == credential_id_for(ORG)
    run = response.run
    assert run.lineage.pipeline_id == "datahub/cost/billing" and list(run.billing_periods) == ["2025-01"]
    assert (run.raw_rows_written, run.rows_quarantined, run.focus_rows_written) == (3, 0, 3)
    rows = focus_rows(services.settings)
    by_id = {r["ServiceProviderName"]: r for r in rows}
    assert sorted(by_id) == ["GCP", "MongoDB Atlas", "Snowflake"]
    assert {r["x_source_provider"] for r in rows} == {"datahub"}
    assert {r["x_credential_id"] for r in rows} == {response.credential_id}
    assert {r["x_run_id"] for r in rows} == {run.lineage.run_id}
    assert by_id["GCP"]["ServiceCategory"] == "Compute" and by_id["GCP"]["SubAccountId"] == "123456789012"
    assert by_id["Snowflake"]["Tags"] == '{"team":"data"}'
    assert by_id["MongoDB Atlas"]["ChargePeriodStart"] == datetime(2025, 1, 31, tzinfo=UTC)
    raw = raw_table(services.settings).to_pylist()
    assert sorted(r["event_id"] for r in raw) == ["atlas-1", "gcp-1", "snow-1"]
    assert {r["source_object"] for r in raw} == {f"datahub://{ORG}/{upload_files(_inbox(services))[0].name}"}
    # The run is in the run log like any pipeline run.
    logged = await get_run(services.settings, ORG, run.lineage.run_id)
    assert logged.status == pipe_pb.RUN_STATUS_SUCCEEDED and logged.provider == "datahub"


async def test_uploading_the_same_events_again_gives_the_same_rows(services: Services) -> None:
    events = [event(f"e-{n}", cost=f"{n}.25", usage_date_time=f"2025-01-{n + 1:02d} 0{n}:00:00") for n in range(5)]

    first = await upload(services.settings, [events])
    rows = without_run(focus_rows(services.settings))
    again = await upload(services.settings, [events[:2], events[2:]])  # batched otherwise: the same upload

    assert first.upload_id == again.upload_id and again.accepted == 5
    assert without_run(focus_rows(services.settings)) == rows and len(rows) == 5
    assert raw_table(services.settings).num_rows == 5
    assert len(upload_files(_inbox(services))) == 1  # the newest upload sent again adds no file


async def test_an_event_sent_again_replaces_the_old_one(services: Services) -> None:
    await upload(services.settings, [[event("kept", cost="1"), event("changed", cost="2"), event("moved", cost="3")]])

    # 'changed' costs more, 'moved' now belongs to February; 'kept' is not sent again.
    response = await upload(
        services.settings, [[event("changed", cost="20"), event("moved", cost="30", usage_date_time="2025-02-03")]]
    )

    assert list(response.run.billing_periods) == ["2025-01", "2025-02"]  # where they are, and were
    rows = focus_rows(services.settings)
    billed = {(r["BillingPeriodStart"], r["BilledCost"]) for r in rows}
    assert billed == {(JANUARY, Decimal("1")), (JANUARY, Decimal("20")), (FEBRUARY, Decimal("30"))}
    raw = raw_table(services.settings).to_pylist()
    assert sorted((r["event_id"], r["cost"]) for r in raw) == [
        ("changed", Decimal("20")), ("kept", Decimal("1")), ("moved", Decimal("30")),
    ]  # fmt: skip


async def test_a_month_whose_last_event_moved_away_is_emptied(services: Services) -> None:
    await upload(services.settings, [[event("only", usage_date_time="2025-01-05")]])

    response = await upload(services.settings, [[event("only", usage_date_time="2025-02-05")]])

    assert list(response.run.billing_periods) == ["2025-01", "2025-02"]
    assert [r["BillingPeriodStart"] for r in focus_rows(services.settings)] == [FEBRUARY]


async def test_the_last_of_two_rows_of_one_upload_wins(services: Services) -> None:
    response = await upload(services.settings, [[event("twice", cost="1")], [event("twice", cost="9")]])

    assert response.accepted == 2
    assert [r["BilledCost"] for r in focus_rows(services.settings)] == [Decimal("9")]


async def test_running_the_pipeline_again_reloads_the_months_from_the_inbox(services: Services) -> None:
    response = await upload(services.settings, [[event("a"), event("b", usage_date_time="2025-01-20")]])
    rows = without_run(focus_rows(services.settings))

    _, result = await run_pipeline(services.settings, ORG, response.credential_id, JANUARY.date(), provider="datahub")

    assert result.focus_rows_written == 2 and without_run(focus_rows(services.settings)) == rows


async def test_an_upload_without_a_good_event_lands_nothing(services: Services) -> None:
    response = await upload(services.settings, [[event("bad", cost="")]])

    assert (response.accepted, response.rejected, response.upload_id) == (0, 1, "")
    assert not response.HasField("run")
    assert upload_files(_inbox(services)) == []


async def test_concurrent_uploads_of_one_org_all_land(services: Services) -> None:
    uploads = [[[event(f"u{n}-{m}", cost=f"{n}.{m}") for m in range(3)]] for n in range(3)]

    responses = await asyncio.gather(*(upload(services.settings, batches) for batches in uploads))

    assert [r.accepted for r in responses] == [3, 3, 3]
    assert len({r.run.lineage.run_id for r in responses}) == 3  # one run each, one after the other
    assert sorted(r["BilledCost"] for r in focus_rows(services.settings)) == sorted(
        Decimal(f"{n}.{m}") for n in range(3) for m in range(3)
    )


async def test_only_the_first_thousand_errors_are_listed(services: Services) -> None:
    response = await upload(services.settings, [[event(f"bad-{n}", currency="???") for n in range(1_001)]])

    assert (response.accepted, response.rejected, len(response.errors)) == (0, 1_001, 1_000)
    assert response.errors_truncated and response.errors[-1].row == 999


async def test_an_empty_stream_is_a_bad_request(services: Services) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await upload(services.settings, [])

    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT and error_reason(caught.value) == "EMPTY_STREAM"


@pytest.mark.parametrize(
    ("role", "token_org", "code", "reason"),
    [
        ("viewer", ORG, grpc.StatusCode.PERMISSION_DENIED, "ROLE_TOO_LOW"),
        ("operator", "globex", grpc.StatusCode.PERMISSION_DENIED, "WRONG_ORG"),
    ],
)
async def test_only_an_operator_of_the_org_may_upload(
    services: Services, role: str, token_org: str, code: grpc.StatusCode, reason: str
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await upload(services.settings, [[event("e-1")]], role=role, token_org=token_org)

    assert caught.value.code() == code and error_reason(caught.value) == reason
    assert upload_files(_inbox(services)) == []


async def test_a_stream_cannot_switch_orgs_midway(services: Services) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await upload(services.settings, [[event("e-1")], [event("e-2")]], orgs=[ORG, "globex"])

    assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED and error_reason(caught.value) == "WRONG_ORG"
    assert upload_files(_inbox(services)) == [] and upload_files(inbox_dir(services.settings.data_dir, "globex")) == []


async def test_an_upload_without_a_token_is_unauthenticated(services: Services) -> None:
    async def one() -> AsyncIterator[pb.UploadEventsRequest]:
        yield pb.UploadEventsRequest(org_slug=ORG)

    async with open_channel(services.settings, services.settings.ingest_address) as channel:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await EventsServiceStub(channel).UploadEvents(one(), timeout=30)

    assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED and error_reason(caught.value) == "MISSING_TOKEN"


async def test_credential_svc_never_stores_a_datahub_credential(services: Services) -> None:
    settings = services.settings
    async with org_channel(settings, settings.credential_address, ORG, role="operator") as channel:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await CredentialServiceStub(channel).CreateCredential(
                cred_pb.CreateCredentialRequest(
                    org_slug=ORG,
                    provider="datahub",
                    display_name="another inbox",
                    secret={"token": "t0ken"},
                    config={"inbox": "/etc"},
                ),
                timeout=10,
            )

    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error_reason(caught.value) == "BAD_CREDENTIAL_CONFIG"


async def test_ingest_svc_serves_events_with_health_and_reflection(services: Services) -> None:
    settings = services.settings
    async with open_channel(settings, settings.ingest_address) as channel:
        reply = await health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(service="cloudact.events.v1.EventsService"), timeout=10
        )
    async with org_channel(settings, settings.ingest_address, ORG, role="viewer") as channel:
        stream = reflection_pb2_grpc.ServerReflectionStub(channel).ServerReflectionInfo(
            iter([reflection_pb2.ServerReflectionRequest(list_services="")]), timeout=10
        )
        listed = [s.name async for answer in stream for s in answer.list_services_response.service]

    assert reply.status == health_pb2.HealthCheckResponse.SERVING
    assert {"cloudact.events.v1.EventsService", "cloudact.pipeline.v1.PipelineService"} <= set(listed)


def _inbox(services: Services) -> Path:
    return inbox_dir(services.settings.data_dir, ORG)
