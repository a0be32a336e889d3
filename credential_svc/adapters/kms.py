"""The key-encryption seam: who wraps and unwraps the per-secret data keys.

``credential_svc`` never holds a key-encryption key (KEK) itself. It asks a
``KeyEncryptionService`` to wrap each fresh data key and to unwrap it again on decrypt. Two
implement it, chosen by ``settings.key_backend``: ``LocalKeyRing`` (``adapters/keyring.py``, the
embedded default) and ``CloudKmsKeyService`` (``adapters/cloudkms.py``, Google Cloud KMS in
production); another key service implements the same three calls, with no change to the service.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from cloudact_shared.errors import CloudactError

UNDECRYPTABLE_REASON = "CREDENTIAL_UNDECRYPTABLE"


@dataclass(frozen=True)
class WrappedKey:
    """A data key encrypted under one version of a key-encryption key.

    Both values are opaque to callers and are stored verbatim beside the ciphertext.
    """

    key_version: str
    """Which KEK version wrapped the key (e.g. ``local-v3``)."""
    ciphertext: bytes
    """The wrapped key, in whatever format the backend produced."""

    def __repr__(self) -> str:
        return f"WrappedKey(key_version={self.key_version!r}, ciphertext=<{len(self.ciphertext)} bytes>)"


class KeyEncryptionService(Protocol):
    """Wraps and unwraps data keys with a versioned key-encryption key (KEK).

    Contract for every backend:

    * ``wrap`` always uses the newest (primary) KEK version and says which one it used in
      ``WrappedKey.key_version``. Old versions stay usable for ``unwrap`` until every credential
      has been re-wrapped (``RotateCredential``), so rotating a KEK never causes downtime.
    * ``aad`` (additional authenticated data) is bound to the wrapped key: ``unwrap`` with a
      different ``aad`` must fail. Callers pass the credential's identity (org, provider, id), so
      a wrapped key copied to another credential or organisation cannot be unwrapped.
    * Failures that mean "this ciphertext will never decrypt" (tampering, wrong ``aad``, unknown
      or destroyed version) raise ``undecryptable()``. Transient failures raise
      ``cloudact_shared.errors.Unavailable`` or ``DeadlineExceeded``. No error message may contain
      key material.
    * ``timeout`` is the caller's remaining deadline in seconds (``None``: no deadline); a remote
      backend passes it to its client call.
    """

    async def wrap(self, plaintext_key: bytes, aad: bytes, *, timeout: float | None = None) -> WrappedKey:
        """Encrypts ``plaintext_key`` under the current KEK version, bound to ``aad``.

        Args:
            plaintext_key: The data key (32 random bytes for AES-256-GCM).
            aad: Additional authenticated data; the same bytes must be given to ``unwrap``.
            timeout: Remaining deadline in seconds, or ``None``.

        Returns:
            The wrapped key and the KEK version that wrapped it.
        """
        ...

    async def unwrap(self, wrapped: WrappedKey, aad: bytes, *, timeout: float | None = None) -> bytes:
        """Decrypts a key produced by ``wrap`` with any KEK version still held.

        Raises:
            CloudactError: ``undecryptable()`` when the key cannot be unwrapped with this ``aad``.
        """
        ...

    async def current_version(self, *, timeout: float | None = None) -> str:
        """The KEK version ``wrap`` would use now (the newest / primary one)."""
        ...


def undecryptable() -> CloudactError:
    """The error for a stored secret or wrapped key that fails authentication.

    Deliberately generic (status INTERNAL): it says neither which layer failed nor anything about
    the secret, and it is raised outside any ``except`` block so no cause is chained to it.
    """
    return CloudactError("stored credential could not be decrypted", reason=UNDECRYPTABLE_REASON)
