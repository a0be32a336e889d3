"""Bounded input and paged listings over the wire: real TLS server and channels from conftest."""

from __future__ import annotations

import os
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from cloudact_shared.gen.cloudact.credential.v1 import credential_service_pb2 as pb
from cloudact_shared.gen.cloudact.credential.v1 import credential_service_pb2_grpc as pb_grpc
from cloudact_shared.settings import CloudactSettings
from credential_svc.adapters.records import CredentialRecord, Envelope, InsertOutcome, SqliteCredentialRecords
from credential_svc.service import DEFAULT_PAGE_SIZE, MAX_CREDENTIALS_PER_ORG
from tests.credential_svc.conftest import ORG

SECRET_VALUE = "wJalrXUtnFEMI-K7MDENG-bPxRfiCY-BOUNDS"
SECRET = {"aws_access_key_id": "AKIAIOSFODNN7EXAMPLE", "aws_secret_access_key": SECRET_VALUE}
CONFIG = {"bucket": "acme-billing", "export_name": "prod-cur", "prefix": "exports", "layout": "cur2"}
T = 10.0


def _request(name: str, **overrides: Any) -> pb.CreateCredentialRequest:
    fields: dict[str, Any] = {
        "org_slug": ORG,
        "provider": "aws",
        "display_name": name,
        "secret": SECRET,
        "config": CONFIG,
    }
    return pb.CreateCredentialRequest(**(fields | overrides))


async def _rpc_error(call: Any) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call
    return caught.value


def _violated_fields(error: grpc.aio.AioRpcError) -> list[str]:
    status = rpc_status.from_call(error)
    assert status is not None
    for detail in status.details:
        bad = error_details_pb2.BadRequest()
        if detail.Is(bad.DESCRIPTOR) and detail.Unpack(bad):
            return [v.field for v in bad.field_violations]
    return []


def _reason(error: grpc.aio.AioRpcError) -> str:
    status = rpc_status.from_call(error)
    assert status is not None
    for detail in status.details:
        info = error_details_pb2.ErrorInfo()
        if detail.Is(info.DESCRIPTOR) and detail.Unpack(info):
            return str(info.reason)
    return ""


async def test_oversized_config_and_secret_are_invalid_argument(stub: pb_grpc.CredentialServiceStub) -> None:
    # Well under the server's 1 MiB request limit, so it is the vault's own bound that answers.
    huge_config = _request("huge config", config={**CONFIG, "prefix": "p" * 300_000})
    many_fields = _request("many fields", secret={f"f{i}": SECRET_VALUE for i in range(5000)})
    for request, field in ((huge_config, "config"), (many_fields, "secret")):
        error = await _rpc_error(stub.CreateCredential(request, timeout=T))
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert _violated_fields(error) == [field]
        assert len(error.details() or "") < 300 and SECRET_VALUE not in (error.details() or "")

    created = await stub.CreateCredential(_request("ok"), timeout=T)
    error = await _rpc_error(
        stub.RotateCredential(
            pb.RotateCredentialRequest(
                org_slug=ORG,
                credential_id=created.credential.credential_id,
                new_secret={f"f{i}": SECRET_VALUE for i in range(5000)},
            ),
            timeout=T,
        )
    )
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT and _violated_fields(error) == ["new_secret"]


async def test_list_credentials_pages_over_the_wire(stub: pb_grpc.CredentialServiceStub) -> None:
    created = [(await stub.CreateCredential(_request(f"cred {i}"), timeout=T)).credential for i in range(5)]
    seen: list[str] = []
    token = ""
    for expected in (2, 2, 1):
        page = await stub.ListCredentials(
            pb.ListCredentialsRequest(org_slug=ORG, page_size=2, page_token=token), timeout=T
        )
        assert len(page.credentials) == expected
        seen += [c.credential_id for c in page.credentials]
        token = page.next_page_token
    assert token == ""
    assert seen == [c.credential_id for c in created]

    first = await stub.ListCredentials(pb.ListCredentialsRequest(org_slug=ORG, page_size=2), timeout=T)
    for bad in (first.next_page_token[:-1] + ("A" if first.next_page_token[-1] != "A" else "B"), "garbage"):
        error = await _rpc_error(
            stub.ListCredentials(pb.ListCredentialsRequest(org_slug=ORG, page_token=bad), timeout=T)
        )
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert _violated_fields(error) == ["page_token"] and _reason(error) == "INVALID_PAGE_TOKEN"
    error = await _rpc_error(stub.ListCredentials(pb.ListCredentialsRequest(org_slug=ORG, page_size=-1), timeout=T))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT and _violated_fields(error) == ["page_size"]


async def test_a_full_org_gets_resource_exhausted_and_its_listing_stays_paged(
    settings: CloudactSettings, stub: pb_grpc.CredentialServiceStub
) -> None:
    # Fill the org to the limit beside the running server (as another replica would), without
    # 1,000 round trips.
    records = await SqliteCredentialRecords.open(settings.data_dir / "credentials.sqlite")
    start = datetime(2025, 1, 1, tzinfo=UTC)
    try:
        for i in range(MAX_CREDENTIALS_PER_ORG):
            record = CredentialRecord(
                credential_id=str(uuid.uuid4()),
                org_slug=ORG,
                provider="aws",
                display_name=f"filler {i:04}",
                secret_field_names=tuple(sorted(SECRET)),
                config=CONFIG,
                envelope=Envelope("local-v1", os.urandom(60), os.urandom(12), os.urandom(64)),
                created_at=start + timedelta(seconds=i),
                rotated_at=None,
            )
            assert await records.insert(record, max_per_org=MAX_CREDENTIALS_PER_ORG) is InsertOutcome.INSERTED
    finally:
        await records.close()

    error = await _rpc_error(stub.CreateCredential(_request("one too many"), timeout=T))
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert _reason(error) == "CREDENTIAL_LIMIT_REACHED"

    listed = await stub.ListCredentials(pb.ListCredentialsRequest(org_slug=ORG), timeout=T)
    assert len(listed.credentials) == DEFAULT_PAGE_SIZE and listed.next_page_token


async def test_the_servers_endpoint_override_setting_reaches_the_vault(stub: pb_grpc.CredentialServiceStub) -> None:
    # conftest's settings allow overrides (its tests use emulators); production's refusal is in
    # test_credential_provider_checks_server.py.
    request = _request("emulator", config={**CONFIG, "endpoint_url": "http://127.0.0.1:9000"})
    created = await stub.CreateCredential(request, timeout=T)
    assert created.credential.config["endpoint_url"] == "http://127.0.0.1:9000"
