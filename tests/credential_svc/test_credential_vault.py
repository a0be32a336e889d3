"""CredentialVault and its adapters without a server: plaintext cache TTL, redaction, key ring."""

from __future__ import annotations

import base64
import json
import pickle
import stat
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from cloudact_shared.errors import CloudactError, NotFound
from credential_svc.adapters.keyring import LocalKeyRing
from credential_svc.adapters.kms import WrappedKey
from credential_svc.adapters.records import SqliteCredentialRecords
from credential_svc.secret import Secret
from credential_svc.service import CredentialVault, DecryptedCredential, NewCredential

SECRET_VALUE = "wJalrXUtnFEMI-DO-NOT-LEAK-0123456789"
CONFIG = {"bucket": "acme-billing", "export_name": "prod-cur", "prefix": "exports", "layout": "cur2"}


def _aws_secret(secret_access_key: str) -> dict[str, str]:
    return {"aws_access_key_id": "AKIAIOSFODNN7EXAMPLE", "aws_secret_access_key": secret_access_key}


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


def _new(name: str = "prod billing") -> NewCredential:
    return NewCredential("acme_corp", "aws", name, Secret.of(_aws_secret(SECRET_VALUE)), CONFIG)


async def test_plaintext_cache_expires_after_ttl(parts: tuple[LocalKeyRing, SqliteCredentialRecords]) -> None:
    ring, records = parts
    kek = _CountingKeyService(ring)
    clock = _FakeClock()
    vault = CredentialVault(records, kek, cache_ttl_seconds=300, clock=clock)
    created = await vault.create(_new())

    first = await vault.decrypt("acme_corp", created.credential_id)
    clock.now += 299
    second = await vault.decrypt("acme_corp", created.credential_id)
    assert first.secret.reveal() == second.secret.reveal() == _aws_secret(SECRET_VALUE)
    assert kek.unwraps == 1  # served from the cache

    clock.now += 2  # 301 s after caching: gone from memory
    assert len(vault._cache) == 0
    await vault.decrypt("acme_corp", created.credential_id)
    assert kek.unwraps == 2


async def test_cache_never_outlives_rotation_or_deletion(
    parts: tuple[LocalKeyRing, SqliteCredentialRecords],
) -> None:
    ring, records = parts
    vault = CredentialVault(records, ring)
    # A second replica sharing the same records and key ring, with its own cache.
    replica = CredentialVault(records, ring)
    created = await vault.create(_new())
    await replica.decrypt("acme_corp", created.credential_id)

    await vault.rotate("acme_corp", created.credential_id, Secret.of(_aws_secret("rotated")))
    assert len(vault._cache) == 0
    fresh = await replica.decrypt("acme_corp", created.credential_id)
    assert fresh.secret.reveal() == _aws_secret("rotated")  # the nonce changed, the stale entry is ignored

    await vault.delete("acme_corp", created.credential_id)
    with pytest.raises(NotFound):
        await replica.decrypt("acme_corp", created.credential_id)


def test_cache_ttl_is_capped_at_five_minutes(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        CredentialVault(object(), object(), cache_ttl_seconds=301)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        CredentialVault(object(), object(), max_credentials_per_org=0)  # type: ignore[arg-type]


async def test_secret_reprs_are_redacted(parts: tuple[LocalKeyRing, SqliteCredentialRecords]) -> None:
    ring, records = parts
    vault = CredentialVault(records, ring)
    new = _new()
    created = await vault.create(new)
    decrypted = await vault.decrypt("acme_corp", created.credential_id)
    assert isinstance(decrypted, DecryptedCredential)
    for shown in (repr(new), str(new), repr(new.secret), str(decrypted.secret), repr(decrypted), repr(vault)):
        assert SECRET_VALUE not in shown
    assert "aws_secret_access_key" in repr(decrypted.secret) and "<redacted>" in repr(decrypted.secret)
    assert f"{decrypted}".count(SECRET_VALUE) == 0
    with pytest.raises(TypeError):
        pickle.dumps(decrypted.secret)


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
    vault = CredentialVault(records, interrupting)
    other_replica = CredentialVault(records, ring)
    created = await vault.create(_new())

    # While this replica re-wraps the old secret, another one replaces the secret.
    interrupting.during_first_wrap = lambda: other_replica.rotate(
        "acme_corp", created.credential_id, Secret.of(_aws_secret("replaced"))
    )
    await vault.rotate("acme_corp", created.credential_id)
    result = await vault.decrypt("acme_corp", created.credential_id)
    assert result.secret.reveal() == _aws_secret("replaced")
