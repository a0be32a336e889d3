"""Envelope encryption of a credential's secret: AES-256-GCM under a fresh data key per secret.

Each secret is serialised as canonical JSON and sealed under its own 256-bit data key and a random
96-bit nonce. The AAD binds org, provider and credential id, so a ciphertext (or wrapped key) copied
to another credential or organisation fails authentication. The data key is wrapped by a
``KeyEncryptionService`` and never stored in the clear.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from collections.abc import Awaitable
from typing import TypeVar

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from cloudact_shared.errors import DeadlineExceeded
from credential_svc.adapters.kms import KeyEncryptionService, WrappedKey, undecryptable
from credential_svc.adapters.records import CredentialRecord, Envelope
from credential_svc.secret import Secret

_log = logging.getLogger(__name__)
_T = TypeVar("_T")
_DATA_KEY_BITS = 256
_NONCE_BYTES = 12
_AAD_CONTEXT = "cloudact.credential.v1"


class EnvelopeCipher:
    """Seals secrets into envelopes and opens them again, with data keys wrapped by ``kek``."""

    def __init__(self, kek: KeyEncryptionService) -> None:
        self._kek = kek

    def __repr__(self) -> str:
        return f"EnvelopeCipher(kek={self._kek!r})"

    async def seal(
        self, org_slug: str, provider: str, credential_id: str, secret: Secret, timeout: float | None
    ) -> Envelope:
        """The envelope of ``secret`` for this one credential (a fresh data key and nonce)."""
        aad = _aad(org_slug, provider, credential_id)
        data_key = AESGCM.generate_key(bit_length=_DATA_KEY_BITS)
        nonce = os.urandom(_NONCE_BYTES)
        ciphertext = AESGCM(data_key).encrypt(nonce, secret._canonical_json(), aad)
        wrapped = await _within(timeout, self._kek.wrap(data_key, aad, timeout=timeout))
        return Envelope(wrapped.key_version, wrapped.ciphertext, nonce, ciphertext)

    async def open(self, record: CredentialRecord, timeout: float | None) -> Secret:
        """The secret in ``record``'s envelope.

        Raises:
            CloudactError: ``undecryptable()`` when the envelope fails authentication (tampered, or
                moved from another credential); DeadlineExceeded when the key service is too slow.
        """
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

    async def current_version(self, timeout: float | None) -> str:
        """The KEK version new data keys are wrapped with."""
        return await _within(timeout, self._kek.current_version(timeout=timeout))

    async def rewrap(self, record: CredentialRecord, timeout: float | None) -> WrappedKey:
        """``record``'s data key wrapped again, by the current KEK version (the secret is not touched).

        Raises:
            CloudactError: ``undecryptable()`` when the wrapped key fails authentication.
        """
        aad = _aad(record.org_slug, record.provider, record.credential_id)
        envelope = record.envelope
        old = WrappedKey(envelope.key_version, envelope.wrapped_data_key)
        deadline = None if timeout is None else asyncio.get_running_loop().time() + timeout

        async def unwrap_then_wrap() -> WrappedKey:
            data_key = await self._kek.unwrap(old, aad, timeout=timeout)
            remaining = None if deadline is None else max(deadline - asyncio.get_running_loop().time(), 0.0)
            return await self._kek.wrap(data_key, aad, timeout=remaining)

        return await _within(timeout, unwrap_then_wrap())


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
