"""CloudKmsKeyService: Google Cloud KMS wraps credential_svc's data keys (``key_backend = "cloudkms"``).

The key-encryption key never leaves Cloud KMS: ``wrap`` is an Encrypt call and ``unwrap`` a Decrypt
call on the configured cryptoKey (``kms_key_name``), through the async google-cloud-kms client.
Encrypt uses the key's primary version and names it in the response, which becomes the
``WrappedKey.key_version`` stored beside each credential; Decrypt finds the version inside the
ciphertext, so every version that is still enabled keeps decrypting after a rotation.

Integrity is checked end to end as Google documents: CRC32C checksums go with every request and the
``verified_*`` flags and response checksums are verified. Transient failures (UNAVAILABLE,
DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED) are retried with google.api_core's exponential back-off
within the caller's deadline.

IAM: wrap and unwrap need ``roles/cloudkms.cryptoKeyEncrypterDecrypter`` on the key; ``current_version``
(used by ``CredentialVault.rewrap_all``) also ``cloudkms.cryptoKeys.get`` (``roles/cloudkms.viewer``);
``rotate`` ``roles/cloudkms.admin``: an operator's job, not the service account's.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

import google_crc32c
import grpc
from google.api_core import exceptions as google_errors
from google.api_core import retry as google_retry
from google.auth import exceptions as auth_errors
from google.cloud import kms_v1
from google.cloud.kms_v1.services.key_management_service.transports import grpc_asyncio as kms_transport

from cloudact_shared.errors import CloudactError, DeadlineExceeded, FailedPrecondition, Unavailable
from cloudact_shared.settings import CloudactSettings
from credential_svc.adapters.kms import WrappedKey, undecryptable

_log = logging.getLogger(__name__)
_T = TypeVar("_T")

_DEFAULT_DEADLINE_SECONDS = 60.0
"""A call without a caller's deadline still ends: Google's own default deadline for KMS calls."""
_VERSION_SEPARATOR = "/cryptoKeyVersions/"
_TRANSIENT = (
    google_errors.ServiceUnavailable,
    google_errors.DeadlineExceeded,
    google_errors.ResourceExhausted,
)
_UNDECRYPTABLE = (google_errors.InvalidArgument, google_errors.FailedPrecondition)
"""What Decrypt answers for a ciphertext that will never decrypt: tampered, another key's, wrong
AAD (INVALID_ARGUMENT), or made by a disabled or destroyed version (FAILED_PRECONDITION)."""
_ENCRYPTER_DECRYPTER = "roles/cloudkms.cryptoKeyEncrypterDecrypter"
_VIEWER = "roles/cloudkms.viewer"
_ADMIN = "roles/cloudkms.admin"
_LOOPBACK_NAMES = ("localhost",)

# The transport's DEBUG interceptor logs whole requests and responses (the plaintext data keys of
# Encrypt and Decrypt) when its logger is enabled for DEBUG, e.g. through
# GOOGLE_SDK_PYTHON_LOGGING_SCOPE. Key material must never reach a log, whatever the log level.
logging.getLogger(kms_transport.__name__).setLevel(logging.INFO)


class CloudKmsKeyService:
    """``KeyEncryptionService`` backed by a Cloud KMS symmetric key (``ENCRYPT_DECRYPT``).

    Build it with ``CloudKmsKeyService.from_settings(settings)``; ``close()`` on stop.

    Args:
        client: The async KMS client (its transport decides the endpoint and the credentials).
        key_name: ``projects/P/locations/L/keyRings/R/cryptoKeys/K``.
    """

    def __init__(self, client: kms_v1.KeyManagementServiceAsyncClient, key_name: str) -> None:
        self._client = client
        self._key_name = key_name

    def __repr__(self) -> str:
        return f"CloudKmsKeyService(key={self._key_name!r})"

    @classmethod
    def from_settings(cls, settings: CloudactSettings) -> CloudKmsKeyService:
        """The key service for ``settings.kms_key_name``.

        With ``kms_endpoint`` set, the client talks plaintext gRPC to that loopback address (the
        emulator of the tests and the demo); otherwise to Google's endpoint over TLS with
        Application Default Credentials.

        Raises:
            FailedPrecondition: no ``kms_key_name``, a ``kms_endpoint`` that is not a loopback address,
                or no Application Default Credentials.
        """
        if not settings.kms_key_name:
            raise FailedPrecondition(
                "key_backend 'cloudkms' needs kms_key_name (CLOUDACT_KMS_KEY_NAME)", reason="KMS_KEY_NAME_MISSING"
            )
        if settings.kms_endpoint:
            _require_loopback(settings.kms_endpoint)
            channel = grpc.aio.insecure_channel(settings.kms_endpoint)
            transport = kms_transport.KeyManagementServiceGrpcAsyncIOTransport(channel=channel)
            return cls(kms_v1.KeyManagementServiceAsyncClient(transport=transport), settings.kms_key_name)
        try:
            client = kms_v1.KeyManagementServiceAsyncClient()
        except auth_errors.DefaultCredentialsError:
            raise FailedPrecondition(
                "key_backend 'cloudkms' found no Application Default Credentials: run on a workload with a"
                " service account, or set GOOGLE_APPLICATION_CREDENTIALS to a service-account key file",
                reason="KMS_NO_CREDENTIALS",
            ) from None
        return cls(client, settings.kms_key_name)

    @property
    def key_name(self) -> str:
        """The cryptoKey whose primary version wraps new data keys."""
        return self._key_name

    async def close(self) -> None:
        """Closes the client's channel."""
        await self._client.transport.close()  # type: ignore[no-untyped-call]

    async def wrap(self, plaintext_key: bytes, aad: bytes, *, timeout: float | None = None) -> WrappedKey:
        """Encrypts ``plaintext_key`` with the key's primary version, bound to ``aad``.

        Raises:
            FailedPrecondition: the key is missing, not usable for encryption, or not ours to use.
            Unavailable: Cloud KMS is unreachable, overloaded, or the data was corrupted in transit.
            DeadlineExceeded: the deadline ran out.
        """
        request = kms_v1.EncryptRequest(
            name=self._key_name,
            plaintext=plaintext_key,
            plaintext_crc32c=google_crc32c.value(plaintext_key),
            additional_authenticated_data=aad,
            additional_authenticated_data_crc32c=google_crc32c.value(aad),
        )
        deadline = _deadline(timeout)
        response = await self._call(
            "Encrypt",
            _ENCRYPTER_DECRYPTER,
            lambda: self._client.encrypt(request=request, retry=_retry(deadline), timeout=deadline),
        )
        if not response.verified_plaintext_crc32c or not response.verified_additional_authenticated_data_crc32c:
            raise _corrupted("request")
        ciphertext = bytes(response.ciphertext)
        if _optional_int(response.ciphertext_crc32c) != google_crc32c.value(ciphertext):
            raise _corrupted("response")
        if not response.name.startswith(self._key_name + _VERSION_SEPARATOR):
            raise CloudactError(
                f"Cloud KMS encrypted with {response.name!r}, not a version of {self._key_name}",
                reason="KMS_UNEXPECTED_VERSION",
            )
        return WrappedKey(key_version=response.name, ciphertext=ciphertext)

    async def unwrap(self, wrapped: WrappedKey, aad: bytes, *, timeout: float | None = None) -> bytes:
        """Decrypts a key produced by ``wrap`` (with any enabled version of its key).

        Raises:
            CloudactError: ``undecryptable()`` when Cloud KMS refuses the ciphertext (tampered, wrong
                ``aad``, another key's, or its version disabled or destroyed).
            FailedPrecondition: the key is missing or not ours to use.
            Unavailable / DeadlineExceeded: as for ``wrap``.
        """
        # Decrypt takes the cryptoKey, not the version (Cloud KMS reads that from the ciphertext).
        # It is the key that wrapped this one, so credentials wrapped before kms_key_name moved to
        # another key still decrypt until they are re-wrapped.
        key_name, separator, _ = wrapped.key_version.rpartition(_VERSION_SEPARATOR)
        if not separator or not wrapped.ciphertext:
            raise undecryptable()  # a version name of another backend (e.g. local-v1): never Cloud KMS's
        request = kms_v1.DecryptRequest(
            name=key_name,
            ciphertext=wrapped.ciphertext,
            ciphertext_crc32c=google_crc32c.value(wrapped.ciphertext),
            additional_authenticated_data=aad,
            additional_authenticated_data_crc32c=google_crc32c.value(aad),
        )
        deadline = _deadline(timeout)
        try:
            response = await self._client.decrypt(request=request, retry=_retry(deadline), timeout=deadline)
        except _UNDECRYPTABLE as error:
            _log.warning("Cloud KMS refused to decrypt a data key of %s: %s", wrapped.key_version, _code(error))
            failed = True
        except (google_errors.GoogleAPIError, auth_errors.GoogleAuthError) as error:
            raise _mapped(error, "Decrypt", key_name, _ENCRYPTER_DECRYPTER) from None
        else:
            failed = False
        if failed:
            # Raised outside the except block: nothing is chained to the generic error.
            raise undecryptable()
        plaintext = bytes(response.plaintext)
        if _optional_int(response.plaintext_crc32c) != google_crc32c.value(plaintext):
            raise _corrupted("response")
        return plaintext

    async def current_version(self, *, timeout: float | None = None) -> str:
        """The key's primary version, the one ``wrap`` uses now.

        Raises:
            FailedPrecondition: the key has no primary version, is missing, or may not be read.
        """
        deadline = _deadline(timeout)
        key = await self._call(
            "GetCryptoKey",
            _VIEWER,
            lambda: self._client.get_crypto_key(name=self._key_name, retry=_retry(deadline), timeout=deadline),
        )
        if not key.primary.name:
            raise FailedPrecondition(
                f"Cloud KMS key {self._key_name} has no primary version; make an enabled version primary",
                reason="KMS_NO_PRIMARY_VERSION",
            )
        return key.primary.name

    async def rotate(self, *, timeout: float | None = None) -> str:
        """Creates a new key version, makes it primary, and returns its name.

        Older versions stay enabled, so everything they wrapped still decrypts until it is re-wrapped
        (``CredentialVault.rewrap_all``); only then may they be disabled or destroyed.
        """
        deadline = _deadline(timeout)
        # Not retried: a retried CreateCryptoKeyVersion whose first attempt did arrive would leave an
        # extra version behind.
        created = await self._call(
            "CreateCryptoKeyVersion",
            _ADMIN,
            lambda: self._client.create_crypto_key_version(
                parent=self._key_name, crypto_key_version=kms_v1.CryptoKeyVersion(), retry=None, timeout=deadline
            ),
        )
        number = created.name.rpartition(_VERSION_SEPARATOR)[2]
        await self._call(
            "UpdateCryptoKeyPrimaryVersion",
            _ADMIN,
            lambda: self._client.update_crypto_key_primary_version(
                name=self._key_name, crypto_key_version_id=number, retry=_retry(deadline), timeout=deadline
            ),
        )
        _log.info("Cloud KMS key %s rotated: %s is primary", self._key_name, created.name)
        return created.name

    async def _call(self, operation: str, role: str, call: Callable[[], Awaitable[_T]]) -> _T:
        """Runs one client call, its failures mapped to CloudAct errors that quote no data."""
        try:
            return await call()
        except (google_errors.GoogleAPIError, auth_errors.GoogleAuthError) as error:
            raise _mapped(error, operation, self._key_name, role) from None


def _deadline(timeout: float | None) -> float:
    return _DEFAULT_DEADLINE_SECONDS if timeout is None else max(timeout, 0.0)


def _retry(deadline: float) -> google_retry.AsyncRetry:
    """Exponential back-off on transient codes, giving up before ``deadline`` would pass."""
    return google_retry.AsyncRetry(
        predicate=google_retry.if_exception_type(*_TRANSIENT),
        initial=0.1,
        maximum=5.0,
        multiplier=2.0,
        timeout=deadline,
    )


def _mapped(error: Exception, operation: str, key_name: str, role: str) -> CloudactError:
    """The CloudAct error for a failed KMS call; the message names the key and the code, never data."""
    if isinstance(error, google_errors.RetryError) and isinstance(error.cause, Exception):
        # Retried until the deadline: what matters is the last transient failure.
        error = error.cause
    _log.warning("Cloud KMS %s on %s failed: %s", operation, key_name, _code(error))
    if isinstance(error, google_errors.DeadlineExceeded):
        return DeadlineExceeded(
            f"deadline exceeded waiting for Cloud KMS ({operation})", reason="KMS_DEADLINE_EXCEEDED"
        )
    if isinstance(error, google_errors.PermissionDenied):
        return FailedPrecondition(
            f"credential_svc's service account may not call {operation} on the Cloud KMS key {key_name}:"
            f" grant it {role} on that key",
            reason="KMS_PERMISSION_DENIED",
            metadata={"key": key_name, "role": role},
        )
    if isinstance(error, (google_errors.Unauthenticated, auth_errors.GoogleAuthError)):
        return FailedPrecondition(
            "Cloud KMS rejected credential_svc's credentials (Application Default Credentials)",
            reason="KMS_UNAUTHENTICATED",
        )
    if isinstance(error, google_errors.NotFound):
        return FailedPrecondition(
            f"Cloud KMS key {key_name} not found: check kms_key_name (CLOUDACT_KMS_KEY_NAME)",
            reason="KMS_KEY_NOT_FOUND",
            metadata={"key": key_name},
        )
    if isinstance(error, google_errors.FailedPrecondition):
        return FailedPrecondition(
            f"Cloud KMS key {key_name} cannot serve {operation} now (is its primary version enabled?)",
            reason="KMS_KEY_NOT_USABLE",
            metadata={"key": key_name},
        )
    if isinstance(error, (*_TRANSIENT, google_errors.InternalServerError, google_errors.RetryError)):
        return Unavailable(f"Cloud KMS is unavailable ({_code(error)}); retry later", reason="KMS_UNAVAILABLE")
    return CloudactError(f"Cloud KMS {operation} failed ({_code(error)})", reason="KMS_ERROR")


def _code(error: Exception) -> str:
    """A failed call's status name (e.g. UNAVAILABLE), or the exception type for other errors."""
    if isinstance(error, google_errors.GoogleAPICallError) and error.grpc_status_code is not None:
        return str(error.grpc_status_code.name)
    return type(error).__name__


def _corrupted(what: str) -> Unavailable:
    # Google's guidance: a checksum mismatch means corruption in transit; the call may be retried.
    return Unavailable(f"the Cloud KMS {what} was corrupted in transit; retry", reason="KMS_INTEGRITY")


def _optional_int(value: object) -> int | None:
    # proto-plus hands Int64Value wrapper fields over as int (None when unset).
    return value if isinstance(value, int) else None


def _require_loopback(endpoint: str) -> None:
    """Refuses a plaintext endpoint off this machine: key material would cross a network unencrypted."""
    host = endpoint.rsplit(":", 1)[0].strip("[]")
    try:
        loopback = host in _LOOPBACK_NAMES or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise FailedPrecondition(
            f"kms_endpoint {endpoint!r} is not a loopback address: a plaintext KMS endpoint is only for a local"
            " emulator (127.0.0.1, ::1, localhost); unset kms_endpoint to use Cloud KMS over TLS",
            reason="KMS_ENDPOINT_NOT_LOOPBACK",
        )
