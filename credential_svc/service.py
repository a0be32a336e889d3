"""The credential vault: create, list, rotate, delete and (for the pipeline) decrypt, org-scoped.

Plain async Python over dataclasses; no gRPC here. What a credential may hold is checked by
``limits``; its secret is sealed by ``envelope`` (AES-256-GCM under a fresh data key wrapped by the
``KeyEncryptionService``: the local key ring, or Cloud KMS in production).

Plaintext secrets live only in memory: in a bounded TTL cache (at most 5 minutes) and in the one
decrypt response. They are never logged, never put in an error, and their repr is redacted.

Everything a caller stores is bounded (field counts, lengths, JSON sizes, credentials per org) and
listings are paged, so no request or response can outgrow gRPC's message limit: the largest page of
the largest credentials stays far below 4 MiB.
"""

from __future__ import annotations

import hmac
import logging
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from types import MappingProxyType
from typing import TypeVar

from cachetools import TTLCache

from cloudact_providers.registry import validate_credential
from cloudact_shared.errors import (
    AlreadyExists,
    CloudactError,
    InvalidArgument,
    NotFound,
    ResourceExhausted,
    Unavailable,
)
from cloudact_shared.naming import echo, validate_org_slug, validate_provider
from cloudact_shared.paging import PageTokens
from cloudact_shared.paging import page_size as page_size_of
from cloudact_shared.schedule import Schedule, parse_schedule, schedule_of
from credential_svc import limits
from credential_svc.adapters.kms import UNDECRYPTABLE_REASON, KeyEncryptionService
from credential_svc.adapters.records import (
    CredentialRecord,
    CredentialRecords,
    InsertOutcome,
    ListPosition,
)
from credential_svc.envelope import EnvelopeCipher
from credential_svc.secret import Secret

_log = logging.getLogger(__name__)
_T = TypeVar("_T")

MAX_CACHE_TTL_SECONDS = 300.0
"""Plaintext never stays in memory longer than this (DESIGN §6)."""
MAX_CREDENTIALS_PER_ORG = 1000
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 100
"""With the bounds above a credential's metadata is under 20 KiB, so a page stays under 2 MiB."""
_PAGE_BUDGET_BYTES = 2 * 1024 * 1024
"""A page also ends early at this size: half of gRPC's default 4 MiB receive limit."""
_RECORD_OVERHEAD_BYTES = 256
_FIELD_OVERHEAD_BYTES = 8
_MAX_ECHOED_ID = 64
_ROTATE_ATTEMPTS = 3
_REWRAP_BATCH = 100


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class NewCredential:
    """What CreateCredential stores."""

    org_slug: str
    provider: str
    display_name: str
    secret: Secret
    config: Mapping[str, str] = field(default_factory=dict)
    schedule: str = ""
    """A schedule spec (``cloudact_shared.schedule``); empty: the default derived from the id."""


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
    schedule: Schedule
    """When the scheduler runs its pipeline: the one set for it, or the default."""


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
class RewrapSummary:
    """What ``rewrap_all`` did."""

    key_version: str
    """The KEK version that was current when it started (every record moved to it or a newer one)."""
    rewrapped: int
    changed_meanwhile: int
    """Records rotated or deleted while they were being re-wrapped: already on a fresh data key, or gone."""
    undecryptable: tuple[str, ...]
    """Ids of credentials whose wrapped key failed authentication (left as they were)."""


@dataclass(frozen=True)
class _CachedSecret:
    nonce: bytes = field(repr=False)
    secret: Secret


class CredentialVault:
    """Creates, lists, rotates, deletes and (for the pipeline only) decrypts credentials.

    Args:
        records: Where the records live (SQLite in the embedded deployment).
        kek: Wraps and unwraps data keys (the local key ring, or Cloud KMS).
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
        self._cipher = EnvelopeCipher(kek)
        self._max_per_org = max_credentials_per_org
        self._allow_endpoint_overrides = allow_endpoint_overrides
        self._tokens: PageTokens | None = None
        self._now = now
        # Keyed by (org, credential id); the nonce identifies which ciphertext the entry came from, so
        # a rotation done by another replica is never answered with the old plaintext.
        self._cache: TTLCache[tuple[str, str], _CachedSecret] = TTLCache(
            maxsize=cache_max_entries, ttl=cache_ttl_seconds, timer=clock
        )

    def __repr__(self) -> str:
        return f"CredentialVault({self._cipher!r}, cached={len(self._cache)})"

    async def create(self, new: NewCredential, *, timeout: float | None = None) -> CredentialMetadata:
        """Validates and stores a new credential under a fresh data key.

        Raises:
            InvalidArgument: bad org slug, provider, display name, secret or config, or one over a limit.
            AlreadyExists: the org has a credential with this provider and display name.
            ResourceExhausted: the org already holds ``max_credentials_per_org`` credentials.
        """
        display_name = new.display_name.strip()
        violations = limits.collect(
            lambda: validate_org_slug(new.org_slug),
            lambda: validate_provider(new.provider),
            lambda: limits.check_display_name(display_name),
            lambda: limits.check_secret(new.secret, "secret"),
            lambda: limits.check_config(new.config),
            lambda: parse_schedule(new.schedule) if new.schedule else None,
        )
        if violations:
            raise violations
        schedule = parse_schedule(new.schedule).spec if new.schedule else None
        # Only now, on input within every bound: the registry parses it against the provider's models.
        self._check_with_provider(new.provider, new.config, new.secret, "secret")
        credential_id = str(uuid.uuid4())
        envelope = await self._cipher.seal(new.org_slug, new.provider, credential_id, new.secret, timeout)
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
            schedule=schedule,
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
        violations = limits.collect(
            lambda: validate_org_slug(org_slug),
            lambda: validate_provider(provider) if provider else None,
            lambda: page_size_of(page_size, default=DEFAULT_PAGE_SIZE, maximum=MAX_PAGE_SIZE),
        )
        if violations:
            raise violations
        tokens = await self._page_tokens()
        after = _position(tokens, tokens.read(page_token, [org_slug, provider])) if page_token else None
        size = page_size_of(page_size, default=DEFAULT_PAGE_SIZE, maximum=MAX_PAGE_SIZE)
        # One more than asked for says whether another page exists, without a count query.
        records = await self._records.list_org(org_slug, provider or None, after=after, limit=size + 1)
        page = _within_page_budget(records[:size])
        next_token = ""
        if len(records) > len(page):
            last = {"created_at": page[-1].created_at.isoformat(), "credential_id": page[-1].credential_id}
            next_token = tokens.issue([org_slug, provider], last)
        return CredentialPage(tuple(page), next_token)

    async def get(self, org_slug: str, credential_id: str) -> CredentialMetadata:
        """One credential's metadata.

        Raises:
            NotFound: no such credential in this org (also when it exists in another org).
        """
        return _metadata(await self._require(org_slug, credential_id))

    async def set_schedule(self, org_slug: str, credential_id: str, spec: str) -> CredentialMetadata:
        """Sets when the scheduler runs the credential's pipeline; an empty ``spec`` restores the default.

        Raises:
            InvalidArgument: ``INVALID_SCHEDULE`` for a spec that does not parse.
            NotFound: no such credential in this org.
        """
        org_slug, credential_id = _validated_scope(org_slug, credential_id)
        stored = parse_schedule(spec).spec if spec.strip() else None
        if not await self._records.set_schedule(org_slug, credential_id, stored):
            raise _not_found(org_slug, credential_id)
        _log.info("credential %s (org=%s) schedule set to %s", credential_id, org_slug, stored or "the default")
        return await self.get(org_slug, credential_id)

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
            violations = limits.collect(
                lambda: validate_org_slug(org_slug), lambda: limits.check_secret(new_secret, "new_secret")
            )
            if violations:
                raise violations
            # Provider and config never change on rotation, so one check before the retry loop holds.
            current = await self._require(org_slug, credential_id)
            self._check_with_provider(current.provider, current.config, new_secret, "new_secret")
        for _attempt in range(_ROTATE_ATTEMPTS):
            record = await self._require(org_slug, credential_id)
            secret = new_secret if new_secret is not None else await self._plaintext(record, timeout, remember=False)
            envelope = await self._cipher.seal(record.org_slug, record.provider, record.credential_id, secret, timeout)
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

    async def rewrap_all(self, *, timeout: float | None = None) -> RewrapSummary:
        """Re-wraps, with the current KEK version, every credential's data key that an older one wrapped.

        The step after a KEK rotation, before the old version may be disabled or destroyed. Only the
        wrapped data key and its ``key_version`` change, per record in one compare-and-swap on the
        nonce: the secret is not re-encrypted, ``rotated_at`` stays, and a credential rotated
        meanwhile keeps its new envelope. Decrypts go on throughout (the old version still unwraps
        what has not moved yet). Safe to run again: it only touches records not yet on the current
        version.

        Args:
            timeout: Deadline in seconds for each credential's unwrap and wrap.

        Raises:
            Unavailable / DeadlineExceeded: the key service failed; what was re-wrapped stays, run it again.
        """
        current = await self._cipher.current_version(timeout)
        rewrapped = changed = 0
        undecryptable: list[str] = []
        after = ""
        while batch := await self._records.list_not_wrapped_by(current, after=after, limit=_REWRAP_BATCH):
            for record in batch:
                after = record.credential_id
                try:
                    wrapped = await self._cipher.rewrap(record, timeout)
                except CloudactError as error:
                    if error.reason != UNDECRYPTABLE_REASON:
                        raise
                    _log.error("credential %s (org=%s) could not be re-wrapped", record.credential_id, record.org_slug)
                    undecryptable.append(record.credential_id)
                    continue
                swapped = await self._records.replace_wrapped_key(
                    record.org_slug,
                    record.credential_id,
                    wrapped.key_version,
                    wrapped.ciphertext,
                    expected_nonce=record.envelope.nonce,
                )
                rewrapped += swapped
                changed += not swapped
        _log.info(
            "re-wrapped %d credential data keys with %s (%d changed meanwhile, %d undecryptable)",
            rewrapped,
            current,
            changed,
            len(undecryptable),
        )
        return RewrapSummary(current, rewrapped, changed, tuple(undecryptable))

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
            raise limits.without_secret_values(error, secret, field_name) from None
        except Exception as error:  # noqa: BLE001 - its message could quote the plaintext it was given
            # Neither chained nor logged with its message: only the type says what went wrong.
            _log.error("the %s credential check failed with %s", provider, type(error).__name__)
            raise CloudactError("the credential could not be checked", reason="CREDENTIAL_CHECK_FAILED") from None

    async def _page_tokens(self) -> PageTokens:
        # Signed: the key is shared by every replica through the records, so a token survives restarts.
        if self._tokens is None:
            key = await self._records.page_token_key()
            self._tokens = PageTokens("ListCredentials", ["org_slug", "provider"], key)
        return self._tokens

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
        secret = await self._cipher.open(record, timeout)
        if remember:
            self._cache[key] = _CachedSecret(record.envelope.nonce, secret)
        return secret


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
        schedule=schedule_of(record.credential_id, record.schedule),
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


def _position(tokens: PageTokens, after: Mapping[str, str]) -> ListPosition:
    """The listing position a (verified) page token names."""
    try:
        return ListPosition(datetime.fromisoformat(after["created_at"]), str(uuid.UUID(after["credential_id"])))
    except (KeyError, ValueError):
        raise tokens.invalid() from None
