"""CredentialVault and its adapters without a server: plaintext cache TTL, redaction, key ring."""

from __future__ import annotations

import base64
import json
import pickle
import stat
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from cloudact_shared.errors import CloudactError, NotFound, PermissionDenied
from credential_svc.adapters.keyring import LocalKeyRing
from credential_svc.adapters.kms import WrappedKey
from credential_svc.adapters.records import SqliteCredentialRecords
from credential_svc.service import CredentialVault, DecryptedCredential, NewCredential, Secret

TOKEN = "pipeline-token-for-tests"
BEARER = f"Bearer {TOKEN}"
SECRET_VALUE = "sk-live-DO-NOT-LEAK-0123456789"


class _CountingKeyService:
    """Wraps a LocalKeyRing and counts unwraps (each one is a KMS call in production)."""

    def __init__(self, inner: LocalKeyRing) -> None:
        self.inner = inner
        self.unwraps = 0

    async def wrap(self, plaintext_key: bytes, aad: bytes, *, timeout: float | None = None) -> WrappedKey:
        return await self.inner.wrap(plaintext_key, aad)

    async def unwrap(self, wrapped: WrappedKey, aad: bytes, *, timeout: float | None = None) -> bytes:
        self.unwraps += 1
        return await self.inner.unwrap(wrapped, aad)

    async def current_version(self, *, timeout: float | None = None) -> str:
        return await self.inner.current_version()


class _FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def parts(tmp_path: Path) -> tuple[LocalKeyRing, SqliteCredentialRecords]:
    ring = await LocalKeyRing.open(tmp_path / "secrets" / "keyring.json")
    records = await SqliteCredentialRecords.open(tmp_path / "credentials.sqlite")
    return ring, records


def _new(name: str = "openai key") -> NewCredential:
    return NewCredential("acme_corp", "openai", name, Secret.of({"api_key": SECRET_VALUE}), {"org": "org-1"})


async def test_plaintext_cache_expires_after_ttl(parts: tuple[LocalKeyRing, SqliteCredentialRecords]) -> None:
    ring, records = parts
    kek = _CountingKeyService(ring)
    clock = _FakeClock()
    vault = CredentialVault(records, kek, pipeline_token=TOKEN, cache_ttl_seconds=300, clock=clock)
    created = await vault.create(_new())

    first = await vault.decrypt("acme_corp", created.credential_id, authorization=BEARER)
    clock.now += 299
    second = await vault.decrypt("acme_corp", created.credential_id, authorization=BEARER)
    assert first.secret.reveal() == second.secret.reveal() == {"api_key": SECRET_VALUE}
    assert kek.unwraps == 1  # served from the cache

    clock.now += 2  # 301 s after caching: gone from memory
    assert len(vault._cache) == 0
    await vault.decrypt("acme_corp", created.credential_id, authorization=BEARER)
    assert kek.unwraps == 2


async def test_cache_never_outlives_rotation_or_deletion(
    parts: tuple[LocalKeyRing, SqliteCredentialRecords],
) -> None:
    ring, records = parts
    vault = CredentialVault(records, ring, pipeline_token=TOKEN)
    # A second replica sharing the same records and key ring, with its own cache.
    replica = CredentialVault(records, ring, pipeline_token=TOKEN)
    created = await vault.create(_new())
    await replica.decrypt("acme_corp", created.credential_id, authorization=BEARER)

    await vault.rotate("acme_corp", created.credential_id, Secret.of({"api_key": "rotated"}))
    assert len(vault._cache) == 0
    fresh = await replica.decrypt("acme_corp", created.credential_id, authorization=BEARER)
    assert fresh.secret.reveal() == {"api_key": "rotated"}  # the nonce changed, the stale entry is ignored

    await vault.delete("acme_corp", created.credential_id)
    with pytest.raises(NotFound):
        await replica.decrypt("acme_corp", created.credential_id, authorization=BEARER)


def test_cache_ttl_is_capped_at_five_minutes(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        CredentialVault(object(), object(), pipeline_token=TOKEN, cache_ttl_seconds=301)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        CredentialVault(object(), object(), pipeline_token="")  # type: ignore[arg-type]


async def test_secret_reprs_are_redacted(parts: tuple[LocalKeyRing, SqliteCredentialRecords]) -> None:
    ring, records = parts
    vault = CredentialVault(records, ring, pipeline_token=TOKEN)
    new = _new()
    created = await vault.create(new)
    decrypted = await vault.decrypt("acme_corp", created.credential_id, authorization=BEARER)
    assert isinstance(decrypted, DecryptedCredential)
    for shown in (repr(new), str(new), repr(new.secret), str(decrypted.secret), repr(decrypted), repr(vault)):
        assert SECRET_VALUE not in shown
    assert "api_key" in repr(decrypted.secret) and "<redacted>" in repr(decrypted.secret)
    assert f"{decrypted}".count(SECRET_VALUE) == 0
    with pytest.raises(TypeError):
        pickle.dumps(decrypted.secret)


@pytest.mark.parametrize("authorization", [None, "", "Bearer", f"bearer  {TOKEN}x", "Bearer tokén", TOKEN])
async def test_only_the_pipeline_may_decrypt(
    parts: tuple[LocalKeyRing, SqliteCredentialRecords], authorization: str | None
) -> None:
    ring, records = parts
    vault = CredentialVault(records, ring, pipeline_token=TOKEN)
    created = await vault.create(_new())
    with pytest.raises(PermissionDenied):
        await vault.decrypt("acme_corp", created.credential_id, authorization=authorization)
    # Scheme is case-insensitive, as HTTP says.
    ok = await vault.decrypt("acme_corp", created.credential_id, authorization=f"bearer {TOKEN}")
    assert ok.secret.reveal()["api_key"] == SECRET_VALUE


async def test_keyring_wraps_with_newest_and_unwraps_old_versions(tmp_path: Path) -> None:
    path = tmp_path / "secrets" / "keyring.json"
    ring = await LocalKeyRing.open(path)
    old = await ring.wrap(b"k" * 32, b"aad")
    assert old.key_version == "local-v1" and b"k" * 32 not in old.ciphertext
    assert await ring.rotate() == "local-v2"
    assert await ring.current_version() == "local-v2"
    new = await ring.wrap(b"n" * 32, b"aad")
    assert new.key_version == "local-v2"
    assert await ring.unwrap(old, b"aad") == b"k" * 32
    assert await ring.unwrap(new, b"aad") == b"n" * 32

    reopened = await LocalKeyRing.open(path)  # a restart keeps every version
    assert await reopened.unwrap(old, b"aad") == b"k" * 32
    assert await reopened.current_version() == "local-v2"
    document = json.loads(path.read_text())
    assert [len(base64.b64decode(entry["key"])) for entry in document["keys"]] == [32, 32]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    for entry in document["keys"]:
        assert entry["key"] not in repr(ring)


async def test_keyring_unwrap_failures_are_generic(tmp_path: Path) -> None:
    ring = await LocalKeyRing.open(tmp_path / "secrets" / "keyring.json")
    wrapped = await ring.wrap(b"k" * 32, b"org=a")
    tampered = WrappedKey(wrapped.key_version, wrapped.ciphertext[:-1] + bytes([wrapped.ciphertext[-1] ^ 1]))
    for bad, aad in (
        (wrapped, b"org=b"),
        (tampered, b"org=a"),
        (WrappedKey("local-v9", wrapped.ciphertext), b"org=a"),
        (WrappedKey(wrapped.key_version, b"short"), b"org=a"),
    ):
        with pytest.raises(CloudactError) as caught:
            await ring.unwrap(bad, aad)
        assert caught.value.reason == "CREDENTIAL_UNDECRYPTABLE"
        assert caught.value.__cause__ is None and caught.value.__context__ is None


async def test_keyring_refuses_a_world_readable_file(tmp_path: Path) -> None:
    path = tmp_path / "secrets" / "keyring.json"
    await LocalKeyRing.open(path)
    path.chmod(0o644)
    with pytest.raises(PermissionError):
        await LocalKeyRing.open(path)


async def test_keyring_tightens_an_existing_secrets_dir(tmp_path: Path) -> None:
    secrets_dir = tmp_path / "secrets"
    secrets_dir.mkdir(mode=0o755)
    secrets_dir.chmod(0o755)
    await LocalKeyRing.open(secrets_dir / "keyring.json")
    assert stat.S_IMODE(secrets_dir.stat().st_mode) == 0o700


class _InterruptingKeyService(_CountingKeyService):
    """Runs ``during_first_wrap`` while the first wrap is in flight (a concurrent request elsewhere)."""

    def __init__(self, inner: LocalKeyRing) -> None:
        super().__init__(inner)
        self.during_first_wrap: Callable[[], Awaitable[object]] | None = None

    async def wrap(self, plaintext_key: bytes, aad: bytes, *, timeout: float | None = None) -> WrappedKey:
        hook, self.during_first_wrap = self.during_first_wrap, None
        if hook is not None:
            await hook()
        return await self.inner.wrap(plaintext_key, aad)


async def test_concurrent_rotations_never_lose_a_new_secret(
    parts: tuple[LocalKeyRing, SqliteCredentialRecords],
) -> None:
    ring, records = parts
    interrupting = _InterruptingKeyService(ring)
    vault = CredentialVault(records, interrupting, pipeline_token=TOKEN)
    other_replica = CredentialVault(records, ring, pipeline_token=TOKEN)
    created = await vault.create(_new())

    # While this replica re-wraps the old secret, another one replaces the secret.
    interrupting.during_first_wrap = lambda: other_replica.rotate(
        "acme_corp", created.credential_id, Secret.of({"api_key": "replaced"})
    )
    await vault.rotate("acme_corp", created.credential_id)
    result = await vault.decrypt("acme_corp", created.credential_id, authorization=BEARER)
    assert result.secret.reveal() == {"api_key": "replaced"}
