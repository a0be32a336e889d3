"""One AWS pipeline run over the four in-process services: one trace across them, and the metrics
each service serves over HTTP."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import date
from typing import Any

import grpc
import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from cloudact_shared.gen.cloudact.credential.v1 import credential_service_pb2 as cred_pb
from cloudact_shared.gen.cloudact.credential.v1.credential_service_pb2_grpc import CredentialServiceStub
from cloudact_shared.gen.cloudact.query.v1 import query_service_pb2 as query_pb
from cloudact_shared.gen.cloudact.query.v1.query_service_pb2_grpc import QueryServiceStub
from cloudact_shared.readiness import await_until
from tests.channels import org_channel
from tests.conftest import LEGACY_CUR_SAMPLE, Services
from tests.e2e.helpers import Delivery, put_legacy_delivery, run_pipeline
from tests.telemetry.conftest import scrape, value

ORG = "telemetry"  # its own dataset: the table gauges are process-wide, other tests write acme_prod
NOV_2023 = date(2023, 11, 1)
RAW = "cloud_aws_billing_raw_daily"
FOCUS = "cost_data_standard_1_3"
RUN_PIPELINE = "/cloudact.pipeline.v1.PipelineService/RunPipeline"
DECRYPT = "/cloudact.credential.v1.CredentialService/DecryptCredential"
CONVERT = "/cloudact.focus.v1.FocusService/ConvertToFocus"
QUERY = "cloudact.query.v1.QueryService/QueryCosts"
RPC_COUNT = "cloudact_rpc_duration_seconds_count"


@pytest.fixture
def bucket(s3_client: Any, request: pytest.FixtureRequest) -> str:
    name = f"telemetry-{abs(hash(request.node.name)) % 10**8}"
    s3_client.create_bucket(Bucket=name)
    return name


async def _create_credential(services: Services, delivery: Delivery, endpoint: str, secret: str) -> str:
    """An AWS credential whose secret key is ``secret`` (moto takes any key)."""
    async with org_channel(services.settings, services.settings.credential_address, ORG, role="operator") as channel:
        response = await CredentialServiceStub(channel).CreateCredential(
            cred_pb.CreateCredentialRequest(
                org_slug=ORG,
                provider="aws",
                display_name="telemetry",
                secret={"aws_access_key_id": "AKIATELEMETRY", "aws_secret_access_key": secret},
                config={
                    "bucket": delivery.bucket,
                    "export_name": delivery.export_name,
                    "prefix": delivery.prefix,
                    "layout": delivery.layout,
                    "endpoint_url": endpoint,
                },
            ),
            timeout=10,
        )
    return str(response.credential.credential_id)


async def _query(services: Services, org: str = ORG) -> query_pb.QueryCostsResponse:
    async with org_channel(services.settings, services.settings.query_address, org, role="viewer") as channel:
        answer: query_pb.QueryCostsResponse = await QueryServiceStub(channel).QueryCosts(
            query_pb.QueryCostsRequest(
                org_slug=org,
                start_date="2023-11-01",
                end_date="2023-11-30",
                metrics=[query_pb.COST_METRIC_BILLED_COST],
                grain=query_pb.TIME_GRAIN_TOTAL,
            ),
            timeout=30,
        )
    return answer


def _one(spans: Sequence[ReadableSpan], name: str, kind: SpanKind) -> ReadableSpan:
    found = [s for s in spans if s.name == name and s.kind is kind]
    assert len(found) == 1, f"{len(found)} {kind.name} spans named {name}: {[s.name for s in spans]}"
    return found[0]


def _service(span: ReadableSpan) -> object:
    return span.resource.attributes.get("service.name")


def _values(span: ReadableSpan) -> list[str]:
    """Every attribute value of the span and of its events, as text."""
    values = [str(v) for v in (span.attributes or {}).values()]
    for event in span.events:
        values.extend(str(v) for v in (event.attributes or {}).values())
    return [*values, span.name, span.status.description or ""]


async def test_one_run_is_one_trace_and_each_service_serves_its_metrics(
    observed: Services, spans: InMemorySpanExporter, s3_client: Any, s3_endpoint: str, bucket: str
) -> None:
    before = await scrape(observed, "ingest_svc")
    secret = f"telemetry-secret-{secrets.token_hex(8)}"
    delivery = put_legacy_delivery(s3_client, bucket, "legacy-cur", LEGACY_CUR_SAMPLE.read_bytes(), NOV_2023)
    credential_id = await _create_credential(observed, delivery, s3_endpoint, secret)

    _, result = await run_pipeline(observed.settings, ORG, credential_id, NOV_2023)
    run_id, pipeline_id = result.lineage.run_id, result.lineage.pipeline_id

    # The run's own span ends in its background task, just after the stream's last message.
    async def run_span() -> ReadableSpan | None:
        return next((s for s in spans.get_finished_spans() if s.name == "pipeline run"), None)

    run = await await_until(run_span, what="the run's span", timeout=10, interval=0.05)
    trace_id = run.context.trace_id
    in_trace = [s for s in spans.get_finished_spans() if s.context.trace_id == trace_id]

    # One trace from RunPipeline through the run to DecryptCredential and ConvertToFocus, each
    # server span in its own service, each with the client span ingest_svc made as its parent.
    root = _one(in_trace, RUN_PIPELINE, SpanKind.SERVER)
    assert root.parent is None and _service(root) == "ingest_svc"
    assert run.parent is not None and run.parent.span_id == root.context.span_id
    for name, service in ((DECRYPT, "credential_svc"), (CONVERT, "focus_svc")):
        server = _one(in_trace, name, SpanKind.SERVER)
        client = _one(in_trace, name, SpanKind.CLIENT)
        assert _service(server) == service and _service(client) == "ingest_svc"
        assert server.parent is not None and server.parent.span_id == client.context.span_id
        assert client.parent is not None and client.parent.span_id == run.context.span_id
        assert server.status.status_code is not StatusCode.ERROR
    # Every span naming the run is in that one trace.
    naming_run = [s for s in spans.get_finished_spans() if (s.attributes or {}).get("run_id") == run_id]
    assert {s.context.trace_id for s in naming_run} == {trace_id}
    assert {s.name for s in naming_run} >= {RUN_PIPELINE, "pipeline run", CONVERT}

    for span in (root, run, _one(in_trace, CONVERT, SpanKind.SERVER)):
        attributes = span.attributes or {}
        assert attributes.get("org_slug") == ORG, span.name
        assert attributes.get("run_id") == run_id, span.name
        assert attributes.get("pipeline_id") == pipeline_id == "aws/cost/billing", span.name
    assert (_one(in_trace, DECRYPT, SpanKind.SERVER).attributes or {}).get("org_slug") == ORG

    # The secret went through DecryptCredential's response, yet no span holds it anywhere.
    everything = [v for s in spans.get_finished_spans() for v in _values(s)]
    assert everything and not [v for v in everything if secret in v]

    first, second = await _query(observed), await _query(observed)
    assert (first.cache_hit, second.cache_hit) == (False, True)
    query_spans = [s for s in spans.get_finished_spans() if s.name == f"/{QUERY}"]
    assert [(s.attributes or {}).get("org_slug") for s in query_spans] == [ORG, ORG]

    # Each service's endpoint answers, with its own RPCs timed under its name and their codes.
    expected_rpcs = {
        "ingest_svc": RUN_PIPELINE,
        "credential_svc": DECRYPT,
        "focus_svc": CONVERT,
        "query_svc": f"/{QUERY}",
    }
    for service, method in expected_rpcs.items():
        samples = await scrape(observed, service)
        labels = {"service": service, "method": method.lstrip("/"), "code": "OK"}
        assert value(samples, RPC_COUNT, **labels) >= 1, f"{service} timed no {method}"
        assert value(samples, "cloudact_rpc_duration_seconds_bucket", **labels, le="+Inf") >= 1

    after = await scrape(observed, "ingest_svc")

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("cloudact_pipeline_runs_total", provider="aws", outcome="succeeded") == 1
    assert delta("cloudact_rows_total", provider="aws", stage="read") == result.rows_read == 1281
    assert delta("cloudact_rows_total", provider="aws", stage="written") == result.raw_rows_written
    assert delta("cloudact_rows_total", provider="aws", stage="quarantined") == result.rows_quarantined
    assert delta("cloudact_rows_total", provider="aws", stage="focus_written") == result.focus_rows_written
    assert delta("cloudact_query_cache_requests_total", result="hit") == 1
    assert delta("cloudact_query_cache_requests_total", result="miss") == 1

    tables = {"dataset": f"{ORG}_prod"}
    assert value(after, "cloudact_table_version", **tables, table=RAW) == result.raw_table_version
    assert value(after, "cloudact_table_version", **tables, table=FOCUS) == result.focus_table_version
    age = value(after, "cloudact_table_age_seconds", **tables, table=FOCUS)
    assert ("cloudact_table_age_seconds", frozenset({**tables, "table": FOCUS}.items())) in after
    assert 0 <= age < 120


async def test_a_failed_call_is_timed_with_its_code_and_marks_its_span(
    observed: Services, spans: InMemorySpanExporter
) -> None:
    labels = {"service": "query_svc", "method": QUERY}
    before = await scrape(observed, "query_svc")

    with pytest.raises(grpc.aio.AioRpcError) as missing:
        await _query(observed, org="nobody")  # no FOCUS table yet
    with pytest.raises(grpc.aio.AioRpcError) as malformed:
        await _query(observed, org="Not-A-Slug")

    assert missing.value.code() is grpc.StatusCode.NOT_FOUND
    assert malformed.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    after = await scrape(observed, "query_svc")
    for code in ("NOT_FOUND", "INVALID_ARGUMENT"):
        assert value(after, RPC_COUNT, **labels, code=code) - value(before, RPC_COUNT, **labels, code=code) == 1
    # Neither is an answer from the cache or not.
    for result in ("hit", "miss"):
        name = "cloudact_query_cache_requests_total"
        assert value(after, name, result=result) == value(before, name, result=result)

    calls = [s for s in spans.get_finished_spans() if s.name == f"/{QUERY}"]
    codes = sorted(int(str((s.attributes or {}).get("rpc.grpc.status_code"))) for s in calls)
    assert codes == [grpc.StatusCode.INVALID_ARGUMENT.value[0], grpc.StatusCode.NOT_FOUND.value[0]]
    # A caller's mistake is not the server's error; only the well-formed org is put on the span.
    assert all(s.status.status_code is not StatusCode.ERROR for s in calls)
    assert sorted(str((s.attributes or {}).get("org_slug")) for s in calls) == ["None", "nobody"]


async def test_health_probes_are_neither_traced_nor_timed(observed: Services, spans: InMemorySpanExporter) -> None:
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    from cloudact_shared.clients import open_channel

    async with open_channel(observed.settings, observed.settings.query_address, service="ingest_svc") as channel:
        reply = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5)
    assert reply.status == health_pb2.HealthCheckResponse.SERVING
    samples = await scrape(observed, "query_svc")

    assert not [s for s in spans.get_finished_spans() if "Health" in s.name]
    assert not [key for key in samples if key[0] == RPC_COUNT and "Health" in dict(key[1]).get("method", "")]
