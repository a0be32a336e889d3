"""The HTTP/JSON gateway against the real services: the issue's curl starts a run, GET shows it
finishing, QueryCosts over HTTP is QueryCosts over gRPC, and errors are Google's HTTP statuses with
a JSON body that never carries the token."""

from __future__ import annotations

import logging
from datetime import date
from typing import Any

import pytest
from google.protobuf.json_format import MessageToDict

from cloudact_shared.gen.cloudact.query.v1 import query_service_pb2 as query_pb
from cloudact_shared.gen.cloudact.query.v1.query_service_pb2_grpc import QueryServiceStub
from cloudact_shared.readiness import await_until
from tests.channels import org_channel
from tests.conftest import LEGACY_CUR_SAMPLE
from tests.e2e.helpers import create_credential, put_legacy_delivery
from tests.http.conftest import ORG, Gateway

NOV_2023 = date(2023, 11, 1)
UNKNOWN_RUN = "00000000-0000-4000-8000-000000000000"


@pytest.fixture
def bucket(s3_client: Any, request: pytest.FixtureRequest) -> str:
    name = f"http-{abs(hash(request.node.name)) % 10**8}"
    s3_client.create_bucket(Bucket=name)
    return name


async def test_curl_starts_a_run_that_get_shows_finishing_and_costs_match_grpc(
    gateway: Gateway, s3_client: Any, s3_endpoint: str, bucket: str
) -> None:
    delivery = put_legacy_delivery(s3_client, bucket, "legacy-cur", LEGACY_CUR_SAMPLE.read_bytes(), NOV_2023)
    credential_id = await create_credential(gateway.settings, ORG, delivery, s3_endpoint)

    # The curl: -X POST .../pipelines/run/acme/aws/cost/billing -d '{"billing_period":...}' (curl's
    # -d sends a form content type: the body is JSON whatever the header says). No credential_id: the
    # org's one AWS credential runs, found with the caller's own token.
    body = '{"billing_period":{"year":2023,"month":11}}'
    started = await gateway.client.post(
        "/pipelines/run/acme/aws/cost/billing",
        content=body,
        headers={**gateway.auth(role="operator"), "content-type": "application/x-www-form-urlencoded"},
    )
    assert started.status_code == 200, started.text
    run_id = started.json()["run_id"]
    assert started.json()["run"]["run_id"] == run_id
    assert started.json()["run"]["pipeline_id"] == "aws/cost/billing"
    assert started.json()["run"]["credential_id"] == credential_id

    async def finished() -> dict[str, Any] | None:
        response = await gateway.client.get(f"/api/v1/orgs/acme/runs/{run_id}", headers=gateway.auth())
        assert response.status_code == 200, response.text
        run: dict[str, Any] = response.json()["run"]
        return run if run["status"] != "RUN_STATUS_RUNNING" else None

    run = await await_until(finished, what=f"run {run_id} over HTTP", timeout=60, interval=0.2)
    assert run["status"] == "RUN_STATUS_SUCCEEDED", run
    assert run["billing_periods"] == ["2023-11"]
    assert run["focus_rows_written"] == "1281"  # int64 as a JSON string (proto3 JSON)

    listed = await gateway.client.get("/api/v1/orgs/acme/runs", params={"page_size": "5"}, headers=gateway.auth())
    assert [r["run_id"] for r in listed.json()["runs"]] == [run_id]

    question = {
        "start_date": "2023-11-01",
        "end_date": "2023-11-30",
        "metrics": ["COST_METRIC_BILLED_COST", "COST_METRIC_EFFECTIVE_COST"],
        "group_by": ["ServiceName"],
        "grain": "TIME_GRAIN_MONTH",
    }
    over_http = await gateway.client.post("/api/v1/orgs/acme/costs:query", json=question, headers=gateway.auth())
    assert over_http.status_code == 200, over_http.text
    settings = gateway.settings
    async with org_channel(settings, settings.query_address, ORG, role="viewer") as channel:
        over_grpc = await QueryServiceStub(channel).QueryCosts(
            query_pb.QueryCostsRequest(
                org_slug=ORG,
                start_date="2023-11-01",
                end_date="2023-11-30",
                metrics=[query_pb.COST_METRIC_BILLED_COST, query_pb.COST_METRIC_EFFECTIVE_COST],
                group_by=["ServiceName"],
                grain=query_pb.TIME_GRAIN_MONTH,
            ),
            timeout=30,
        )
    http_answer, grpc_answer = over_http.json(), MessageToDict(over_grpc, preserving_proto_field_name=True)
    # The second answer may come from the cache: everything but that flag is the same.
    http_answer.pop("cache_hit", None)
    grpc_answer.pop("cache_hit", None)
    assert len(http_answer["rows"]) > 1
    assert http_answer == grpc_answer


async def test_errors_are_http_statuses_with_a_json_body_and_never_the_token(
    gateway: Gateway, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    client, viewer = gateway.client, gateway.auth()
    run_path = f"/api/v1/orgs/acme/runs/{UNKNOWN_RUN}"

    no_token = await client.get(run_path)
    assert no_token.status_code == 401
    assert no_token.json()["code"] == "UNAUTHENTICATED" and no_token.json()["reason"]
    assert no_token.headers["www-authenticate"].startswith("Bearer")

    other_org = await client.get(run_path, headers=gateway.auth(org="globex"))
    assert other_org.status_code == 403
    assert other_org.json()["code"] == "PERMISSION_DENIED"

    viewer_starting = await client.post("/pipelines/run/acme/aws/cost/billing", json={}, headers=viewer)
    assert viewer_starting.status_code == 403

    unknown_run = await client.get(run_path, headers=viewer)
    assert unknown_run.status_code == 404
    assert unknown_run.json() == {
        "code": "NOT_FOUND",
        "message": f"organisation 'acme' has no run {UNKNOWN_RUN}",
        "reason": "RUN_NOT_FOUND",
    }

    unknown_field = await client.post(
        "/pipelines/run/acme/aws/cost/billing", json={"billing_period": {"year": 2025, "mnth": 1}}, headers=viewer
    )
    assert unknown_field.status_code == 400
    assert unknown_field.json()["code"] == "INVALID_ARGUMENT"
    assert unknown_field.json()["message"] == "unknown field 'billing_period.mnth'"
    assert unknown_field.json()["field_violations"] == [
        {"field": "billing_period.mnth", "description": "no such field"}
    ]

    operator = gateway.auth(role="operator")
    bad_month = await client.post(
        "/pipelines/run/acme/aws/cost/billing",
        json={"billing_period": {"year": 2025, "month": 13}, "credential_id": UNKNOWN_RUN},
        headers=operator,
    )
    assert bad_month.status_code == 400
    assert bad_month.json()["field_violations"] == [
        {"field": "billing_period", "description": "year 2000-2100, month 1-12"}
    ]

    bad_type = await client.post("/api/v1/orgs/acme/costs:query", json={"grain": "HOURLY"}, headers=viewer)
    assert bad_type.status_code == 400 and "grain" in bad_type.json()["message"]

    path_in_body = await client.post("/api/v1/orgs/acme/costs:query", json={"org_slug": "globex"}, headers=viewer)
    assert path_in_body.status_code == 400
    assert path_in_body.json()["reason"] == "FIELD_IN_PATH_AND_BODY"

    unknown_param = await client.get("/api/v1/orgs/acme/runs", params={"pagesize": "5"}, headers=viewer)
    assert unknown_param.status_code == 400 and unknown_param.json()["reason"] == "UNKNOWN_QUERY_PARAMETER"

    negative = await client.get("/api/v1/orgs/acme/runs", params={"page_size": "-1"}, headers=viewer)
    assert negative.status_code == 400 and negative.json()["code"] == "INVALID_ARGUMENT"

    not_json = await client.post("/api/v1/orgs/acme/costs:query", content=b"{nope", headers=viewer)
    assert not_json.status_code == 400 and not_json.json()["reason"] == "INVALID_JSON"

    too_large = await client.post("/api/v1/orgs/acme/costs:query", content=b" " * (2 << 20), headers=viewer)
    assert too_large.status_code == 413

    token = gateway.token(role="operator")
    mangled = await client.get(run_path, headers={"authorization": f"Token {token}"})
    assert mangled.status_code == 401

    bodies = [
        r.text
        for r in (no_token, other_org, viewer_starting, unknown_run, unknown_field, bad_month, mangled, too_large)
    ]
    for secret in (token, gateway.token(), gateway.token(org="globex")):
        assert not any(secret in text for text in bodies)
        assert secret not in caplog.text


async def test_a_run_without_credential_id_needs_exactly_one_credential_of_the_provider(
    gateway: Gateway, s3_client: Any, s3_endpoint: str, bucket: str
) -> None:
    start = {"billing_period": {"year": 2023, "month": 11}}
    operator = gateway.auth(role="operator")
    none = await gateway.client.post("/pipelines/run/acme/oci/cost/billing", json=start, headers=operator)
    assert none.status_code == 404, none.text
    assert none.json()["reason"] == "NO_CREDENTIAL"

    ids = set()
    for export in ("second-cur", "third-cur"):
        delivery = put_legacy_delivery(s3_client, bucket, export, LEGACY_CUR_SAMPLE.read_bytes(), NOV_2023)
        ids.add(await create_credential(gateway.settings, ORG, delivery, s3_endpoint))
    several = await gateway.client.post("/pipelines/run/acme/aws/cost/billing", json=start, headers=operator)
    assert several.status_code == 400, several.text
    assert several.json()["reason"] == "CREDENTIAL_AMBIGUOUS"
    assert all(credential_id in several.json()["message"] for credential_id in ids)
    # The caller's token decides what is listed: a viewer may not start a run at all.
    viewer = await gateway.client.post("/pipelines/run/acme/aws/cost/billing", json=start, headers=gateway.auth())
    assert viewer.status_code == 403, viewer.text
