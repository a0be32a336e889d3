"""Credential vault logic: validation, envelope encryption, org scoping, decrypt for the pipeline.

Plain async Python over dataclasses; no gRPC here. Each secret is serialised as canonical JSON and
sealed with AES-256-GCM under its own fresh 256-bit data key and a random 96-bit nonce. The AAD
binds org, provider and credential id, so a ciphertext (or wrapped key) copied to another
credential or organisation fails authentication. The data key is wrapped by a
``KeyEncryptionService`` (local key ring, or Cloud KMS in production).

Plaintext secrets live only in memory: in a bounded TTL cache (at most 5 minutes) and in the one
decrypt response. They are never logged, never put in an error, and their repr is redacted.

Everything a caller stores is bounded (field counts, lengths, JSON sizes, credentials per org) and
listings are paged, so no request or response can outgrow gRPC's message limit: the largest page of
the largest credentials stays far below 4 MiB.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import json
import logging
import os
import re
import time
import unicodedata
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any, TypeVar

from cachetools import TTLCache
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from cloudact_providers.registry import validate_credential
from cloudact_shared.errors import (
    AlreadyExists,
    CloudactError,
    DeadlineExceeded,
    FieldViolation,
    InvalidArgument,
    NotFound,
    ResourceExhausted,
    Unavailable,
)
from cloudact_shared.naming import echo, validate_org_slug, validate_provider
from credential_svc.adapters.kms import KeyEncryptionService, WrappedKey, undecryptable
from credential_svc.adapters.records import (
    CredentialRecord,
    CredentialRecords,
    Envelope,
    InsertOutcome,
    ListPosition,
)

_log = logging.getLogger(__name__)
_T = TypeVar("_T")

MAX_CACHE_TTL_SECONDS = 300.0
"""Plaintext never stays in memory longer than this (DESIGN §6)."""
MAX_SECRET_FIELDS = 32
MAX_SECRET_BYTES = 64 * 1024
"""A secret as canonical JSON (UTF-8); a service account key with its PEM is about 2.5 KiB."""
MAX_CONFIG_KEYS = 32
MAX_CONFIG_VALUE_CHARS = 8 * 1024
"""Room for a ca_bundle of a few PEM certificates; the whole config is bounded by MAX_CONFIG_BYTES."""
MAX_CONFIG_BYTES = 16 * 1024
FIELD_NAME_PATTERN = re.compile(r"[A-Za-z][A-Za-z0-9_.-]{0,63}")
"""Secret field names and config keys: identifiers, never free text (at most 64 characters)."""
MAX_DISPLAY_NAME = 200
MAX_CREDENTIALS_PER_ORG = 1000
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 100
"""With the bounds above a credential's metadata is under 20 KiB, so a page stays under 2 MiB."""
_PAGE_BUDGET_BYTES = 2 * 1024 * 1024
"""A page also ends early at this size: half of gRPC's default 4 MiB receive limit."""
_RECORD_OVERHEAD_BYTES = 256
_FIELD_OVERHEAD_BYTES = 8
_DATA_KEY_BITS = 256
_NONCE_BYTES = 12
_MAX_ECHOED_ID = 64
_MIN_SCRUBBED_VALUE = 6
"""Shorter secret values are not looked for in registry messages: "x" would match every message."""
_MAX_PAGE_TOKEN_CHARS = 512
_PAGE_TOKEN_FORMAT = 1
_PAGE_TOKEN_MAC_BYTES = 16
_BASE64URL = re.compile(r"[A-Za-z0-9_-]+")
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
class CredentialPage:
    """One page of a listing and the token for the next one (empty on the last page)."""

    credentials: tuple[CredentialMetadata, ...]
    next_page_token: str


@dataclass(frozen=True)
class _CachedSecret:
    nonce: bytes = field(repr=False)
    secret: Secret


class CredentialVault:
    """Creates, lists, rotates, deletes and (for the pipeline only) decrypts credentials.

    Args:
        records: Where the records live (SQLite in the embedded deployment).
        kek: Wraps and unwraps data keys (local key ring, or Cloud KMS).
        cache_ttl_seconds: How long a decrypted secret stays cached (at most 300).
        cache_max_entries: Bound on cached secrets.
        max_credentials_per_org: Creating one more is RESOURCE_EXHAUSTED.
        allow_endpoint_overrides: Whether a credential may name a non-official endpoint (an emulator);
            ``settings.allow_endpoint_overrides``, off in production.
        clock: Monotonic clock of the cache (tests inject a fake one).
        now: Wall clock for created_at / rotated_at.
    """

    def __init__(
        self,
        records: CredentialRecords,
        kek: KeyEncryptionService,
        *,
        cache_ttl_seconds: float = MAX_CACHE_TTL_SECONDS,
        cache_max_entries: int = 1024,
        max_credentials_per_org: int = MAX_CREDENTIALS_PER_ORG,
        allow_endpoint_overrides: bool = False,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] = _utc_now,
    ) -> None:
        if not 0 < cache_ttl_seconds <= MAX_CACHE_TTL_SECONDS:
            raise ValueError(f"cache_ttl_seconds must be in (0, {MAX_CACHE_TTL_SECONDS}]")
        if max_credentials_per_org < 1:
            raise ValueError("max_credentials_per_org must be at least 1")
        self._records = records
        self._kek = kek
        self._max_per_org = max_credentials_per_org
        self._allow_endpoint_overrides = allow_endpoint_overrides
        self._page_token_key: bytes | None = None
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
            InvalidArgument: bad org slug, provider, display name, secret or config, or one over a limit.
            AlreadyExists: the org has a credential with this provider and display name.
            ResourceExhausted: the org already holds ``max_credentials_per_org`` credentials.
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
        # Only now, on input within every bound: the registry parses it against the provider's models.
        self._check_with_provider(new.provider, new.config, new.secret, "secret")
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
        outcome = await self._records.insert(record, max_per_org=self._max_per_org)
        if outcome is InsertOutcome.DUPLICATE:
            raise AlreadyExists(
                f"org {new.org_slug!r} already has a {new.provider} credential named {echo(display_name)}",
                reason="CREDENTIAL_EXISTS",
                metadata={"org_slug": new.org_slug, "provider": new.provider},
            )
        if outcome is InsertOutcome.ORG_FULL:
            raise ResourceExhausted(
                f"org {new.org_slug!r} already holds the maximum of {self._max_per_org} credentials;"
                " delete one it no longer uses first",
                reason="CREDENTIAL_LIMIT_REACHED",
                metadata={"org_slug": new.org_slug, "limit": str(self._max_per_org)},
            )
        _log.info(
            "created credential %s (org=%s provider=%s key_version=%s)",
            credential_id,
            new.org_slug,
            new.provider,
            envelope.key_version,
        )
        return _metadata(record)

    async def list_credentials(
        self, org_slug: str, provider: str = "", *, page_size: int = 0, page_token: str = ""
    ) -> CredentialPage:
        """One page of the org's credentials (metadata only), optionally only one provider's.

        Args:
            page_size: At most this many (0: ``DEFAULT_PAGE_SIZE``; above ``MAX_PAGE_SIZE``: that).
            page_token: ``next_page_token`` of the previous page, with the same org and provider.

        Raises:
            InvalidArgument: bad org slug or provider, a negative page size, or a page token that is
                not one this vault issued for the same org and provider.
        """
        violations = _collect(
            lambda: validate_org_slug(org_slug),
            lambda: validate_provider(provider) if provider else None,
            lambda: _check_page_size(page_size),
        )
        if violations:
            raise violations
        key = await self._paging_key()
        after = _read_page_token(key, org_slug, provider, page_token) if page_token else None
        size = min(page_size or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
        # One more than asked for says whether another page exists, without a count query.
        records = await self._records.list_org(org_slug, provider or None, after=after, limit=size + 1)
        page = _within_page_budget(records[:size])
        next_token = ""
        if len(records) > len(page):
            last = page[-1]
            next_token = _page_token(key, org_slug, provider, ListPosition(last.created_at, last.credential_id))
        return CredentialPage(tuple(page), next_token)

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

        Raises:
            InvalidArgument: ``new_secret`` is over a limit or does not fit the credential's provider
                and config (violations on ``new_secret`` / ``new_secret.<field>``).
            NotFound: no such credential in this org.
        """
        if new_secret is not None:
            violations = _collect(lambda: validate_org_slug(org_slug), lambda: _check_secret(new_secret, "new_secret"))
            if violations:
                raise violations
            # Provider and config never change on rotation, so one check before the retry loop holds.
            current = await self._require(org_slug, credential_id)
            self._check_with_provider(current.provider, current.config, new_secret, "new_secret")
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

    async def decrypt(self, org_slug: str, credential_id: str, *, timeout: float | None = None) -> DecryptedCredential:
        """The plaintext secret. Only the pipeline side may ask: the server's access rule lets only
        ingest_svc and focus_svc call it, proven by their mutual-TLS certificates.

        Raises:
            NotFound: no such credential in this org.
            CloudactError: INTERNAL ``CREDENTIAL_UNDECRYPTABLE`` if the stored envelope fails
                authentication (tampered, or moved from another credential).
        """
        record = await self._require(org_slug, credential_id)
        secret = await self._plaintext(record, timeout, remember=True)
        _log.info("decrypted credential %s (org=%s) for the pipeline", record.credential_id, record.org_slug)
        return DecryptedCredential(_metadata(record), secret)

    def _check_with_provider(self, provider: str, config: Mapping[str, str], secret: Secret, field_name: str) -> None:
        """The provider registry's verdict on a credential (known provider, config and secret fit its models).

        Raises:
            InvalidArgument: ``UNKNOWN_PROVIDER``, ``BAD_CREDENTIAL_CONFIG`` or ``ENDPOINT_OVERRIDE_DISABLED``,
                with the secret's violations named after ``field_name`` and no secret value in it.
        """
        try:
            validate_credential(
                provider, config, secret.reveal(), allow_endpoint_overrides=self._allow_endpoint_overrides
            )
        except InvalidArgument as error:
            raise _without_secret_values(error, secret, field_name) from None
        except Exception as error:  # noqa: BLE001 - its message could quote the plaintext it was given
            # Neither chained nor logged with its message: only the type says what went wrong.
            _log.error("the %s credential check failed with %s", provider, type(error).__name__)
            raise CloudactError("the credential could not be checked", reason="CREDENTIAL_CHECK_FAILED") from None

    async def _paging_key(self) -> bytes:
        if self._page_token_key is None:
            self._page_token_key = await self._records.page_token_key()
        return self._page_token_key

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


def _within_page_budget(records: list[CredentialRecord]) -> list[CredentialMetadata]:
    """The leading records whose metadata fits ``_PAGE_BUDGET_BYTES`` (always at least one).

    Credentials stored under the current limits never reach the budget; records stored before the
    limits existed (a 3 MB config) then come a few per page instead of overflowing the response.
    """
    page: list[CredentialMetadata] = []
    remaining = _PAGE_BUDGET_BYTES
    for record in records:
        size = _metadata_bytes(record)
        if page and size > remaining:
            break
        page.append(_metadata(record))
        remaining -= size
    return page


def _metadata_bytes(record: CredentialRecord) -> int:
    """About what the record's metadata takes on the wire (UTF-8 text plus per-field overhead)."""
    texts = [record.display_name, record.provider, *record.secret_field_names, *record.config, *record.config.values()]
    return _RECORD_OVERHEAD_BYTES + sum(len(text.encode()) + _FIELD_OVERHEAD_BYTES for text in texts)


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
    if len(display_name) > MAX_DISPLAY_NAME:
        raise _invalid("display_name", f"must be at most {MAX_DISPLAY_NAME} characters")
    # A name is shown in listings and terminals: no newlines, escapes or other control characters.
    if any(unicodedata.category(char) == "Cc" for char in display_name):
        raise _invalid("display_name", "must not contain control characters")


def _check_secret(secret: Secret, name: str) -> None:
    # Only counts, sizes and rules are ever described: no value, and no field name either (a field
    # name that breaks the rules may well be a pasted secret).
    if len(secret) == 0:
        raise _invalid(name, "must have at least one field")
    if len(secret) > MAX_SECRET_FIELDS:
        raise _invalid(name, f"must have at most {MAX_SECRET_FIELDS} fields (it has {len(secret)})")
    if any(not FIELD_NAME_PATTERN.fullmatch(field_name) for field_name in secret.field_names):
        raise _invalid(name, f"field names must match ^{FIELD_NAME_PATTERN.pattern}$")
    if len(secret._canonical_json()) > MAX_SECRET_BYTES:
        raise _invalid(name, f"must be at most {MAX_SECRET_BYTES} bytes as JSON")


def _check_config(config: Mapping[str, str]) -> None:
    if len(config) > MAX_CONFIG_KEYS:
        raise _invalid("config", f"must have at most {MAX_CONFIG_KEYS} keys (it has {len(config)})")
    for key, value in config.items():
        if not FIELD_NAME_PATTERN.fullmatch(key):
            raise _invalid("config", f"key {echo(key)} must match ^{FIELD_NAME_PATTERN.pattern}$")
        if len(value) > MAX_CONFIG_VALUE_CHARS:
            raise _invalid("config", f"value of {key!r} must be at most {MAX_CONFIG_VALUE_CHARS} characters")
    size = len(json.dumps(dict(config), separators=(",", ":"), ensure_ascii=False).encode())
    if size > MAX_CONFIG_BYTES:
        raise _invalid("config", f"must be at most {MAX_CONFIG_BYTES} bytes as JSON (it is {size})")


def _without_secret_values(error: InvalidArgument, secret: Secret, field_name: str) -> InvalidArgument:
    """``error`` with its ``secret.*`` violations renamed to ``field_name`` and any text quoting a value withheld.

    The registry promises never to quote a value; this keeps the vault's own promise if it ever does.
    """
    values = [value for value in secret.reveal().values() if len(value) >= _MIN_SCRUBBED_VALUE]

    def clean(text: str) -> str:
        return "(withheld: it quoted a secret value)" if any(value in text for value in values) else text

    def renamed(name: str) -> str:
        head, dot, rest = name.partition(".")
        return field_name + dot + rest if head == "secret" else name

    return InvalidArgument(
        clean(error.message),
        reason=error.reason,
        violations=[FieldViolation(renamed(v.field), clean(v.description)) for v in error.violations],
        metadata={key: clean(value) for key, value in error.metadata.items()},
    )


def _check_page_size(page_size: int) -> None:
    if page_size < 0:
        raise _invalid("page_size", "must not be negative")


# --- page tokens ----------------------------------------------------------------------------------
# A token is base64url(JSON position) "." base64url(HMAC). The MAC covers the org and the provider
# filter too, so a token is refused if edited, forged, or replayed against another org or filter.


def _page_token(key: bytes, org_slug: str, provider: str, after: ListPosition) -> str:
    payload = json.dumps(
        {
            "v": _PAGE_TOKEN_FORMAT,
            "created_at": after.created_at.isoformat(timespec="microseconds"),
            "credential_id": after.credential_id,
        },
        separators=(",", ":"),
    ).encode()
    mac = _page_token_mac(key, org_slug, provider, payload)
    return f"{_b64encode(payload)}.{_b64encode(mac)}"


def _read_page_token(key: bytes, org_slug: str, provider: str, token: str) -> ListPosition:
    """The position a page token names; InvalidArgument unless this vault issued it for this query."""
    if len(token) > _MAX_PAGE_TOKEN_CHARS:
        raise _bad_page_token()
    payload_text, _, mac_text = token.partition(".")
    payload, mac = _b64decode(payload_text), _b64decode(mac_text)
    if payload is None or mac is None:
        raise _bad_page_token()
    if not hmac.compare_digest(mac, _page_token_mac(key, org_slug, provider, payload)):
        raise _bad_page_token()
    position = _parse_position(payload)
    if position is None:
        raise _bad_page_token()
    return position


def _parse_position(payload: bytes) -> ListPosition | None:
    # The MAC already vouches for the payload; this only guards against a format this code did not write.
    try:
        document = json.loads(payload)
        if document.get("v") != _PAGE_TOKEN_FORMAT:
            return None
        created_at = datetime.fromisoformat(document["created_at"])
        credential_id = str(uuid.UUID(document["credential_id"]))
    except (ValueError, TypeError, KeyError, AttributeError):
        return None
    return ListPosition(created_at, credential_id)


def _page_token_mac(key: bytes, org_slug: str, provider: str, payload: bytes) -> bytes:
    scope = json.dumps([_AAD_CONTEXT, "ListCredentials", org_slug, provider], separators=(",", ":")).encode()
    return hmac.new(key, scope + b"\n" + payload, hashlib.sha256).digest()[:_PAGE_TOKEN_MAC_BYTES]


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes | None:
    """The bytes ``text`` encodes, if ``_b64encode`` would have written exactly ``text`` for them.

    The decoder alone skips characters outside the alphabet and ignores a last character's spare
    bits, so several spellings decode alike; a token must have only one.
    """
    if not _BASE64URL.fullmatch(text):
        return None
    try:
        decoded = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        return None
    return decoded if _b64encode(decoded) == text else None


def _bad_page_token() -> InvalidArgument:
    description = "must be the next_page_token of a previous call with the same org_slug and provider"
    return InvalidArgument(
        f"page_token {description}", reason="INVALID_PAGE_TOKEN", violations=[FieldViolation("page_token", description)]
    )


def _invalid(field_name: str, description: str) -> InvalidArgument:
    return InvalidArgument(
        f"{field_name} {description}",
        reason="INVALID_ARGUMENT",
        violations=[FieldViolation(field_name, description)],
    )
