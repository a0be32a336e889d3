"""credential_svc end to end: real grpc.aio server on loopback, real channel, real files in tmp_path."""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
import stat
import uuid
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from grpc_status import rpc_status

from cloudact_shared.clients import open_channel
from cloudact_shared.gen.cloudact.credential.v1 import credential_service_pb2 as pb
from cloudact_shared.gen.cloudact.credential.v1 import credential_service_pb2_grpc as pb_grpc
from cloudact_shared.server import BuiltServer, build_service_server
from cloudact_shared.settings import CloudactSettings
from credential_svc.adapters.keyring import LocalKeyRing
from credential_svc.adapters.kms import WrappedKey
from credential_svc.adapters.records import SqliteCredentialRecords
from credential_svc.server import SERVICE_NAME, CredentialServicer, registration
from credential_svc.service import CredentialVault
from tests.channels import org_channel, org_token
from tests.credential_svc.conftest import ORG, OTHER_ORG, StubFor

SECRET_VALUE = "wJalrXUtnFEMI-K7MDENG-bPxRfiCY-TOP-SECRET"
SECRET = {"aws_access_key_id": "AKIAEXAMPLE0001", "aws_secret_access_key": SECRET_VALUE}
T = 5.0  # every client call sets a deadline


async def _create(
    stub: pb_grpc.CredentialServiceStub,
    *,
    org: str = ORG,
    provider: str = "aws",
    name: str = "prod billing",
    secret: dict[str, str] | None = None,
    config: dict[str, str] | None = None,
) -> pb.Credential:
    response = await stub.CreateCredential(
        pb.CreateCredentialRequest(
            org_slug=org,
            provider=provider,
            display_name=name,
            secret=SECRET if secret is None else secret,
            config={"bucket": "cur-bucket", "export_name": "prod-cur", "region": "us-east-1"}
            if config is None
            else config,
        ),
        timeout=T,
    )
    credential: pb.Credential = response.credential
    return credential


async def _rpc_error(call: Any) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call
    return caught.value


def _detail(error: grpc.aio.AioRpcError, message_type: type[Any]) -> Any:
    status = rpc_status.from_call(error)
    assert status is not None, "expected a rich google.rpc.Status"
    for detail in status.details:
        if detail.Is(message_type.DESCRIPTOR):
            unpacked = message_type()
            detail.Unpack(unpacked)
            return unpacked
    return None


def _keyring_path(settings: CloudactSettings) -> Path:
    return settings.keyring_path


def _db(settings: CloudactSettings) -> sqlite3.Connection:
    return sqlite3.connect(settings.data_dir / "credentials.sqlite")


async def test_round_trip(stub: pb_grpc.CredentialServiceStub, pipeline_stub: pb_grpc.CredentialServiceStub) -> None:
    created = await _create(stub)
    assert uuid.UUID(created.credential_id).version == 4
    assert created.org_slug == ORG and created.provider == "aws"
    assert created.display_name == "prod billing"
    assert list(created.secret_field_names) == ["aws_access_key_id", "aws_secret_access_key"]
    assert dict(created.config) == {"bucket": "cur-bucket", "export_name": "prod-cur", "region": "us-east-1"}
    assert created.key_version == "local-v1"
    assert created.HasField("created_at") and not created.HasField("rotated_at")
    other = await _create(
        stub,
        provider="azure",
        name="azure export",
        secret={"sas_token": "sv=2024&sig=abc"},
        config={"container": "exports", "export_name": "daily", "account_url": "https://acme.blob.core.windows.net"},
    )

    got = await stub.GetCredential(
        pb.GetCredentialRequest(org_slug=ORG, credential_id=created.credential_id), timeout=T
    )
    assert got.credential == created

    listed = await stub.ListCredentials(pb.ListCredentialsRequest(org_slug=ORG), timeout=T)
    assert [c.credential_id for c in listed.credentials] == [created.credential_id, other.credential_id]
    only_aws = await stub.ListCredentials(pb.ListCredentialsRequest(org_slug=ORG, provider="aws"), timeout=T)
    assert [c.credential_id for c in only_aws.credentials] == [created.credential_id]
    assert SECRET_VALUE not in str(listed)

    decrypted = await pipeline_stub.DecryptCredential(
        pb.DecryptCredentialRequest(org_slug=ORG, credential_id=created.credential_id), timeout=T
    )
    assert dict(decrypted.secret) == SECRET
    assert decrypted.credential == created

    rewrapped = await stub.RotateCredential(
        pb.RotateCredentialRequest(org_slug=ORG, credential_id=created.credential_id), timeout=T
    )
    assert rewrapped.credential.HasField("rotated_at")
    assert rewrapped.credential.created_at == created.created_at
    same = await pipeline_stub.DecryptCredential(
        pb.DecryptCredentialRequest(org_slug=ORG, credential_id=created.credential_id), timeout=T
    )
    assert dict(same.secret) == SECRET

    new_secret = {
        "aws_access_key_id": "AKIAROTATED",
        "aws_secret_access_key": "rotated-secret",
        "aws_session_token": "tok",
    }
    replaced = await stub.RotateCredential(
        pb.RotateCredentialRequest(org_slug=ORG, credential_id=created.credential_id, new_secret=new_secret),
        timeout=T,
    )
    assert list(replaced.credential.secret_field_names) == sorted(new_secret)
    fresh = await pipeline_stub.DecryptCredential(
        pb.DecryptCredentialRequest(org_slug=ORG, credential_id=created.credential_id), timeout=T
    )
    assert dict(fresh.secret) == new_secret  # the cached old plaintext was invalidated

    await stub.DeleteCredential(
        pb.DeleteCredentialRequest(org_slug=ORG, credential_id=created.credential_id), timeout=T
    )
    for call in (
        stub.GetCredential(pb.GetCredentialRequest(org_slug=ORG, credential_id=created.credential_id), timeout=T),
        pipeline_stub.DecryptCredential(
            pb.DecryptCredentialRequest(org_slug=ORG, credential_id=created.credential_id), timeout=T
        ),
        stub.DeleteCredential(pb.DeleteCredentialRequest(org_slug=ORG, credential_id=created.credential_id), timeout=T),
    ):
        assert (await _rpc_error(call)).code() == grpc.StatusCode.NOT_FOUND
    remaining = await stub.ListCredentials(pb.ListCredentialsRequest(org_slug=ORG), timeout=T)
    assert [c.credential_id for c in remaining.credentials] == [other.credential_id]


async def test_same_org_provider_and_name_already_exists(
    stub: pb_grpc.CredentialServiceStub, stub_for: StubFor
) -> None:
    await _create(stub)
    error = await _rpc_error(_create(stub))
    assert error.code() == grpc.StatusCode.ALREADY_EXISTS
    assert _detail(error, error_details_pb2.ErrorInfo).reason == "CREDENTIAL_EXISTS"
    # Same name under another provider or another org is fine.
    await _create(
        stub,
        provider="azure",
        secret={"sas_token": "sv=2024&sig=abc"},
        config={"container": "exports", "export_name": "daily", "account_url": "https://acme.blob.core.windows.net"},
    )
    await _create(stub_for(OTHER_ORG), org=OTHER_ORG)


async def test_keyring_file_is_private(
    built: object, settings: CloudactSettings, stub: pb_grpc.CredentialServiceStub
) -> None:
    path = _keyring_path(settings)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    document = json.loads(path.read_text())
    assert [entry["version"] for entry in document["keys"]] == ["local-v1"]
    assert stat.S_IMODE((settings.data_dir / "credentials.sqlite").stat().st_mode) == 0o600


async def test_keyring_rotation_then_rotate_credential(
    settings: CloudactSettings, stub: pb_grpc.CredentialServiceStub, pipeline_stub: pb_grpc.CredentialServiceStub
) -> None:
    first = await _create(stub, name="first")
    second = await _create(stub, name="second")
    with _db(settings) as db:
        (old_wrapped, old_ciphertext) = db.execute(
            "SELECT wrapped_data_key, ciphertext FROM credentials WHERE credential_id = ?",
            (first.credential_id,),
        ).fetchone()

    # An ops process rotates the key ring file while the server runs: no restart needed.
    ops_ring = await LocalKeyRing.open(_keyring_path(settings))
    assert await ops_ring.rotate() == "local-v2"
    assert stat.S_IMODE(_keyring_path(settings).stat().st_mode) == 0o600

    rotated = await stub.RotateCredential(
        pb.RotateCredentialRequest(org_slug=ORG, credential_id=first.credential_id), timeout=T
    )
    assert rotated.credential.key_version == "local-v2"
    with _db(settings) as db:
        (version, new_wrapped, new_ciphertext) = db.execute(
            "SELECT key_version, wrapped_data_key, ciphertext FROM credentials WHERE credential_id = ?",
            (first.credential_id,),
        ).fetchone()
    assert version == "local-v2"
    assert new_wrapped != old_wrapped and new_ciphertext != old_ciphertext
    assert old_ciphertext not in (settings.data_dir / "credentials.sqlite").read_bytes()  # secure_delete

    for credential, expected_version in ((first, "local-v2"), (second, "local-v1")):
        result = await pipeline_stub.DecryptCredential(
            pb.DecryptCredentialRequest(org_slug=ORG, credential_id=credential.credential_id), timeout=T
        )
        assert dict(result.secret) == SECRET
        assert result.credential.key_version == expected_version
    assert (await _create(stub, name="third")).key_version == "local-v2"


async def test_decrypt_is_refused_to_every_token_and_to_other_services(
    settings: CloudactSettings, built: BuiltServer, stub: pb_grpc.CredentialServiceStub
) -> None:
    created = await _create(stub)
    request = pb.DecryptCredentialRequest(org_slug=ORG, credential_id=created.credential_id)
    # An admin token of the credential's own org, on the public port: internal RPC, refused.
    error = await _rpc_error(stub.DecryptCredential(request, timeout=T))
    assert error.code() == grpc.StatusCode.PERMISSION_DENIED
    assert _detail(error, error_details_pb2.ErrorInfo).reason == "INTERNAL_RPC"
    # A service certificate that is not on the pipeline side (query_svc) on the internal port.
    async with open_channel(settings, f"127.0.0.1:{built.internal_port}", service="query_svc") as chan:
        error = await _rpc_error(pb_grpc.CredentialServiceStub(chan).DecryptCredential(request, timeout=T))
    assert error.code() == grpc.StatusCode.PERMISSION_DENIED
    # No client certificate at all: the internal port's TLS handshake itself fails.
    async with open_channel(
        settings, f"127.0.0.1:{built.internal_port}", token=org_token(settings.tokens_path, ORG)
    ) as chan:
        error = await _rpc_error(pb_grpc.CredentialServiceStub(chan).DecryptCredential(request, timeout=T))
    assert error.code() == grpc.StatusCode.UNAVAILABLE


async def test_callers_without_a_valid_token_are_unauthenticated(
    settings: CloudactSettings, built: BuiltServer, stub: pb_grpc.CredentialServiceStub
) -> None:
    request = pb.ListCredentialsRequest(org_slug=ORG)
    async with open_channel(settings, f"127.0.0.1:{built.port}") as chan:
        anonymous = pb_grpc.CredentialServiceStub(chan)
        error = await _rpc_error(anonymous.ListCredentials(request, timeout=T))
        assert error.code() == grpc.StatusCode.UNAUTHENTICATED
        assert _detail(error, error_details_pb2.ErrorInfo).reason == "MISSING_TOKEN"
        token = org_token(settings.tokens_path, ORG)
        for header in (token, f"Basic {token}", "Bearer not-a-token", f"Bearer {token}x"):
            error = await _rpc_error(
                anonymous.ListCredentials(request, metadata=(("authorization", header),), timeout=T)
            )
            assert error.code() == grpc.StatusCode.UNAUTHENTICATED, header
            assert token not in (error.details() or "")
    assert (await stub.ListCredentials(request, timeout=T)).credentials == []


async def test_other_org_gets_not_found_or_permission_denied(
    stub: pb_grpc.CredentialServiceStub, stub_for: StubFor, pipeline_stub: pb_grpc.CredentialServiceStub
) -> None:
    created = await _create(stub)
    cid = created.credential_id
    other = stub_for(OTHER_ORG)
    # An admin of another org naming its own org: the id is simply not found there.
    calls = [
        other.GetCredential(pb.GetCredentialRequest(org_slug=OTHER_ORG, credential_id=cid), timeout=T),
        pipeline_stub.DecryptCredential(pb.DecryptCredentialRequest(org_slug=OTHER_ORG, credential_id=cid), timeout=T),
        other.RotateCredential(pb.RotateCredentialRequest(org_slug=OTHER_ORG, credential_id=cid), timeout=T),
        other.DeleteCredential(pb.DeleteCredentialRequest(org_slug=OTHER_ORG, credential_id=cid), timeout=T),
    ]
    never_existed = str(uuid.uuid4())
    missing = await _rpc_error(
        other.GetCredential(pb.GetCredentialRequest(org_slug=OTHER_ORG, credential_id=never_existed), timeout=T)
    )
    for call in calls:
        error = await _rpc_error(call)
        assert error.code() == grpc.StatusCode.NOT_FOUND  # existence must not leak
        assert error.details() == missing.details().replace(never_existed, cid)
    listed = await other.ListCredentials(pb.ListCredentialsRequest(org_slug=OTHER_ORG), timeout=T)
    assert list(listed.credentials) == []
    # The same admin naming the victim's org: refused before anything is looked up.
    for call in (
        other.GetCredential(pb.GetCredentialRequest(org_slug=ORG, credential_id=cid), timeout=T),
        other.ListCredentials(pb.ListCredentialsRequest(org_slug=ORG), timeout=T),
        other.RotateCredential(
            pb.RotateCredentialRequest(org_slug=ORG, credential_id=cid, new_secret=SECRET), timeout=T
        ),
        other.DeleteCredential(pb.DeleteCredentialRequest(org_slug=ORG, credential_id=cid), timeout=T),
    ):
        error = await _rpc_error(call)
        assert error.code() == grpc.StatusCode.PERMISSION_DENIED
        assert _detail(error, error_details_pb2.ErrorInfo).reason == "WRONG_ORG"
    # Still intact for its own org.
    got = await stub.GetCredential(pb.GetCredentialRequest(org_slug=ORG, credential_id=cid), timeout=T)
    assert got.credential.credential_id == cid


async def test_roles_bound_what_a_token_may_do(stub: pb_grpc.CredentialServiceStub, stub_for: StubFor) -> None:
    created = await _create(stub)
    cid = created.credential_id
    viewer, operator = stub_for(ORG, "viewer"), stub_for(ORG, "operator")
    assert (await viewer.GetCredential(pb.GetCredentialRequest(org_slug=ORG, credential_id=cid), timeout=T)).credential
    assert (await viewer.ListCredentials(pb.ListCredentialsRequest(org_slug=ORG), timeout=T)).credentials
    for call in (
        _create(viewer, name="by viewer"),
        viewer.RotateCredential(pb.RotateCredentialRequest(org_slug=ORG, credential_id=cid), timeout=T),
        viewer.DeleteCredential(pb.DeleteCredentialRequest(org_slug=ORG, credential_id=cid), timeout=T),
        operator.DeleteCredential(pb.DeleteCredentialRequest(org_slug=ORG, credential_id=cid), timeout=T),
    ):
        error = await _rpc_error(call)
        assert error.code() == grpc.StatusCode.PERMISSION_DENIED
        assert _detail(error, error_details_pb2.ErrorInfo).reason == "ROLE_TOO_LOW"
    await _create(operator, name="by operator")
    await operator.RotateCredential(pb.RotateCredentialRequest(org_slug=ORG, credential_id=cid), timeout=T)
    await stub.DeleteCredential(pb.DeleteCredentialRequest(org_slug=ORG, credential_id=cid), timeout=T)


async def test_invalid_org_slug_is_invalid_argument_with_bad_request(
    stub: pb_grpc.CredentialServiceStub,
) -> None:
    error = await _rpc_error(_create(stub, org="Acme-Corp"))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    bad_request = _detail(error, error_details_pb2.BadRequest)
    assert [v.field for v in bad_request.field_violations] == ["org_slug"]
    assert _detail(error, error_details_pb2.ErrorInfo).reason == "INVALID_ORG_SLUG"

    for call in (
        stub.ListCredentials(pb.ListCredentialsRequest(org_slug="x"), timeout=T),
        stub.GetCredential(pb.GetCredentialRequest(org_slug="../etc", credential_id=str(uuid.uuid4())), timeout=T),
    ):
        error = await _rpc_error(call)
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert [v.field for v in _detail(error, error_details_pb2.BadRequest).field_violations] == ["org_slug"]


async def test_all_field_violations_reported_together(stub: pb_grpc.CredentialServiceStub) -> None:
    error = await _rpc_error(
        stub.CreateCredential(
            pb.CreateCredentialRequest(org_slug=ORG, provider="AWS!", display_name="  ", secret={}),
            timeout=T,
        )
    )
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    fields = [v.field for v in _detail(error, error_details_pb2.BadRequest).field_violations]
    assert fields == ["provider", "display_name", "secret"]

    error = await _rpc_error(_create(stub, secret={"": SECRET_VALUE}))
    assert [v.field for v in _detail(error, error_details_pb2.BadRequest).field_violations] == ["secret"]
    assert SECRET_VALUE not in str(rpc_status.from_call(error))


async def test_malformed_credential_id_is_not_found(pipeline_stub: pb_grpc.CredentialServiceStub) -> None:
    # An id that is not a UUID names no credential; the pipeline sees the same NOT_FOUND as for a deleted one.
    for bad_id in ("42", "no-such-credential", "x" * 500):
        error = await _rpc_error(
            pipeline_stub.DecryptCredential(pb.DecryptCredentialRequest(org_slug=ORG, credential_id=bad_id), timeout=T)
        )
        assert error.code() == grpc.StatusCode.NOT_FOUND
        assert _detail(error, error_details_pb2.ErrorInfo).reason == "CREDENTIAL_NOT_FOUND"
        assert len(error.details() or "") < 200


@pytest.mark.parametrize("column", ["ciphertext", "wrapped_data_key", "nonce"])
async def test_tampered_envelope_fails_cleanly(
    settings: CloudactSettings,
    stub: pb_grpc.CredentialServiceStub,
    pipeline_stub: pb_grpc.CredentialServiceStub,
    column: str,
) -> None:
    created = await _create(stub)
    with _db(settings) as db:
        (blob,) = db.execute(
            f"SELECT {column} FROM credentials WHERE credential_id = ?", (created.credential_id,)
        ).fetchone()
        flipped = bytes([blob[0] ^ 0x01]) + blob[1:]
        db.execute(f"UPDATE credentials SET {column} = ? WHERE credential_id = ?", (flipped, created.credential_id))
    error = await _rpc_error(
        pipeline_stub.DecryptCredential(
            pb.DecryptCredentialRequest(org_slug=ORG, credential_id=created.credential_id), timeout=T
        )
    )
    _assert_undecryptable(error)


async def test_envelope_moved_to_another_credential_or_org_fails(
    settings: CloudactSettings,
    stub: pb_grpc.CredentialServiceStub,
    stub_for: StubFor,
    pipeline_stub: pb_grpc.CredentialServiceStub,
) -> None:
    victim = await _create(stub, name="victim")
    same_org = await _create(stub, name="attacker", secret={"aws_access_key_id": "x", "aws_secret_access_key": "y"})
    other_org = await _create(
        stub_for(OTHER_ORG), org=OTHER_ORG, secret={"aws_access_key_id": "x", "aws_secret_access_key": "y"}
    )
    with _db(settings) as db:
        envelope = db.execute(
            "SELECT key_version, wrapped_data_key, nonce, ciphertext FROM credentials WHERE credential_id = ?",
            (victim.credential_id,),
        ).fetchone()
        for target in (same_org, other_org):
            db.execute(
                "UPDATE credentials SET key_version = ?, wrapped_data_key = ?, nonce = ?, ciphertext = ?"
                " WHERE credential_id = ?",
                (*envelope, target.credential_id),
            )
    for target in (same_org, other_org):
        error = await _rpc_error(
            pipeline_stub.DecryptCredential(
                pb.DecryptCredentialRequest(org_slug=target.org_slug, credential_id=target.credential_id), timeout=T
            )
        )
        _assert_undecryptable(error)


def _assert_undecryptable(error: grpc.aio.AioRpcError) -> None:
    assert error.code() in (grpc.StatusCode.INTERNAL, grpc.StatusCode.DATA_LOSS)
    assert error.details() == "stored credential could not be decrypted"
    assert _detail(error, error_details_pb2.ErrorInfo).reason == "CREDENTIAL_UNDECRYPTABLE"
    assert SECRET_VALUE not in str(rpc_status.from_call(error))


async def test_secret_never_logged_nor_in_errors(
    caplog: pytest.LogCaptureFixture,
    settings: CloudactSettings,
    stub: pb_grpc.CredentialServiceStub,
    pipeline_stub: pb_grpc.CredentialServiceStub,
) -> None:
    caplog.set_level(logging.DEBUG)
    created = await _create(stub)
    request = pb.DecryptCredentialRequest(org_slug=ORG, credential_id=created.credential_id)
    assert dict((await pipeline_stub.DecryptCredential(request, timeout=T)).secret) == SECRET
    await stub.RotateCredential(
        pb.RotateCredentialRequest(org_slug=ORG, credential_id=created.credential_id), timeout=T
    )
    errors = [
        await _rpc_error(stub.DecryptCredential(request, timeout=T)),
        await _rpc_error(_create(stub)),  # ALREADY_EXISTS
        await _rpc_error(_create(stub, org="NOPE", secret={"k": SECRET_VALUE})),
        await _rpc_error(_create(stub, name="big", secret={"k": SECRET_VALUE * 3000})),  # too large
    ]
    with _db(settings) as db:
        db.execute(
            "UPDATE credentials SET ciphertext = zeroblob(40) WHERE credential_id = ?",
            (created.credential_id,),
        )
    errors.append(await _rpc_error(pipeline_stub.DecryptCredential(request, timeout=T)))
    assert errors[3].code() == grpc.StatusCode.INVALID_ARGUMENT
    assert caplog.records, "the service logs its operations"
    assert SECRET_VALUE not in caplog.text
    assert org_token(settings.tokens_path, ORG) not in caplog.text
    audit = settings.audit_path.read_text()
    assert SECRET_VALUE not in audit and org_token(settings.tokens_path, ORG) not in audit
    for error in errors:
        assert SECRET_VALUE not in (error.details() or "")
        assert SECRET_VALUE.encode() not in rpc_status.from_call(error).SerializeToString()


async def test_health_serving_and_reflection_lists_service(channel: grpc.aio.Channel) -> None:
    health = health_pb2_grpc.HealthStub(channel)
    for service in ("", SERVICE_NAME):
        response = await health.Check(health_pb2.HealthCheckRequest(service=service), timeout=T)
        assert response.status == health_pb2.HealthCheckResponse.SERVING

    reflection = reflection_pb2_grpc.ServerReflectionStub(channel)
    call = reflection.ServerReflectionInfo(timeout=T)
    await call.write(reflection_pb2.ServerReflectionRequest(list_services=""))
    await call.write(reflection_pb2.ServerReflectionRequest(file_containing_symbol=SERVICE_NAME))
    await call.done_writing()
    responses = [response async for response in call]
    names = {service.name for service in responses[0].list_services_response.service}
    assert {"cloudact.credential.v1.CredentialService", "grpc.health.v1.Health"} <= names
    assert responses[1].file_descriptor_response.file_descriptor_proto  # grpcurl can describe it


async def test_tiny_deadline_is_honoured(stub: pb_grpc.CredentialServiceStub) -> None:
    # A microsecond cannot cover a round trip: the call must fail with DEADLINE_EXCEEDED, never succeed.
    error = await _rpc_error(_create_with_timeout(stub, 0.000001))
    assert error.code() == grpc.StatusCode.DEADLINE_EXCEEDED


async def _create_with_timeout(stub: pb_grpc.CredentialServiceStub, deadline: float) -> None:
    await stub.CreateCredential(
        pb.CreateCredentialRequest(
            org_slug=ORG,
            provider="aws",
            display_name="fast",
            secret=SECRET,
            config={"bucket": "cur-bucket", "export_name": "prod-cur", "region": "us-east-1"},
        ),
        timeout=deadline,
    )


class _SlowKeyService:
    """A key service that takes 2 s (a slow remote KMS) and records the deadline it was given."""

    def __init__(self, inner: LocalKeyRing) -> None:
        self.inner = inner
        self.seen: list[float | None] = []
        self.cancelled = asyncio.Event()

    async def wrap(self, plaintext_key: bytes, aad: bytes, *, timeout: float | None = None) -> WrappedKey:
        self.seen.append(timeout)
        try:
            await asyncio.sleep(2)  # the remote call that takes too long
        except asyncio.CancelledError:
            self.cancelled.set()
            raise
        return await self.inner.wrap(plaintext_key, aad)

    async def unwrap(self, wrapped: WrappedKey, aad: bytes, *, timeout: float | None = None) -> bytes:
        return await self.inner.unwrap(wrapped, aad)

    async def current_version(self, *, timeout: float | None = None) -> str:
        return await self.inner.current_version()


async def test_caller_deadline_reaches_the_key_service(tmp_path: Path, settings: CloudactSettings) -> None:
    ring = await LocalKeyRing.open(tmp_path / "secrets" / "keyring.json")
    records = await SqliteCredentialRecords.open(tmp_path / "credentials.sqlite")
    slow = _SlowKeyService(ring)
    vault = CredentialVault(records, slow)
    server = build_service_server(
        [registration(CredentialServicer(vault, default_timeout=600))],
        settings,
        "credential_svc",
        address="127.0.0.1:0",
        internal_address="127.0.0.1:0",
        on_stop=[records.close],
    )
    await server.start()
    try:
        async with org_channel(settings, f"127.0.0.1:{server.port}", ORG) as channel:
            stub = pb_grpc.CredentialServiceStub(channel)
            loop = asyncio.get_running_loop()
            started = loop.time()
            error = await _rpc_error(_create_with_timeout(stub, 0.3))
            assert error.code() == grpc.StatusCode.DEADLINE_EXCEEDED
            assert loop.time() - started < 1.5
            assert slow.seen and slow.seen[0] is not None and 0 < slow.seen[0] < 0.5  # not the 600 s default
            # The server gave up too: its wait on the key service was cancelled, and no record was written.
            await asyncio.wait_for(slow.cancelled.wait(), timeout=5)
            listed = await stub.ListCredentials(pb.ListCredentialsRequest(org_slug=ORG), timeout=T)
            assert list(listed.credentials) == []
    finally:
        await server.stop(0)
