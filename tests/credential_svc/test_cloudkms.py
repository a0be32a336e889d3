"""Cloud KMS as credential_svc's key backend: the real async google-cloud-kms client against the fake
Cloud KMS server (cloudact_cli/kms_emulator.py) on loopback, the vault over real SQLite, and the real
credential_svc server with ``key_backend="cloudkms"``."""

from __future__ import annotations

import asyncio
import base64
import logging
import os
import sqlite3
import stat
import time
from collections.abc import AsyncIterator
from pathlib import Path

import google_crc32c
import grpc
import pytest
from google.api_core import exceptions as google_errors
from google.cloud import kms_v1
from google.cloud.kms_v1.services.key_management_service.transports import grpc_asyncio as kms_transport

from cloudact_cli.keys import rewrap_credentials, rotate_key
from cloudact_cli.kms_emulator import KmsEmulator, kms_emulator
from cloudact_shared.auth import ensure_local_pki
from cloudact_shared.errors import CloudactError, FailedPrecondition, Unavailable
from cloudact_shared.gen.cloudact.credential.v1 import credential_service_pb2 as pb
from cloudact_shared.gen.cloudact.credential.v1 import credential_service_pb2_grpc as pb_grpc
from cloudact_shared.settings import CloudactSettings
from credential_svc.adapters.cloudkms import CloudKmsKeyService
from credential_svc.adapters.kms import UNDECRYPTABLE_REASON, WrappedKey
from credential_svc.adapters.records import SqliteCredentialRecords
from credential_svc.secret import Secret
from credential_svc.server import open_key_service
from credential_svc.service import CredentialVault, NewCredential
from tests.credential_svc.conftest import ORG, OTHER_ORG

PROJECT, LOCATION, KEY_RING, KEY = "acme-security", "global", "cloudact", "credentials"
KEY_NAME = f"projects/{PROJECT}/locations/{LOCATION}/keyRings/{KEY_RING}/cryptoKeys/{KEY}"
DATA_KEY = bytes(range(32))
AAD = b'{"context":"cloudact.credential.v1","credential_id":"c1"}'
SECRET_VALUE = "wJalrXUtnFEMI-K7MDENG-KMS-TOP-SECRET"
SECRET = {"aws_access_key_id": "AKIAEXAMPLE0001", "aws_secret_access_key": SECRET_VALUE}
CONFIG = {"bucket": "cur-bucket", "export_name": "prod-cur", "region": "us-east-1"}
T = 5.0


def _version(number: int, key_name: str = KEY_NAME) -> str:
    return f"{key_name}/cryptoKeyVersions/{number}"


@pytest.fixture
async def kms() -> AsyncIterator[KmsEmulator]:
    async with kms_emulator(None) as emulator:
        await emulator.create_key(PROJECT, LOCATION, KEY_RING, KEY)
        yield emulator


@pytest.fixture
def settings(tmp_path: Path, kms: KmsEmulator) -> CloudactSettings:
    """Overrides conftest's: the same server fixtures, with Cloud KMS as the key backend."""
    configured = CloudactSettings(
        data_dir=tmp_path / "data",
        allow_endpoint_overrides=True,
        key_backend="cloudkms",
        kms_key_name=KEY_NAME,
        kms_endpoint=kms.endpoint,
    )
    ensure_local_pki(configured)
    return configured


@pytest.fixture
async def service(settings: CloudactSettings) -> AsyncIterator[CloudKmsKeyService]:
    key_service = CloudKmsKeyService.from_settings(settings)
    yield key_service
    await key_service.close()


@pytest.fixture
async def admin(kms: KmsEmulator) -> AsyncIterator[kms_v1.KeyManagementServiceAsyncClient]:
    """The operator's own client (Google's side: destroying versions, raw calls)."""
    channel = grpc.aio.insecure_channel(kms.endpoint)
    client = kms_v1.KeyManagementServiceAsyncClient(
        transport=kms_transport.KeyManagementServiceGrpcAsyncIOTransport(channel=channel)
    )
    yield client
    await channel.close()


@pytest.fixture
async def records(tmp_path: Path) -> AsyncIterator[SqliteCredentialRecords]:
    store = await SqliteCredentialRecords.open(tmp_path / "data" / "credentials.sqlite")
    yield store
    await store.close()


def _new(org: str, name: str) -> NewCredential:
    return NewCredential(org, "aws", name, Secret.of(SECRET), CONFIG)


async def _undecryptable(call: object) -> CloudactError:
    with pytest.raises(CloudactError) as caught:
        await call  # type: ignore[misc]
    assert caught.value.reason == UNDECRYPTABLE_REASON
    assert caught.value.__cause__ is None and caught.value.__context__ is None
    return caught.value


# --- the key service ------------------------------------------------------------------------------


async def test_wrap_unwrap_round_trip_names_the_version(service: CloudKmsKeyService) -> None:
    wrapped = await service.wrap(DATA_KEY, AAD, timeout=T)
    assert wrapped.key_version == _version(1)
    assert DATA_KEY not in wrapped.ciphertext and len(wrapped.ciphertext) > len(DATA_KEY)
    assert await service.unwrap(wrapped, AAD, timeout=T) == DATA_KEY
    assert await service.current_version(timeout=T) == _version(1)
    # A fresh nonce every time: the same key wraps to a different ciphertext.
    assert (await service.wrap(DATA_KEY, AAD, timeout=T)).ciphertext != wrapped.ciphertext


async def test_wrong_aad_or_tampering_is_undecryptable(service: CloudKmsKeyService, kms: KmsEmulator) -> None:
    wrapped = await service.wrap(DATA_KEY, AAD, timeout=T)
    await _undecryptable(service.unwrap(wrapped, AAD.replace(b"c1", b"c2"), timeout=T))
    await _undecryptable(service.unwrap(wrapped, b"", timeout=T))
    blob = wrapped.ciphertext
    for index in (0, 1, 17, 30, len(blob) - 1):  # format byte, version handle, nonce, body, tag
        tampered = blob[:index] + bytes([blob[index] ^ 0x01]) + blob[index + 1 :]
        await _undecryptable(service.unwrap(WrappedKey(wrapped.key_version, tampered), AAD, timeout=T))
    await _undecryptable(service.unwrap(WrappedKey(wrapped.key_version, blob[:20]), AAD, timeout=T))
    await _undecryptable(service.unwrap(WrappedKey(wrapped.key_version, b""), AAD, timeout=T))
    await _undecryptable(service.unwrap(WrappedKey("local-v1", blob), AAD, timeout=T))
    # Another key's ciphertext presented as this key's: Cloud KMS refuses it like tampering.
    other_key = await kms.create_key(PROJECT, LOCATION, KEY_RING, "other")
    other = CloudKmsKeyService.from_settings(
        CloudactSettings(key_backend="cloudkms", kms_key_name=other_key, kms_endpoint=kms.endpoint)
    )
    try:
        foreign = await other.wrap(DATA_KEY, AAD, timeout=T)
        assert foreign.key_version == _version(1, other_key)
        await _undecryptable(service.unwrap(WrappedKey(wrapped.key_version, foreign.ciphertext), AAD, timeout=T))
    finally:
        await other.close()


async def test_rotate_then_old_versions_unwrap_until_destroyed(
    service: CloudKmsKeyService, admin: kms_v1.KeyManagementServiceAsyncClient
) -> None:
    old = await service.wrap(DATA_KEY, AAD, timeout=T)
    assert await service.rotate(timeout=T) == _version(2)
    assert await service.current_version(timeout=T) == _version(2)
    new = await service.wrap(DATA_KEY, AAD, timeout=T)
    assert new.key_version == _version(2)
    assert await service.unwrap(old, AAD, timeout=T) == DATA_KEY  # no downtime: v1 still decrypts
    assert await service.unwrap(new, AAD, timeout=T) == DATA_KEY

    destroyed = await admin.destroy_crypto_key_version(name=_version(1))
    assert destroyed.state == kms_v1.CryptoKeyVersion.CryptoKeyVersionState.DESTROY_SCHEDULED
    await _undecryptable(service.unwrap(old, AAD, timeout=T))
    assert await service.unwrap(new, AAD, timeout=T) == DATA_KEY


async def test_kms_down_is_unavailable_within_the_deadline(tmp_path: Path) -> None:
    async with kms_emulator(None) as emulator:
        key_name = await emulator.create_key(PROJECT, LOCATION, KEY_RING, KEY)
        down = CloudKmsKeyService.from_settings(
            CloudactSettings(key_backend="cloudkms", kms_key_name=key_name, kms_endpoint=emulator.endpoint)
        )
        wrapped = await down.wrap(DATA_KEY, AAD, timeout=T)
    try:
        for call in (down.unwrap(wrapped, AAD, timeout=1.5), down.wrap(DATA_KEY, AAD, timeout=1.5)):
            started = time.monotonic()
            with pytest.raises(Unavailable) as caught:
                await call
            assert time.monotonic() - started < 1.5 + 0.5
            assert caught.value.reason == "KMS_UNAVAILABLE" and caught.value.__cause__ is None
            assert base64.b64encode(DATA_KEY).decode() not in caught.value.message
    finally:
        await down.close()


async def test_permission_denied_names_the_missing_role(kms: KmsEmulator, service: CloudKmsKeyService) -> None:
    wrapped = await service.wrap(DATA_KEY, AAD, timeout=T)
    kms.deny(KEY_NAME)
    for call in (service.wrap(DATA_KEY, AAD, timeout=T), service.unwrap(wrapped, AAD, timeout=T)):
        with pytest.raises(FailedPrecondition) as caught:
            await call
        assert caught.value.reason == "KMS_PERMISSION_DENIED"
        assert "roles/cloudkms.cryptoKeyEncrypterDecrypter" in caught.value.message
        assert KEY_NAME in caught.value.message


async def test_a_missing_key_is_a_clear_error(kms: KmsEmulator) -> None:
    missing = KEY_NAME.replace(KEY, "nope")
    key_service = CloudKmsKeyService.from_settings(
        CloudactSettings(key_backend="cloudkms", kms_key_name=missing, kms_endpoint=kms.endpoint)
    )
    try:
        with pytest.raises(FailedPrecondition) as caught:
            await key_service.wrap(DATA_KEY, AAD, timeout=T)
        assert caught.value.reason == "KMS_KEY_NOT_FOUND" and missing in caught.value.message
    finally:
        await key_service.close()


@pytest.mark.parametrize("endpoint", ["10.0.0.5:443", "cloudkms.googleapis.com:443", "[2001:db8::1]:443"])
def test_a_plaintext_endpoint_off_this_machine_is_refused(endpoint: str) -> None:
    settings = CloudactSettings(key_backend="cloudkms", kms_key_name=KEY_NAME, kms_endpoint=endpoint)
    with pytest.raises(FailedPrecondition) as caught:
        CloudKmsKeyService.from_settings(settings)
    assert caught.value.reason == "KMS_ENDPOINT_NOT_LOOPBACK" and endpoint in caught.value.message


@pytest.mark.parametrize("endpoint", ["127.0.0.1:1", "localhost:1", "[::1]:1"])
async def test_loopback_endpoints_are_accepted(endpoint: str) -> None:
    key_service = CloudKmsKeyService.from_settings(
        CloudactSettings(key_backend="cloudkms", kms_key_name=KEY_NAME, kms_endpoint=endpoint)
    )
    assert repr(key_service) == f"CloudKmsKeyService(key={KEY_NAME!r})"
    await key_service.close()


async def test_no_key_material_in_reprs_errors_or_debug_logs(
    service: CloudKmsKeyService, caplog: pytest.LogCaptureFixture, request: pytest.FixtureRequest
) -> None:
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="google")
    # google-api-core may stop the "google" logger from propagating to the root: listen there too.
    google_logger = logging.getLogger("google")
    google_logger.addHandler(caplog.handler)
    request.addfinalizer(lambda: google_logger.removeHandler(caplog.handler))
    # The client's payload-logging interceptor stays off even with every logger at DEBUG.
    assert not logging.getLogger(kms_transport.__name__).isEnabledFor(logging.DEBUG)
    wrapped = await service.wrap(DATA_KEY, AAD, timeout=T)
    await service.unwrap(wrapped, AAD, timeout=T)
    with pytest.raises(CloudactError) as caught:
        await service.unwrap(wrapped, b"wrong", timeout=T)
    forms = (DATA_KEY, DATA_KEY.hex(), base64.b64encode(DATA_KEY).decode(), repr(DATA_KEY))
    # Whole records: the client puts request and response payloads in extra fields, not the message.
    logged = "".join(str(vars(record)) for record in caplog.records)
    shown = logged + repr(service) + repr(wrapped) + str(caught.value) + repr(caught.value)
    for form in forms:
        assert str(form) not in shown
    assert wrapped.ciphertext.hex() not in shown and repr(wrapped.ciphertext) not in shown


# --- the fake server, as Google's service answers the real client ------------------------------


async def test_emulator_checks_and_fills_crc32c_like_google(admin: kms_v1.KeyManagementServiceAsyncClient) -> None:
    plain = await admin.encrypt(request=kms_v1.EncryptRequest(name=KEY_NAME, plaintext=DATA_KEY))
    assert not plain.verified_plaintext_crc32c and not plain.verified_additional_authenticated_data_crc32c
    assert plain.ciphertext_crc32c == google_crc32c.value(plain.ciphertext)
    assert plain.name == _version(1)

    with pytest.raises(google_errors.InvalidArgument) as caught:
        await admin.encrypt(
            request=kms_v1.EncryptRequest(
                name=KEY_NAME, plaintext=DATA_KEY, plaintext_crc32c=1 + google_crc32c.value(DATA_KEY)
            )
        )
    assert "plaintext_crc32c" in str(caught.value)
    with pytest.raises(google_errors.InvalidArgument):
        await admin.decrypt(
            request=kms_v1.DecryptRequest(name=KEY_NAME, ciphertext=plain.ciphertext, ciphertext_crc32c=7)
        )
    decrypted = await admin.decrypt(request=kms_v1.DecryptRequest(name=KEY_NAME, ciphertext=plain.ciphertext))
    assert decrypted.plaintext == DATA_KEY and decrypted.used_primary
    assert decrypted.plaintext_crc32c == google_crc32c.value(DATA_KEY)

    with pytest.raises(google_errors.NotFound):
        await admin.get_crypto_key(name=KEY_NAME + "x")
    await admin.destroy_crypto_key_version(name=_version(1))
    with pytest.raises(google_errors.FailedPrecondition):  # only an enabled version may become primary
        await admin.update_crypto_key_primary_version(name=KEY_NAME, crypto_key_version_id="1")
    with pytest.raises(google_errors.FailedPrecondition):  # the destroyed primary cannot encrypt
        await admin.encrypt(request=kms_v1.EncryptRequest(name=KEY_NAME, plaintext=DATA_KEY))


async def test_emulator_creates_key_rings_and_keys_through_the_client(
    admin: kms_v1.KeyManagementServiceAsyncClient,
) -> None:
    parent = f"projects/{PROJECT}/locations/europe-west1"
    ring = await admin.create_key_ring(parent=parent, key_ring_id="ops", key_ring=kms_v1.KeyRing())
    assert ring.name == f"{parent}/keyRings/ops"
    with pytest.raises(google_errors.AlreadyExists):
        await admin.create_key_ring(parent=parent, key_ring_id="ops", key_ring=kms_v1.KeyRing())
    purpose = kms_v1.CryptoKey.CryptoKeyPurpose.ENCRYPT_DECRYPT
    key = await admin.create_crypto_key(
        parent=ring.name, crypto_key_id="k", crypto_key=kms_v1.CryptoKey(purpose=purpose)
    )
    assert key.primary.name == f"{ring.name}/cryptoKeys/k/cryptoKeyVersions/1"
    assert key.primary.state == kms_v1.CryptoKeyVersion.CryptoKeyVersionState.ENABLED
    with pytest.raises(google_errors.NotFound):
        await admin.create_crypto_key(
            parent=f"{parent}/keyRings/missing", crypto_key_id="k", crypto_key=kms_v1.CryptoKey(purpose=purpose)
        )
    version = await admin.create_crypto_key_version(parent=key.name, crypto_key_version=kms_v1.CryptoKeyVersion())
    assert version.name.endswith("/cryptoKeyVersions/2")
    assert (await admin.get_crypto_key(name=key.name)).primary.name.endswith("/1")  # not primary by itself


async def test_emulator_state_survives_a_restart_in_a_private_file(tmp_path: Path) -> None:
    state = tmp_path / "kms" / "state.json"
    async with kms_emulator(state) as first:
        key_name = await first.create_key(PROJECT, LOCATION, KEY_RING, KEY)
        settings = CloudactSettings(key_backend="cloudkms", kms_key_name=key_name, kms_endpoint=first.endpoint)
        key_service = CloudKmsKeyService.from_settings(settings)
        wrapped = await key_service.wrap(DATA_KEY, AAD, timeout=T)
        await key_service.close()
    assert stat.S_IMODE(state.stat().st_mode) == 0o600 and stat.S_IMODE(state.parent.stat().st_mode) == 0o700
    async with kms_emulator(state) as second:
        assert await second.create_key(PROJECT, LOCATION, KEY_RING, KEY) == key_name  # found, not re-made
        settings = settings.model_copy(update={"kms_endpoint": second.endpoint})
        key_service = CloudKmsKeyService.from_settings(settings)
        assert await key_service.unwrap(wrapped, AAD, timeout=T) == DATA_KEY
        await key_service.close()
    os.chmod(state, 0o644)
    with pytest.raises(PermissionError):
        async with kms_emulator(state):
            pass


# --- the vault and the server on Cloud KMS --------------------------------------------------------


async def test_rewrap_all_moves_every_record_while_decrypts_go_on(
    service: CloudKmsKeyService,
    records: SqliteCredentialRecords,
    admin: kms_v1.KeyManagementServiceAsyncClient,
) -> None:
    vault = CredentialVault(records, service)
    created = [await vault.create(_new(org, f"cred {i}"), timeout=T) for org in (ORG, OTHER_ORG) for i in range(6)]
    assert {c.key_version for c in created} == {_version(1)}
    before = {c.credential_id: (await records.get(c.org_slug, c.credential_id)) for c in created}

    assert await service.rotate(timeout=T) == _version(2)
    newer = await vault.create(_new(ORG, "after rotation"), timeout=T)
    assert newer.key_version == _version(2)

    done = asyncio.Event()
    decrypts = 0

    async def keep_decrypting() -> None:
        nonlocal decrypts
        while not done.is_set():
            for credential in created:
                # A fresh vault each time: no plaintext cache, every decrypt unwraps through KMS.
                fresh = CredentialVault(records, service)
                result = await fresh.decrypt(credential.org_slug, credential.credential_id, timeout=T)
                assert result.secret.reveal() == SECRET
                decrypts += 1

    async def rewrap() -> None:
        try:
            summary = await vault.rewrap_all(timeout=T)
        finally:
            done.set()
        assert summary.key_version == _version(2)
        assert (summary.rewrapped, summary.changed_meanwhile, summary.undecryptable) == (len(created), 0, ())

    await asyncio.gather(keep_decrypting(), rewrap())
    assert decrypts > 0
    for credential in created:
        after = await records.get(credential.org_slug, credential.credential_id)
        old = before[credential.credential_id]
        assert after is not None and old is not None
        assert after.envelope.key_version == _version(2)
        assert after.envelope.wrapped_data_key != old.envelope.wrapped_data_key
        # Only the data key was re-wrapped: the secret's ciphertext, its nonce and rotated_at stay.
        assert (after.envelope.nonce, after.envelope.ciphertext) == (old.envelope.nonce, old.envelope.ciphertext)
        assert after.rotated_at is None
    assert (await vault.rewrap_all(timeout=T)).rewrapped == 0  # nothing left on the old version

    await admin.destroy_crypto_key_version(name=_version(1))
    fresh = CredentialVault(records, service)
    for credential in [*created, newer]:
        result = await fresh.decrypt(credential.org_slug, credential.credential_id, timeout=T)
        assert result.secret.reveal() == SECRET


async def test_rewrap_all_reports_an_undecryptable_record_and_moves_the_rest(
    service: CloudKmsKeyService, records: SqliteCredentialRecords, settings: CloudactSettings
) -> None:
    vault = CredentialVault(records, service)
    good = await vault.create(_new(ORG, "good"), timeout=T)
    bad = await vault.create(_new(ORG, "bad"), timeout=T)
    with sqlite3.connect(settings.data_dir / "credentials.sqlite") as db:
        db.execute(
            "UPDATE credentials SET wrapped_data_key = ? WHERE credential_id = ?",
            (b"\x01" + bytes(60), bad.credential_id),
        )
    await service.rotate(timeout=T)
    summary = await vault.rewrap_all(timeout=T)
    assert (summary.rewrapped, summary.undecryptable) == (1, (bad.credential_id,))
    moved = await records.get(ORG, good.credential_id)
    assert moved is not None and moved.envelope.key_version == _version(2)


async def test_credential_server_on_cloud_kms_end_to_end(
    settings: CloudactSettings,
    stub: pb_grpc.CredentialServiceStub,
    pipeline_stub: pb_grpc.CredentialServiceStub,
    admin: kms_v1.KeyManagementServiceAsyncClient,
) -> None:
    async def create(name: str) -> pb.Credential:
        request = pb.CreateCredentialRequest(
            org_slug=ORG, provider="aws", display_name=name, secret=SECRET, config=CONFIG
        )
        credential: pb.Credential = (await stub.CreateCredential(request, timeout=T)).credential
        return credential

    async def decrypt(credential: pb.Credential) -> pb.DecryptCredentialResponse:
        request = pb.DecryptCredentialRequest(org_slug=ORG, credential_id=credential.credential_id)
        response: pb.DecryptCredentialResponse = await pipeline_stub.DecryptCredential(request, timeout=T)
        return response

    first, second = await create("first"), await create("second")
    assert first.key_version == _version(1)
    assert dict((await decrypt(first)).secret) == SECRET
    with sqlite3.connect(settings.data_dir / "credentials.sqlite") as db:
        rows = db.execute("SELECT key_version, wrapped_data_key, ciphertext FROM credentials").fetchall()
    assert all(version == _version(1) and SECRET_VALUE.encode() not in bytes(body) for version, _, body in rows)

    # The operator rotates the KMS key and re-wraps, beside the running server (`cloudact keys rotate`).
    version, summary = await rotate_key(settings)
    assert version == _version(2) and summary is not None and summary.rewrapped == 2
    assert (await create("third")).key_version == _version(2)  # the server wraps with the new primary
    await admin.destroy_crypto_key_version(name=_version(1))
    # `second` was never decrypted, so nothing cached answers for it: KMS unwraps it with v2.
    decrypted = await decrypt(second)
    assert dict(decrypted.secret) == SECRET and decrypted.credential.key_version == _version(2)
    assert (await rewrap_credentials(settings)) == summary.__class__(_version(2), 0, 0, ())


async def test_keys_rotate_on_the_local_key_ring(tmp_path: Path) -> None:
    local = CloudactSettings(data_dir=tmp_path / "local")
    with pytest.raises(FailedPrecondition):  # a mistyped data_dir: no key ring is made up there
        await rotate_key(local)
    assert not local.keyring_path.exists()
    ring = await open_key_service(local)
    assert await rewrap_credentials(local) is None  # no credential store yet: nothing created
    assert not (local.data_dir / "credentials.sqlite").exists()
    store = await SqliteCredentialRecords.open(local.data_dir / "credentials.sqlite")
    try:
        created = await CredentialVault(store, ring).create(_new(ORG, "local"), timeout=T)
        assert created.key_version == "local-v1"
        version, summary = await rotate_key(local)
        assert version == "local-v2" and summary is not None and summary.rewrapped == 1
        record = await store.get(ORG, created.credential_id)
        assert record is not None and record.envelope.key_version == "local-v2"
        decrypted = await CredentialVault(store, ring).decrypt(ORG, created.credential_id, timeout=T)
        assert decrypted.secret.reveal() == SECRET
    finally:
        await store.close()
