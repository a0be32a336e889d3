"""Provider checks over the wire, on a server built as in production: endpoint overrides off.

Channels, server and stubs are conftest's; only its ``settings`` is overridden here, to the
production value of ``allow_endpoint_overrides`` (conftest turns it on for emulators).
"""

from __future__ import annotations

from typing import Any

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from cloudact_shared.gen.cloudact.credential.v1 import credential_service_pb2 as pb
from cloudact_shared.gen.cloudact.credential.v1 import credential_service_pb2_grpc as pb_grpc
from cloudact_shared.settings import CloudactSettings
from tests.credential_svc.conftest import ORG

SECRET_VALUE = "wJalrXUtnFEMI-K7MDENG-bPxRfiCY-OVER-THE-WIRE"
SECRET = {"aws_access_key_id": "AKIAIOSFODNN7EXAMPLE", "aws_secret_access_key": SECRET_VALUE}
CONFIG = {"bucket": "acme-billing", "export_name": "prod-cur", "prefix": "exports", "layout": "cur2"}
T = 10.0


@pytest.fixture
def settings(settings: CloudactSettings) -> CloudactSettings:
    return settings.model_copy(update={"allow_endpoint_overrides": False})


def _request(provider: str = "aws", config: dict[str, str] | None = None) -> pb.CreateCredentialRequest:
    return pb.CreateCredentialRequest(
        org_slug=ORG,
        provider=provider,
        display_name="billing",
        secret=SECRET,
        config=CONFIG if config is None else config,
    )


def _refusal(error: grpc.aio.AioRpcError) -> tuple[grpc.StatusCode, str, list[str]]:
    status = rpc_status.from_call(error)
    assert status is not None
    reason, fields = "", []
    for detail in status.details:
        info, bad = error_details_pb2.ErrorInfo(), error_details_pb2.BadRequest()
        if detail.Is(info.DESCRIPTOR) and detail.Unpack(info):
            reason = info.reason
        elif detail.Is(bad.DESCRIPTOR) and detail.Unpack(bad):
            fields = [v.field for v in bad.field_violations]
    assert SECRET_VALUE.encode() not in status.SerializeToString()
    return error.code(), reason, fields


async def _create_error(stub: pb_grpc.CredentialServiceStub, request: pb.CreateCredentialRequest) -> Any:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.CreateCredential(request, timeout=T)
    return _refusal(caught.value)


async def test_unknown_provider_and_garbage_config_are_invalid_argument(stub: pb_grpc.CredentialServiceStub) -> None:
    code, reason, fields = await _create_error(stub, _request("dropbox"))
    assert (code, reason, fields) == (grpc.StatusCode.INVALID_ARGUMENT, "UNKNOWN_PROVIDER", ["provider"])

    code, reason, fields = await _create_error(stub, _request(config={"bucket": "a/b", "colour": "blue"}))
    assert (code, reason) == (grpc.StatusCode.INVALID_ARGUMENT, "BAD_CREDENTIAL_CONFIG")
    assert {"config.bucket", "config.export_name", "config.colour"} <= set(fields)

    listed = await stub.ListCredentials(pb.ListCredentialsRequest(org_slug=ORG), timeout=T)
    assert list(listed.credentials) == []


async def test_a_good_credential_is_accepted_and_an_endpoint_override_is_not(
    stub: pb_grpc.CredentialServiceStub,
) -> None:
    created = await stub.CreateCredential(_request(), timeout=T)
    assert created.credential.provider == "aws"

    with_emulator = _request(config={**CONFIG, "endpoint_url": "http://127.0.0.1:9000"})
    with_emulator.display_name = "emulator"
    code, reason, fields = await _create_error(stub, with_emulator)
    assert (code, reason, fields) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "ENDPOINT_OVERRIDE_DISABLED",
        ["config.endpoint_url"],
    )
