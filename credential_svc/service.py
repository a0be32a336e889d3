"""Credential vault logic: validation, envelope encryption, org scoping, pipeline-only decrypt.

Plain async Python over dataclasses; no gRPC here. Each secret is serialised as canonical JSON and
sealed with AES-256-GCM under its own fresh 256-bit data key and a random 96-bit nonce. The AAD
binds org, provider and credential id, so a ciphertext (or wrapped key) copied to another
credential or organisation fails authentication. The data key is wrapped by a
``KeyEncryptionService`` (local key ring, or Cloud KMS in production).

Plaintext secrets live only in memory: in a bounded TTL cache (at most 5 minutes) and in the one
decrypt response. They are never logged, never put in an error, and their repr is redacted.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import os
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any, TypeVar

from cachetools import TTLCache
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from cloudact_shared.errors import (
    AlreadyExists,
    DeadlineExceeded,
    FieldViolation,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    Unavailable,
)
from cloudact_shared.naming import validate_org_slug, validate_provider
from credential_svc.adapters.kms import KeyEncryptionService, WrappedKey, undecryptable
from credential_svc.adapters.records import CredentialRecord, CredentialRecords, Envelope

_log = logging.getLogger(__name__)
_T = TypeVar("_T")

MAX_CACHE_TTL_SECONDS = 300.0
"""Plaintext never stays in memory longer than this (DESIGN §6)."""
_DATA_KEY_BITS = 256
_NONCE_BYTES = 12
_MAX_SECRET_BYTES = 64 * 1024
_MAX_FIELD_NAME = 128
_MAX_DISPLAY_NAME = 200
_MAX_ECHOED_ID = 64
_ROTATE_ATTEMPTS = 3
_AAD_CONTEXT = "cloudact.credential.v1"


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, repr=False)
class Secret:
    """A credential's secret fields. Its repr and str name the fields but never show a value."""

    _values: Mapping[str, str]

    @classmethod
    def of(cls, values: Mapping[str, str]) -> Secret:
        """A read-only copy of ``values``."""
        return cls(MappingProxyType(dict(values)))

    @property
    def field_names(self) -> tuple[str, ...]:
        """The secret's field names, sorted (not secret)."""
        return tuple(sorted(self._values))

    def reveal(self) -> dict[str, str]:
        """The plaintext fields. Call only to hand them to the pipeline; never log the result."""
        return dict(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        return f"Secret(fields={list(self.field_names)!r}, values=<redacted>)"

    __str__ = __repr__

    def __reduce__(self) -> Any:
        raise TypeError("Secret is not serialisable")

    def _canonical_json(self) -> bytes:
        return json.dumps(dict(self._values), sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


@dataclass(frozen=True)
class NewCredential:
    """What CreateCredential stores."""

    org_slug: str
    provider: str
    display_name: str
    secret: Secret
    config: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class CredentialMetadata:
    """A stored credential without its secret."""

    credential_id: str
    org_slug: str
    provider: str
    display_name: str
    secret_field_names: tuple[str, ...]
    key_version: str
    created_at: datetime
    rotated_at: datetime | None
    config: Mapping[str, str]


@dataclass(frozen=True)
class DecryptedCredential:
    """A credential with its plaintext secret (repr redacted through ``Secret``)."""

    credential: CredentialMetadata
    secret: Secret


@dataclass(frozen=True)
class _CachedSecret:
    nonce: bytes = field(repr=False)
    secret: Secret


class CredentialVault:
    """Creates, lists, rotates, deletes and (for the pipeline only) decrypts credentials.

    Args:
        records: Where the records live (SQLite in the embedded deployment).
        kek: Wraps and unwraps data keys (local key ring, or Cloud KMS).
        pipeline_token: The bearer token that identifies the pipeline; only it may decrypt.
        cache_ttl_seconds: How long a decrypted secret stays cached (at most 300).
        cache_max_entries: Bound on cached secrets.
        clock: Monotonic clock of the cache (tests inject a fake one).
        now: Wall clock for created_at / rotated_at.
    """

    def __init__(
        self,
        records: CredentialRecords,
        kek: KeyEncryptionService,
        *,
        pipeline_token: str,
        cache_ttl_seconds: float = MAX_CACHE_TTL_SECONDS,
        cache_max_entries: int = 1024,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] = _utc_now,
    ) -> None:
        if not pipeline_token:
            raise ValueError("pipeline_token must not be empty")
        if not 0 < cache_ttl_seconds <= MAX_CACHE_TTL_SECONDS:
            raise ValueError(f"cache_ttl_seconds must be in (0, {MAX_CACHE_TTL_SECONDS}]")
        self._records = records
        self._kek = kek
        self._pipeline_token = pipeline_token.encode()
        self._now = now
        # Keyed by (org, credential id); the nonce identifies which ciphertext the entry came from, so
        # a rotation done by another replica is never answered with the old plaintext.
        self._cache: TTLCache[tuple[str, str], _CachedSecret] = TTLCache(
            maxsize=cache_max_entries, ttl=cache_ttl_seconds, timer=clock
        )

    def __repr__(self) -> str:
        return f"CredentialVault(kek={self._kek!r}, cached={len(self._cache)})"

    async def create(self, new: NewCredential, *, timeout: float | None = None) -> CredentialMetadata:
        """Validates and stores a new credential under a fresh data key.

        Raises:
            InvalidArgument: bad org slug, provider, display name, secret or config.
            AlreadyExists: the org has a credential with this provider and display name.
        """
        display_name = new.display_name.strip()
        violations = _collect(
            lambda: validate_org_slug(new.org_slug),
            lambda: validate_provider(new.provider),
            lambda: _check_display_name(display_name),
            lambda: _check_secret(new.secret, "secret"),
            lambda: _check_config(new.config),
        )
        if violations:
            raise violations
        credential_id = str(uuid.uuid4())
        envelope = await self._seal(new.org_slug, new.provider, credential_id, new.secret, timeout)
        record = CredentialRecord(
            credential_id=credential_id,
            org_slug=new.org_slug,
            provider=new.provider,
            display_name=display_name,
            secret_field_names=new.secret.field_names,
            config=dict(new.config),
            envelope=envelope,
            created_at=self._now(),
            rotated_at=None,
        )
        if not await self._records.insert(record):
            raise AlreadyExists(
                f"org {new.org_slug!r} already has a {new.provider} credential named {display_name!r}",
                reason="CREDENTIAL_EXISTS",
                metadata={"org_slug": new.org_slug, "provider": new.provider},
            )
        _log.info(
            "created credential %s (org=%s provider=%s key_version=%s)",
            credential_id,
            new.org_slug,
            new.provider,
            envelope.key_version,
        )
        return _metadata(record)

    async def list_credentials(self, org_slug: str, provider: str = "") -> list[CredentialMetadata]:
        """The org's credentials (metadata only), optionally only one provider's."""
        violations = _collect(
            lambda: validate_org_slug(org_slug),
            lambda: validate_provider(provider) if provider else None,
        )
        if violations:
            raise violations
        return [_metadata(record) for record in await self._records.list_org(org_slug, provider or None)]

    async def get(self, org_slug: str, credential_id: str) -> CredentialMetadata:
        """One credential's metadata.

        Raises:
            NotFound: no such credential in this org (also when it exists in another org).
        """
        return _metadata(await self._require(org_slug, credential_id))

    async def rotate(
        self,
        org_slug: str,
        credential_id: str,
        new_secret: Secret | None = None,
        *,
        timeout: float | None = None,
    ) -> CredentialMetadata:
        """Re-encrypts under a fresh data key wrapped by the current KEK version.

        Args:
            new_secret: Replaces the secret when given; otherwise the current secret is re-sealed.
        """
        if new_secret is not None:
            violations = _collect(lambda: validate_org_slug(org_slug), lambda: _check_secret(new_secret, "new_secret"))
            if violations:
                raise violations
        for _attempt in range(_ROTATE_ATTEMPTS):
            record = await self._require(org_slug, credential_id)
            secret = new_secret if new_secret is not None else await self._plaintext(record, timeout, remember=False)
            envelope = await self._seal(record.org_slug, record.provider, record.credential_id, secret, timeout)
            rotated_at = self._now()
            # Compare-and-swap on the nonce: a concurrent rotation in between (here or on another replica)
            # must not be overwritten with a secret read before it.
            replaced = await self._records.replace_envelope(
                record.org_slug,
                record.credential_id,
                envelope,
                secret.field_names,
                rotated_at,
                expected_nonce=record.envelope.nonce,
            )
            self._cache.pop((record.org_slug, record.credential_id), None)
            if replaced:
                break
        else:
            raise Unavailable(
                f"credential {record.credential_id} is being rotated concurrently; retry",
                reason="CONCURRENT_ROTATION",
            )
        _log.info(
            "rotated credential %s (org=%s key_version %s -> %s, new_secret=%s)",
            record.credential_id,
            record.org_slug,
            record.envelope.key_version,
            envelope.key_version,
            new_secret is not None,
        )
        rotated = replace(record, envelope=envelope, secret_field_names=secret.field_names, rotated_at=rotated_at)
        return _metadata(rotated)

    async def delete(self, org_slug: str, credential_id: str) -> None:
        """Deletes the credential and its ciphertext, and drops any cached plaintext."""
        org_slug, credential_id = _validated_scope(org_slug, credential_id)
        deleted = await self._records.delete(org_slug, credential_id)
        self._cache.pop((org_slug, credential_id), None)
        if not deleted:
            raise _not_found(org_slug, credential_id)
        _log.info("deleted credential %s (org=%s)", credential_id, org_slug)

    async def decrypt(
        self,
        org_slug: str,
        credential_id: str,
        *,
        authorization: str | None,
        timeout: float | None = None,
    ) -> DecryptedCredential:
        """The plaintext secret, for the pipeline identity only.

        Args:
            authorization: The caller's ``authorization`` header (``Bearer <token>``), or None.

        Raises:
            PermissionDenied: the caller is not the pipeline (checked before anything else).
            NotFound: no such credential in this org.
            CloudactError: INTERNAL ``CREDENTIAL_UNDECRYPTABLE`` if the stored envelope fails
                authentication (tampered, or moved from another credential).
        """
        if not self._is_pipeline(authorization):
            _log.warning(
                "decrypt of %r in org %r refused: caller is not the pipeline",
                credential_id[:_MAX_ECHOED_ID],
                org_slug[:_MAX_ECHOED_ID],
            )
            raise PermissionDenied(
                "decrypting a credential is reserved to the pipeline identity",
                reason="PIPELINE_IDENTITY_REQUIRED",
            )
        record = await self._require(org_slug, credential_id)
        secret = await self._plaintext(record, timeout, remember=True)
        _log.info("decrypted credential %s (org=%s) for the pipeline", record.credential_id, record.org_slug)
        return DecryptedCredential(_metadata(record), secret)

    def _is_pipeline(self, authorization: str | None) -> bool:
        scheme, _, token = (authorization or "").strip().partition(" ")
        # Compare bytes: hmac.compare_digest rejects non-ASCII str, and the caller controls this value.
        presented = token.strip().encode()
        return scheme.lower() == "bearer" and hmac.compare_digest(presented, self._pipeline_token)

    async def _require(self, org_slug: str, credential_id: str) -> CredentialRecord:
        org_slug, credential_id = _validated_scope(org_slug, credential_id)
        record = await self._records.get(org_slug, credential_id)
        if record is None:
            raise _not_found(org_slug, credential_id)
        return record

    async def _plaintext(self, record: CredentialRecord, timeout: float | None, *, remember: bool) -> Secret:
        key = (record.org_slug, record.credential_id)
        cached = self._cache.get(key)
        if cached is not None and hmac.compare_digest(cached.nonce, record.envelope.nonce):
            return cached.secret
        secret = await self._unseal(record, timeout)
        if remember:
            self._cache[key] = _CachedSecret(record.envelope.nonce, secret)
        return secret

    async def _seal(
        self, org_slug: str, provider: str, credential_id: str, secret: Secret, timeout: float | None
    ) -> Envelope:
        aad = _aad(org_slug, provider, credential_id)
        data_key = AESGCM.generate_key(bit_length=_DATA_KEY_BITS)
        nonce = os.urandom(_NONCE_BYTES)
        ciphertext = AESGCM(data_key).encrypt(nonce, secret._canonical_json(), aad)
        wrapped = await _within(timeout, self._kek.wrap(data_key, aad, timeout=timeout))
        return Envelope(wrapped.key_version, wrapped.ciphertext, nonce, ciphertext)

    async def _unseal(self, record: CredentialRecord, timeout: float | None) -> Secret:
        aad = _aad(record.org_slug, record.provider, record.credential_id)
        envelope = record.envelope
        wrapped = WrappedKey(envelope.key_version, envelope.wrapped_data_key)
        data_key = await _within(timeout, self._kek.unwrap(wrapped, aad, timeout=timeout))
        secret = _open_secret(data_key, envelope.nonce, envelope.ciphertext, aad)
        if secret is None:
            # Raised here, outside any except block, so nothing (e.g. a JSONDecodeError holding the
            # plaintext in .doc) is chained to the error.
            _log.error("credential %s (org=%s) failed authentication", record.credential_id, record.org_slug)
            raise undecryptable()
        return secret


async def _within(timeout: float | None, call: Awaitable[_T]) -> _T:
    """Awaits a key-service call, but never past the caller's deadline (whatever the backend does)."""
    try:
        async with asyncio.timeout(timeout):
            return await call
    except TimeoutError:
        raise DeadlineExceeded("deadline exceeded waiting for the key-encryption service") from None


def _open_secret(data_key: bytes, nonce: bytes, ciphertext: bytes, aad: bytes) -> Secret | None:
    """The decrypted secret, or None if the ciphertext fails authentication or is not a str map."""
    if len(nonce) != _NONCE_BYTES:
        return None
    try:
        values = json.loads(AESGCM(data_key).decrypt(nonce, ciphertext, aad))
    except (InvalidTag, ValueError):
        return None
    if not isinstance(values, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in values.items()):
        return None
    return Secret.of(values)


def _aad(org_slug: str, provider: str, credential_id: str) -> bytes:
    """Additional authenticated data: binds a ciphertext and its wrapped key to one credential."""
    context = {
        "context": _AAD_CONTEXT,
        "org_slug": org_slug,
        "provider": provider,
        "credential_id": credential_id,
    }
    return json.dumps(context, sort_keys=True, separators=(",", ":")).encode()


def _metadata(record: CredentialRecord) -> CredentialMetadata:
    return CredentialMetadata(
        credential_id=record.credential_id,
        org_slug=record.org_slug,
        provider=record.provider,
        display_name=record.display_name,
        secret_field_names=record.secret_field_names,
        key_version=record.envelope.key_version,
        created_at=record.created_at,
        rotated_at=record.rotated_at,
        config=MappingProxyType(dict(record.config)),
    )


def _not_found(org_slug: str, credential_id: str) -> NotFound:
    # Same answer whether the id does not exist or belongs to another org: existence must not leak.
    if len(credential_id) > _MAX_ECHOED_ID:
        credential_id = credential_id[:_MAX_ECHOED_ID] + "..."
    return NotFound(
        f"credential {credential_id!r} not found in org {org_slug!r}",
        reason="CREDENTIAL_NOT_FOUND",
        metadata={"org_slug": org_slug, "credential_id": credential_id},
    )


# --- validation -----------------------------------------------------------------------------------


def _collect(*checks: Callable[[], object]) -> InvalidArgument | None:
    """Runs every check and merges their InvalidArguments into one (all violations at once)."""
    errors: list[InvalidArgument] = []
    for check in checks:
        try:
            check()
        except InvalidArgument as error:
            errors.append(error)
    if not errors:
        return None
    if len(errors) == 1:
        return errors[0]
    return InvalidArgument(
        "; ".join(error.message for error in errors),
        reason="INVALID_ARGUMENT",
        violations=[v for error in errors for v in error.violations],
    )


def _validated_scope(org_slug: str, credential_id: str) -> tuple[str, str]:
    """The org slug (validated) and the canonical credential id.

    An id that is not a UUID names no credential: NOT_FOUND, like any other unknown id.
    """
    validate_org_slug(org_slug)
    try:
        canonical = str(uuid.UUID(credential_id))
    except ValueError:
        raise _not_found(org_slug, credential_id) from None
    return org_slug, canonical


def _check_display_name(display_name: str) -> None:
    if not display_name:
        raise _invalid("display_name", "is required")
    if len(display_name) > _MAX_DISPLAY_NAME:
        raise _invalid("display_name", f"must be at most {_MAX_DISPLAY_NAME} characters")


def _check_secret(secret: Secret, name: str) -> None:
    # Only field names and sizes are ever described; values never appear in a message.
    if len(secret) == 0:
        raise _invalid(name, "must have at least one field")
    for field_name in secret.field_names:
        if not field_name.strip():
            raise _invalid(name, "field names must not be empty")
        if len(field_name) > _MAX_FIELD_NAME:
            raise _invalid(name, f"field names must be at most {_MAX_FIELD_NAME} characters")
    if len(secret._canonical_json()) > _MAX_SECRET_BYTES:
        raise _invalid(name, f"must be at most {_MAX_SECRET_BYTES} bytes as JSON")


def _check_config(config: Mapping[str, str]) -> None:
    if any(not key.strip() for key in config):
        raise _invalid("config", "keys must not be empty")


def _invalid(field_name: str, description: str) -> InvalidArgument:
    return InvalidArgument(
        f"{field_name} {description}",
        reason="INVALID_ARGUMENT",
        violations=[FieldViolation(field_name, description)],
    )
