"""A fake Cloud KMS on loopback, for the tests and ``make demo``: the real client talks to it unchanged.

It serves ``google.cloud.kms.v1.KeyManagementService`` over plaintext gRPC on 127.0.0.1 with
generic handlers whose (de)serializers are google-cloud-kms's own proto-plus message classes, so no
``.proto`` is compiled and every field is the one the client sends and reads. Only the calls
credential_svc, the demo and the tests make are served (the rest answer UNIMPLEMENTED, as an
unknown method does): Encrypt, Decrypt, GetCryptoKey, CreateKeyRing, CreateCryptoKey,
CreateCryptoKeyVersion, UpdateCryptoKeyPrimaryVersion, DestroyCryptoKeyVersion.

The crypto is real, not a stand-in: every key version has its own random 256-bit AES-GCM key; a
ciphertext is ``format(1) || version handle(16) || nonce(12) || AES-GCM(plaintext)`` with the
header and the caller's additional authenticated data bound in the tag. So tampering, a wrong AAD,
or a ciphertext of another key fail the way Google's do (INVALID_ARGUMENT "Decryption failed"),
and a version scheduled for destruction refuses to decrypt (FAILED_PRECONDITION). CRC32C integrity
fields are checked and filled in as Google documents (``verified_*`` flags; a request whose given
checksum does not match its data is INVALID_ARGUMENT).

Differences from Google's service, all outside what credential_svc relies on: no IAM (every caller
may do everything), no RestoreCryptoKeyVersion (a destroy-scheduled version never comes back), no
key rotation schedule, only ``ENCRYPT_DECRYPT`` keys with ``GOOGLE_SYMMETRIC_ENCRYPTION``.

State lives in memory, or in a JSON file (0600, in a 0700 directory) when one is given, so a demo
restart keeps its keys and every credential they wrap still decrypts.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import secrets
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import google_crc32c
import grpc
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from google.cloud import kms_v1

SERVICE = "google.cloud.kms.v1.KeyManagementService"
_FORMAT = 1
_STATE_FORMAT = 1
_HANDLE_BYTES = 16
_NONCE_BYTES = 12
_TAG_BYTES = 16
_HEADER_BYTES = 1 + _HANDLE_BYTES
_MAX_PLAINTEXT_BYTES = 64 * 1024
"""Google's limit on Encrypt's plaintext and on additional authenticated data."""
_MAX_CIPHERTEXT_BYTES = _MAX_PLAINTEXT_BYTES + _HEADER_BYTES + _NONCE_BYTES + _TAG_BYTES
_DESTROY_SCHEDULED_DURATION = timedelta(days=30)
"""Google's default ``destroy_scheduled_duration``."""
_ID = re.compile(r"^[a-zA-Z0-9_-]{1,63}$")
_LOCATION = re.compile(r"^projects/[^/]+/locations/[^/]+$")
_DECRYPTION_FAILED = "Decryption failed: verify that 'name' refers to the correct CryptoKey."

_Request = TypeVar("_Request")
_Response = TypeVar("_Response")
_State = kms_v1.CryptoKeyVersion.CryptoKeyVersionState


class _RpcError(Exception):
    """What a handler answers instead of a response: a status code and Google's kind of message."""

    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass
class _Version:
    number: int
    handle: bytes = field(repr=False)
    """Names the version inside its ciphertexts (random, so a ciphertext says nothing else)."""
    key: bytes = field(repr=False)
    state: str
    create_time: datetime
    destroy_time: datetime | None = None


@dataclass
class _CryptoKey:
    name: str
    create_time: datetime
    primary: int | None
    versions: dict[int, _Version] = field(default_factory=dict)


@dataclass
class _Store:
    """Every key ring, key and version; saved after each change when ``path`` is set."""

    path: Path | None
    key_rings: dict[str, datetime] = field(default_factory=dict)
    crypto_keys: dict[str, _CryptoKey] = field(default_factory=dict)
    by_handle: dict[bytes, tuple[str, int]] = field(default_factory=dict, repr=False)
    denied: set[str] = field(default_factory=set)
    """Keys whose every use answers PERMISSION_DENIED (a caller without the IAM role; not saved)."""

    @classmethod
    def load(cls, path: Path | None) -> _Store:
        store = cls(path)
        if path is None or not path.exists():
            return store
        mode = path.stat().st_mode & 0o777
        if mode & 0o077:
            raise PermissionError(f"KMS emulator state {path} has mode {oct(mode)}; it must be 0600 (chmod 600)")
        document = json.loads(path.read_text(encoding="utf-8"))
        if document.get("format") != _STATE_FORMAT:
            raise ValueError(f"KMS emulator state {path}: unsupported format")
        store.key_rings = {name: datetime.fromisoformat(at) for name, at in document["key_rings"].items()}
        for name, entry in document["crypto_keys"].items():
            key = _CryptoKey(name, datetime.fromisoformat(entry["create_time"]), entry["primary"])
            for item in entry["versions"]:
                version = _Version(
                    number=int(item["number"]),
                    handle=base64.b64decode(item["handle"]),
                    key=base64.b64decode(item["key"]),
                    state=str(item["state"]),
                    create_time=datetime.fromisoformat(item["create_time"]),
                    destroy_time=datetime.fromisoformat(item["destroy_time"]) if item.get("destroy_time") else None,
                )
                key.versions[version.number] = version
                store.by_handle[version.handle] = (name, version.number)
            store.crypto_keys[name] = key
        return store

    def save(self) -> None:
        """Writes the state atomically (0600 temp file, fsync, rename), when it has a file."""
        if self.path is None:
            return
        document = {
            "format": _STATE_FORMAT,
            "key_rings": {name: at.isoformat() for name, at in self.key_rings.items()},
            "crypto_keys": {name: _key_document(key) for name, key in self.crypto_keys.items()},
        }
        directory = self.path.parent
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        temp = directory / f".{self.path.name}.{secrets.token_hex(8)}.tmp"
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                os.fchmod(handle.fileno(), 0o600)  # umask can only narrow O_CREAT's mode
                json.dump(document, handle, indent=2)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temp, self.path)
        finally:
            with contextlib.suppress(FileNotFoundError):
                temp.unlink()

    # --- the operations (shared by the RPC handlers and the helpers) ---------------------------

    def create_key_ring(self, parent: str, key_ring_id: str) -> str:
        if not _LOCATION.match(parent):
            raise _RpcError(grpc.StatusCode.INVALID_ARGUMENT, f"Invalid parent: {parent!r}")
        if not _ID.match(key_ring_id):
            raise _RpcError(grpc.StatusCode.INVALID_ARGUMENT, f"Invalid key_ring_id: {key_ring_id!r}")
        name = f"{parent}/keyRings/{key_ring_id}"
        if name in self.key_rings:
            raise _RpcError(grpc.StatusCode.ALREADY_EXISTS, f"KeyRing {name} already exists.")
        self.key_rings[name] = _now()
        self.save()
        return name

    def create_crypto_key(self, parent: str, crypto_key_id: str, *, skip_initial_version: bool) -> _CryptoKey:
        if parent not in self.key_rings:
            raise _RpcError(grpc.StatusCode.NOT_FOUND, f"KeyRing {parent} not found.")
        if not _ID.match(crypto_key_id):
            raise _RpcError(grpc.StatusCode.INVALID_ARGUMENT, f"Invalid crypto_key_id: {crypto_key_id!r}")
        name = f"{parent}/cryptoKeys/{crypto_key_id}"
        if name in self.crypto_keys:
            raise _RpcError(grpc.StatusCode.ALREADY_EXISTS, f"CryptoKey {name} already exists.")
        key = _CryptoKey(name, _now(), None)
        self.crypto_keys[name] = key
        if not skip_initial_version:
            key.primary = self._new_version(key).number
        self.save()
        return key

    def create_version(self, parent: str) -> tuple[_CryptoKey, _Version]:
        key = self.crypto_key(parent, "cloudkms.cryptoKeyVersions.create")
        version = self._new_version(key)
        self.save()
        return key, version

    def set_primary(self, name: str, version_id: str) -> _CryptoKey:
        key = self.crypto_key(name, "cloudkms.cryptoKeys.update")
        number = int(version_id) if version_id.isdigit() else -1
        version = key.versions.get(number)
        if version is None:
            raise _RpcError(
                grpc.StatusCode.NOT_FOUND, f"CryptoKeyVersion {name}/cryptoKeyVersions/{version_id} not found."
            )
        if version.state != "ENABLED":
            raise _RpcError(grpc.StatusCode.FAILED_PRECONDITION, _not_enabled(key, version))
        key.primary = number
        self.save()
        return key

    def destroy_version(self, name: str) -> tuple[_CryptoKey, _Version]:
        key, version = self.version(name, "cloudkms.cryptoKeyVersions.destroy")
        if version.state not in ("ENABLED", "DISABLED"):
            raise _RpcError(
                grpc.StatusCode.FAILED_PRECONDITION,
                f"The request cannot be fulfilled. CryptoKeyVersion {name} is in state {version.state}.",
            )
        version.state = "DESTROY_SCHEDULED"
        version.destroy_time = _now() + _DESTROY_SCHEDULED_DURATION
        self.save()
        return key, version

    def crypto_key(self, name: str, permission: str = "cloudkms.cryptoKeys.get") -> _CryptoKey:
        if name in self.denied:
            # Google's wording: it never says whether a resource the caller may not see exists.
            raise _RpcError(
                grpc.StatusCode.PERMISSION_DENIED,
                f"Permission '{permission}' denied on resource '{name}' (or it may not exist).",
            )
        key = self.crypto_keys.get(name)
        if key is None:
            raise _RpcError(grpc.StatusCode.NOT_FOUND, f"CryptoKey {name} not found.")
        return key

    def version(self, name: str, permission: str = "cloudkms.cryptoKeyVersions.get") -> tuple[_CryptoKey, _Version]:
        key_name, _, number = name.rpartition("/cryptoKeyVersions/")
        if key_name in self.denied:
            self.crypto_key(key_name, permission)  # raises PERMISSION_DENIED
        key = self.crypto_keys.get(key_name)
        version = key.versions.get(int(number)) if key is not None and number.isdigit() else None
        if key is None or version is None:
            raise _RpcError(grpc.StatusCode.NOT_FOUND, f"CryptoKeyVersion {name} not found.")
        return key, version

    def encrypt(self, name: str, plaintext: bytes, aad: bytes) -> tuple[str, bytes]:
        """Encrypts with the key's primary version (or the named version); returns (version name, ciphertext)."""
        if "/cryptoKeyVersions/" in name:
            key, version = self.version(name, "cloudkms.cryptoKeyVersions.useToEncrypt")
        else:
            key = self.crypto_key(name, "cloudkms.cryptoKeyVersions.useToEncrypt")
            if key.primary is None:
                raise _RpcError(grpc.StatusCode.FAILED_PRECONDITION, f"CryptoKey {name} has no primary version.")
            version = key.versions[key.primary]
        if version.state != "ENABLED":
            raise _RpcError(grpc.StatusCode.FAILED_PRECONDITION, _not_enabled(key, version))
        header = bytes([_FORMAT]) + version.handle
        nonce = os.urandom(_NONCE_BYTES)
        sealed = AESGCM(version.key).encrypt(nonce, plaintext, header + aad)
        return _version_name(key, version), header + nonce + sealed

    def decrypt(self, name: str, ciphertext: bytes, aad: bytes) -> tuple[bytes, bool]:
        """Decrypts with the version named inside the ciphertext; returns (plaintext, used_primary)."""
        key = self.crypto_key(name, "cloudkms.cryptoKeyVersions.useToDecrypt")
        header = ciphertext[:_HEADER_BYTES]
        located = self.by_handle.get(header[1:]) if header[:1] == bytes([_FORMAT]) else None
        if located is None or located[0] != name or len(ciphertext) < _HEADER_BYTES + _NONCE_BYTES + _TAG_BYTES:
            raise _RpcError(grpc.StatusCode.INVALID_ARGUMENT, _DECRYPTION_FAILED)
        version = key.versions[located[1]]
        if version.state != "ENABLED":
            raise _RpcError(grpc.StatusCode.FAILED_PRECONDITION, _not_enabled(key, version))
        nonce = ciphertext[_HEADER_BYTES : _HEADER_BYTES + _NONCE_BYTES]
        try:
            plaintext = AESGCM(version.key).decrypt(nonce, ciphertext[_HEADER_BYTES + _NONCE_BYTES :], header + aad)
        except InvalidTag:
            raise _RpcError(grpc.StatusCode.INVALID_ARGUMENT, _DECRYPTION_FAILED) from None
        return plaintext, version.number == key.primary

    def _new_version(self, key: _CryptoKey) -> _Version:
        handle = secrets.token_bytes(_HANDLE_BYTES)
        number = max(key.versions, default=0) + 1
        version = _Version(number, handle, AESGCM.generate_key(bit_length=256), "ENABLED", _now())
        key.versions[number] = version
        self.by_handle[handle] = (key.name, number)
        return version


class KmsEmulator:
    """A running fake Cloud KMS: ``endpoint`` (host:port, plaintext gRPC) and key set-up helpers."""

    def __init__(self, server: grpc.aio.Server, port: int, store: _Store) -> None:
        self._server = server
        self._store = store
        self.port = port

    def __repr__(self) -> str:
        return f"KmsEmulator(endpoint={self.endpoint!r}, state_file={self._store.path})"

    @property
    def endpoint(self) -> str:
        """``127.0.0.1:<port>``: what ``kms_endpoint`` is set to."""
        return f"127.0.0.1:{self.port}"

    async def create_key(self, project: str, location: str, key_ring: str, key: str) -> str:
        """Creates the key ring and an ENCRYPT_DECRYPT key with one primary version, unless they exist.

        Idempotent, so a demo restarted on the same state file finds the key it made before.

        Returns:
            The cryptoKey's resource name (``kms_key_name``).
        """
        parent = f"projects/{project}/locations/{location}"
        ring_name = f"{parent}/keyRings/{key_ring}"
        if ring_name not in self._store.key_rings:
            self._store.create_key_ring(parent, key_ring)
        key_name = f"{ring_name}/cryptoKeys/{key}"
        if key_name not in self._store.crypto_keys:
            self._store.create_crypto_key(ring_name, key, skip_initial_version=False)
        return key_name

    def deny(self, key_name: str) -> None:
        """Every later call on ``key_name`` answers PERMISSION_DENIED, as for a caller without the role."""
        self._store.denied.add(key_name)

    async def stop(self) -> None:
        """Stops serving at once (in-flight calls fail UNAVAILABLE, as when Cloud KMS is unreachable)."""
        await self._server.stop(0)


@contextlib.asynccontextmanager
async def kms_emulator(state_file: Path | None = None) -> AsyncIterator[KmsEmulator]:
    """Serves a fake Cloud KMS on 127.0.0.1 (a free port) until the block ends.

    Args:
        state_file: Where keys persist (JSON, 0600; its directory is created 0700). ``None``: in memory.

    Raises:
        PermissionError: the state file is readable or writable by group or others.
    """
    store = _Store.load(state_file)
    server = grpc.aio.server()
    server.add_generic_rpc_handlers((_handler(store),))
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        yield KmsEmulator(server, port, store)
    finally:
        await server.stop(0)


# --- the RPC handlers ---------------------------------------------------------------------------


def _handler(store: _Store) -> grpc.GenericRpcHandler:
    def encrypt(request: kms_v1.EncryptRequest) -> kms_v1.EncryptResponse:
        plaintext, aad = bytes(request.plaintext), bytes(request.additional_authenticated_data)
        if not plaintext:
            raise _RpcError(grpc.StatusCode.INVALID_ARGUMENT, "The plaintext must not be empty.")
        if len(plaintext) > _MAX_PLAINTEXT_BYTES or len(aad) > _MAX_PLAINTEXT_BYTES:
            raise _RpcError(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"The plaintext and additional_authenticated_data must be at most {_MAX_PLAINTEXT_BYTES} bytes.",
            )
        _check_crc32c(plaintext, request.plaintext_crc32c, "plaintext")
        _check_crc32c(aad, request.additional_authenticated_data_crc32c, "additional_authenticated_data")
        version_name, ciphertext = store.encrypt(request.name, plaintext, aad)
        return kms_v1.EncryptResponse(
            name=version_name,
            ciphertext=ciphertext,
            ciphertext_crc32c=google_crc32c.value(ciphertext),
            verified_plaintext_crc32c=request.plaintext_crc32c is not None,
            verified_additional_authenticated_data_crc32c=request.additional_authenticated_data_crc32c is not None,
            protection_level=kms_v1.ProtectionLevel.SOFTWARE,
        )

    def decrypt(request: kms_v1.DecryptRequest) -> kms_v1.DecryptResponse:
        ciphertext, aad = bytes(request.ciphertext), bytes(request.additional_authenticated_data)
        if not ciphertext or len(ciphertext) > _MAX_CIPHERTEXT_BYTES:
            raise _RpcError(grpc.StatusCode.INVALID_ARGUMENT, "The ciphertext is empty or too long.")
        _check_crc32c(ciphertext, request.ciphertext_crc32c, "ciphertext")
        _check_crc32c(aad, request.additional_authenticated_data_crc32c, "additional_authenticated_data")
        plaintext, used_primary = store.decrypt(request.name, ciphertext, aad)
        return kms_v1.DecryptResponse(
            plaintext=plaintext,
            plaintext_crc32c=google_crc32c.value(plaintext),
            used_primary=used_primary,
            protection_level=kms_v1.ProtectionLevel.SOFTWARE,
        )

    def get_crypto_key(request: kms_v1.GetCryptoKeyRequest) -> kms_v1.CryptoKey:
        return _crypto_key_message(store.crypto_key(request.name))

    def create_key_ring(request: kms_v1.CreateKeyRingRequest) -> kms_v1.KeyRing:
        name = store.create_key_ring(request.parent, request.key_ring_id)
        return kms_v1.KeyRing(name=name, create_time=store.key_rings[name])

    def create_crypto_key(request: kms_v1.CreateCryptoKeyRequest) -> kms_v1.CryptoKey:
        purpose = request.crypto_key.purpose
        if purpose == kms_v1.CryptoKey.CryptoKeyPurpose.CRYPTO_KEY_PURPOSE_UNSPECIFIED:
            raise _RpcError(grpc.StatusCode.INVALID_ARGUMENT, "crypto_key.purpose must be specified.")
        if purpose != kms_v1.CryptoKey.CryptoKeyPurpose.ENCRYPT_DECRYPT:
            raise _RpcError(grpc.StatusCode.UNIMPLEMENTED, "This emulator only serves ENCRYPT_DECRYPT keys.")
        key = store.create_crypto_key(
            request.parent, request.crypto_key_id, skip_initial_version=request.skip_initial_version_creation
        )
        return _crypto_key_message(key)

    def create_crypto_key_version(request: kms_v1.CreateCryptoKeyVersionRequest) -> kms_v1.CryptoKeyVersion:
        key, version = store.create_version(request.parent)
        return _version_message(key, version)

    def update_primary(request: kms_v1.UpdateCryptoKeyPrimaryVersionRequest) -> kms_v1.CryptoKey:
        return _crypto_key_message(store.set_primary(request.name, request.crypto_key_version_id))

    def destroy_version(request: kms_v1.DestroyCryptoKeyVersionRequest) -> kms_v1.CryptoKeyVersion:
        key, version = store.destroy_version(request.name)
        return _version_message(key, version)

    return grpc.method_handlers_generic_handler(
        SERVICE,
        {
            "Encrypt": _unary(encrypt, kms_v1.EncryptRequest, kms_v1.EncryptResponse),
            "Decrypt": _unary(decrypt, kms_v1.DecryptRequest, kms_v1.DecryptResponse),
            "GetCryptoKey": _unary(get_crypto_key, kms_v1.GetCryptoKeyRequest, kms_v1.CryptoKey),
            "CreateKeyRing": _unary(create_key_ring, kms_v1.CreateKeyRingRequest, kms_v1.KeyRing),
            "CreateCryptoKey": _unary(create_crypto_key, kms_v1.CreateCryptoKeyRequest, kms_v1.CryptoKey),
            "CreateCryptoKeyVersion": _unary(
                create_crypto_key_version, kms_v1.CreateCryptoKeyVersionRequest, kms_v1.CryptoKeyVersion
            ),
            "UpdateCryptoKeyPrimaryVersion": _unary(
                update_primary, kms_v1.UpdateCryptoKeyPrimaryVersionRequest, kms_v1.CryptoKey
            ),
            "DestroyCryptoKeyVersion": _unary(
                destroy_version, kms_v1.DestroyCryptoKeyVersionRequest, kms_v1.CryptoKeyVersion
            ),
        },
    )


def _unary(handle: Callable[[_Request], _Response], request_type: Any, response_type: Any) -> grpc.RpcMethodHandler:
    """A unary handler (de)serialising with the proto-plus classes; ``_RpcError`` becomes its status."""

    # Handlers are synchronous code on the server's one event loop: no call can interleave with
    # another inside an operation, so the store needs no lock.
    async def call(request: _Request, context: grpc.aio.ServicerContext[Any, Any]) -> _Response:
        try:
            return handle(request)
        except _RpcError as error:
            await context.abort(error.code, error.message)
            raise  # not reached: abort raises

    return grpc.unary_unary_rpc_method_handler(
        call, request_deserializer=request_type.deserialize, response_serializer=response_type.serialize
    )


def _check_crc32c(data: bytes, given: object, field_name: str) -> None:
    # proto-plus hands an unset Int64Value wrapper over as None and a set one as an int.
    if given is not None and given != google_crc32c.value(data):
        raise _RpcError(
            grpc.StatusCode.INVALID_ARGUMENT,
            f"The checksum in field {field_name}_crc32c did not match the data in field {field_name}.",
        )


def _crypto_key_message(key: _CryptoKey) -> kms_v1.CryptoKey:
    message = kms_v1.CryptoKey(
        name=key.name,
        purpose=kms_v1.CryptoKey.CryptoKeyPurpose.ENCRYPT_DECRYPT,
        create_time=key.create_time,
        version_template=kms_v1.CryptoKeyVersionTemplate(
            protection_level=kms_v1.ProtectionLevel.SOFTWARE,
            algorithm=kms_v1.CryptoKeyVersion.CryptoKeyVersionAlgorithm.GOOGLE_SYMMETRIC_ENCRYPTION,
        ),
        destroy_scheduled_duration=_DESTROY_SCHEDULED_DURATION,
    )
    if key.primary is not None:
        message.primary = _version_message(key, key.versions[key.primary])
    return message


def _version_message(key: _CryptoKey, version: _Version) -> kms_v1.CryptoKeyVersion:
    message = kms_v1.CryptoKeyVersion(
        name=_version_name(key, version),
        state=_State.__members__[version.state],
        protection_level=kms_v1.ProtectionLevel.SOFTWARE,
        algorithm=kms_v1.CryptoKeyVersion.CryptoKeyVersionAlgorithm.GOOGLE_SYMMETRIC_ENCRYPTION,
        create_time=version.create_time,
        generate_time=version.create_time,
    )
    if version.destroy_time is not None:
        message.destroy_time = version.destroy_time  # type: ignore[assignment]  # proto-plus marshals datetimes
    return message


def _version_name(key: _CryptoKey, version: _Version) -> str:
    return f"{key.name}/cryptoKeyVersions/{version.number}"


def _not_enabled(key: _CryptoKey, version: _Version) -> str:
    return (
        f"The request cannot be fulfilled. CryptoKeyVersion {_version_name(key, version)} is not enabled,"
        f" current state is: {version.state}."
    )


def _key_document(key: _CryptoKey) -> dict[str, Any]:
    return {
        "create_time": key.create_time.isoformat(),
        "primary": key.primary,
        "versions": [
            {
                "number": version.number,
                "handle": base64.b64encode(version.handle).decode("ascii"),
                "key": base64.b64encode(version.key).decode("ascii"),
                "state": version.state,
                "create_time": version.create_time.isoformat(),
                "destroy_time": version.destroy_time.isoformat() if version.destroy_time else None,
            }
            for version in key.versions.values()
        ],
    }


def _now() -> datetime:
    return datetime.now(UTC)
