"""The gateway serves exactly the annotated routes (built from the descriptors), HEAD and OPTIONS
sanely, nothing else; the OpenAPI document lists the same routes and is the committed one."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from google.protobuf import descriptor_pb2

from cloudact_http.gateway import bindings
from cloudact_http.gateway.openapi import openapi_json
from tests.http.conftest import Gateway

ROOT = Path(__file__).resolve().parents[2]
EXPECTED = {
    (
        "POST",
        "/pipelines/run/{org_slug}/{provider}/{domain}/{pipeline}",
        "cloudact.pipeline.v1.PipelineService.StartRun",
    ),
    ("GET", "/api/v1/orgs/{org_slug}/runs/{run_id}", "cloudact.pipeline.v1.PipelineService.GetRun"),
    ("GET", "/api/v1/orgs/{org_slug}/runs", "cloudact.pipeline.v1.PipelineService.ListRuns"),
    ("GET", "/api/v1/pipelines", "cloudact.pipeline.v1.PipelineService.ListPipelines"),
    ("POST", "/api/v1/orgs/{org_slug}/costs:query", "cloudact.query.v1.QueryService.QueryCosts"),
    ("GET", "/api/v1/orgs/{org_slug}/credentials", "cloudact.credential.v1.CredentialService.ListCredentials"),
    (
        "GET",
        "/api/v1/orgs/{org_slug}/credentials/{credential_id}",
        "cloudact.credential.v1.CredentialService.GetCredential",
    ),
}


def test_the_annotations_are_the_promised_routes() -> None:
    assert {(b.http_method, b.template, b.method.full_name) for b in bindings()} == EXPECTED


def test_committed_openapi_document_is_the_generated_one() -> None:
    committed = (ROOT / "docs" / "openapi.json").read_text()
    assert committed == openapi_json(), (
        "docs/openapi.json is stale: run `cloudact http openapi --out docs/openapi.json`"
    )
    document = json.loads(committed)
    operations = {(verb.upper(), path) for path, item in document["paths"].items() for verb in item}
    assert operations == {(verb, path) for verb, path, _ in EXPECTED}
    assert document["components"]["securitySchemes"]["bearer"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "A token from `cloudact tokens create`, as on gRPC.",
    }
    run = document["components"]["schemas"]["cloudact.pipeline.v1.Run"]["properties"]
    assert run["status"] == {"$ref": "#/components/schemas/cloudact.pipeline.v1.RunStatus"}
    assert run["rows_read"] == {"type": "string", "format": "int64"}


async def test_every_annotated_route_is_served_and_nothing_else(gateway: Gateway) -> None:
    client, viewer = gateway.client, gateway.auth()
    credential = "00000000-0000-4000-8000-000000000001"
    served = {
        ("GET", "/api/v1/pipelines"): 200,
        ("GET", "/api/v1/orgs/acme/runs"): 200,
        ("GET", "/api/v1/orgs/acme/runs/00000000-0000-4000-8000-000000000000"): 404,
        ("GET", "/api/v1/orgs/acme/credentials"): 200,
        ("GET", f"/api/v1/orgs/acme/credentials/{credential}"): 404,
        ("POST", "/api/v1/orgs/acme/costs:query"): 400,  # no dates: the service's INVALID_ARGUMENT
        ("POST", "/pipelines/run/acme/aws/cost/billing"): 403,  # a viewer may not start runs
    }
    for (verb, path), status in served.items():
        response = await client.request(verb, path, headers=viewer, json={} if verb == "POST" else None)
        assert response.status_code == status, (verb, path, response.text)
        assert response.headers["content-type"] == "application/json"
        options = await client.options(path)
        assert options.status_code == 204 and verb in options.headers["allow"]
    pipelines = (await client.get("/api/v1/pipelines", headers=viewer)).json()["pipelines"]
    assert "aws/cost/billing" in {p["pipeline_id"] for p in pipelines}
    head = await client.head("/api/v1/pipelines", headers=viewer)
    assert head.status_code == 200 and head.content == b""

    not_annotated = [
        ("POST", "/api/v1/orgs/acme/credentials"),  # CreateCredential has no route
        ("DELETE", f"/api/v1/orgs/acme/credentials/{credential}"),
        ("GET", "/api/v1/orgs/acme/tokens"),
        ("POST", "/cloudact.pipeline.v1.PipelineService/RunPipeline"),
        ("GET", "/api/v1/orgs/acme/costs"),
    ]
    for verb, path in not_annotated:
        response = await client.request(verb, path, headers=viewer)
        assert response.status_code in (404, 405), (verb, path)
        assert response.json()["code"] in ("NOT_FOUND", "UNIMPLEMENTED")
    assert (await client.get("/api/v1/orgs/acme/tokens", headers=viewer)).status_code == 404

    assert (await client.get("/healthz")).json() == {"status": "SERVING"}
    served_document = (await client.get("/api/openapi.json")).json()
    assert served_document == json.loads(openapi_json())


def test_envoy_descriptor_set_builds_with_the_http_annotations(tmp_path: Path) -> None:
    """The command docs/http-api.md gives Envoy's gRPC-JSON transcoder its descriptor set with."""
    out = tmp_path / "cloudact.pb"
    protos = [
        "cloudact/pipeline/v1/pipeline_service.proto",
        "cloudact/query/v1/query_service.proto",
        "cloudact/credential/v1/credential_service.proto",
    ]
    subprocess.run(
        [
            sys.executable,
            "-m",
            "grpc_tools.protoc",
            "-Iprotos",
            "--include_imports",
            "--include_source_info",
            f"--descriptor_set_out={out}",
            *protos,
        ],
        cwd=ROOT,
        check=True,
    )
    files = descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes()).file
    names = {f.name for f in files}
    assert {"google/api/annotations.proto", "google/api/http.proto", *protos} <= names
    services = {f"{f.package}.{s.name}" for f in files for s in f.service}
    assert {"cloudact.pipeline.v1.PipelineService", "cloudact.query.v1.QueryService"} <= services
