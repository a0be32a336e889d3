"""A service process started as ``cloudact serve`` starts it, sending its spans over OTLP/gRPC to a
collector on loopback (a real grpc.aio server speaking the OTLP trace service), and continuing the
trace a caller names in its metadata."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2 as otlp_pb
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc as otlp_grpc

from cloudact_cli.supervisor import start_services, stop_services
from cloudact_shared.auth.tls import ensure_local_pki
from cloudact_shared.gen.cloudact.credential.v1 import credential_service_pb2 as cred_pb
from cloudact_shared.gen.cloudact.credential.v1.credential_service_pb2_grpc import CredentialServiceStub
from cloudact_shared.settings import CloudactSettings
from tests.channels import org_channel

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"


class Collector(otlp_grpc.TraceServiceServicer):
    """Keeps every export request it is sent."""

    def __init__(self) -> None:
        self.requests: list[otlp_pb.ExportTraceServiceRequest] = []
        self.received = asyncio.Event()

    async def Export(
        self, request: otlp_pb.ExportTraceServiceRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> otlp_pb.ExportTraceServiceResponse:
        self.requests.append(request)
        self.received.set()
        return otlp_pb.ExportTraceServiceResponse()


@pytest.fixture
async def collector() -> AsyncIterator[tuple[Collector, int]]:
    server = grpc.aio.server()
    servicer = Collector()
    otlp_grpc.add_TraceServiceServicer_to_server(servicer, server)  # type: ignore[no-untyped-call]
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    yield servicer, port
    await server.stop(0)


async def test_a_service_process_exports_its_spans_to_the_collector(
    collector: tuple[Collector, int], tmp_path: Path
) -> None:
    servicer, port = collector
    settings = CloudactSettings(
        data_dir=tmp_path / "data",
        credential_address="127.0.0.1:0",
        credential_internal_address="127.0.0.1:0",
        otel_exporter="otlp",
        otel_endpoint=f"http://127.0.0.1:{port}",
    )
    await asyncio.to_thread(ensure_local_pki, settings)
    processes, settings = await start_services(settings, ["credential_svc"], log=lambda _: None)
    try:
        async with org_channel(settings, settings.credential_address, "acme", role="viewer") as channel:
            # As a caller already in a trace would: W3C traceparent in the call's metadata.
            await CredentialServiceStub(channel).ListCredentials(
                cred_pb.ListCredentialsRequest(org_slug="acme"),
                metadata=(("traceparent", f"00-{TRACE_ID}-{PARENT_ID}-01"),),
                timeout=10,
            )
    finally:
        # SIGTERM: the process ends gracefully and flushes the spans it still buffers.
        await stop_services(processes, grace=5)
    assert processes[0].returncode == 0

    await asyncio.wait_for(servicer.received.wait(), timeout=10)
    exported = [
        (resource.resource, span)
        for request in servicer.requests
        for resource in request.resource_spans
        for scope in resource.scope_spans
        for span in scope.spans
    ]
    calls = [(r, s) for r, s in exported if s.name == "/cloudact.credential.v1.CredentialService/ListCredentials"]
    assert len(calls) == 1
    resource, span = calls[0]
    names = {a.key: a.value.string_value for a in resource.attributes}
    assert names["service.name"] == "credential_svc"
    assert span.trace_id.hex() == TRACE_ID and span.parent_span_id.hex() == PARENT_ID
