"""LocalKeyRing: the embedded deployment's key-encryption keys, in a versioned key ring file.

The file (``{data_dir}-keys/keyring.json`` by default, mode 0600 in a 0700 directory) holds every
KEK version as 32 random bytes, base64-encoded; the newest wraps new data keys and the older ones
stay for unwrapping until every credential has been rotated onto the newest. Another process (an
ops CLI) may rotate the same file: writes are atomic (temp file + rename, under ``flock``) and a
running server picks a new version up on its next call.

The key ring lives outside the data directory, so a copy of the data and the credential records
(a backup, a support bundle) never carries the key that opens them. Installations from before kept it
at ``{data_dir}/secrets/keyring.json``; ``open(path, legacy_path=...)`` moves it from there once.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import fcntl
import json
import logging
import os
import secrets
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from credential_svc.adapters.kms import WrappedKey, undecryptable

_log = logging.getLogger(__name__)

_FORMAT = 1
_VERSION_PREFIX = "local-v"
_KEK_BYTES = 32
_NONCE_BYTES = 12
_TAG_BYTES = 16


class KeyRingLocationError(RuntimeError):
    """The key ring exists both at its old place and at its new one; which is right is not guessed."""


@dataclass(frozen=True)
class _Ring:
    """One parsed state of the key ring file. Key bytes never appear in a repr."""

    keys: dict[str, bytes] = field(repr=False)
    current: str
    fingerprint: tuple[int, int, int]


class LocalKeyRing:
    """``KeyEncryptionService`` backed by a local, versioned key ring file (AES-256-GCM KEKs).

    Build it with ``await LocalKeyRing.open(path)``, which creates the file on first start.
    """

    def __init__(self, path: Path, ring: _Ring) -> None:
        self._path = path
        self._ring = ring
        self._rotate_lock = asyncio.Lock()

    def __repr__(self) -> str:
        return f"LocalKeyRing(path={str(self._path)!r}, current={self._ring.current!r})"

    @classmethod
    async def open(cls, path: Path, *, legacy_path: Path | None = None) -> LocalKeyRing:
        """Opens the key ring at ``path``, creating it (0600, directory 0700) with one version if absent.

        Args:
            path: Where the key ring lives.
            legacy_path: Where an older installation kept it. If only that file exists, it is moved
                to ``path`` first (atomically, keeping its 0600 mode), so its credentials still decrypt.

        Raises:
            PermissionError: if the file is readable or writable by group or others.
            KeyRingLocationError: both ``legacy_path`` and ``path`` hold a key ring (different ones).
        """
        if legacy_path is not None and await asyncio.to_thread(_move_legacy, legacy_path, path):
            _log.warning(
                "moved the key ring from %s to %s, outside the data directory; back it up from its new place",
                legacy_path,
                path,
            )
        ring = await asyncio.to_thread(_open_or_create, path)
        return cls(path, ring)

    @property
    def path(self) -> Path:
        """Where the key ring file lives."""
        return self._path

    async def current_version(self, *, timeout: float | None = None) -> str:
        """The newest KEK version (re-reads the file if another process rotated it)."""
        return (await self._fresh()).current

    async def wrap(self, plaintext_key: bytes, aad: bytes, *, timeout: float | None = None) -> WrappedKey:
        """Encrypts ``plaintext_key`` with the newest KEK: ``nonce(12) || AES-256-GCM(key, aad)``."""
        ring = await self._fresh()
        nonce = os.urandom(_NONCE_BYTES)
        sealed = AESGCM(ring.keys[ring.current]).encrypt(nonce, plaintext_key, aad)
        return WrappedKey(key_version=ring.current, ciphertext=nonce + sealed)

    async def unwrap(self, wrapped: WrappedKey, aad: bytes, *, timeout: float | None = None) -> bytes:
        """Decrypts a wrapped key with the KEK version it names; ``undecryptable()`` on any failure."""
        kek = self._ring.keys.get(wrapped.key_version)
        if kek is None:
            kek = (await self._fresh()).keys.get(wrapped.key_version)
        if kek is None or len(wrapped.ciphertext) < _NONCE_BYTES + _TAG_BYTES:
            raise undecryptable()
        plaintext = _open_sealed(kek, wrapped.ciphertext, aad)
        if plaintext is None:
            raise undecryptable()
        return plaintext

    async def close(self) -> None:
        """Nothing to release (the ring is a file read on demand); the same call as Cloud KMS's."""

    async def rotate(self) -> str:
        """Adds a new KEK version, makes it the one new wraps use, and returns its name.

        Old versions are kept, so every existing credential still decrypts.
        """
        async with self._rotate_lock:
            self._ring = await asyncio.to_thread(_rotate, self._path)
            return self._ring.current

    async def _fresh(self) -> _Ring:
        # One stat() per call: cheap, and it lets a rotation done by another process take effect
        # without a restart. Reading the file only happens when it actually changed.
        fingerprint = await asyncio.to_thread(_fingerprint, self._path)
        if fingerprint != self._ring.fingerprint:
            self._ring = await asyncio.to_thread(_read, self._path)
        return self._ring


def _open_sealed(kek: bytes, blob: bytes, aad: bytes) -> bytes | None:
    try:
        return AESGCM(kek).decrypt(blob[:_NONCE_BYTES], blob[_NONCE_BYTES:], aad)
    except InvalidTag:
        return None


# --- file handling (blocking; always called through asyncio.to_thread) -------------------------


def _open_or_create(path: Path) -> _Ring:
    _ensure_private_dir(path.parent)
    with _locked(path):
        if not path.exists():
            _write_atomic(path, {"format": _FORMAT, "keys": [_new_entry(1)]})
    return _read(path)


def _move_legacy(legacy: Path, path: Path) -> bool:
    """Moves the key ring from ``legacy`` to ``path`` if only ``legacy`` exists; True if it moved."""
    if legacy.resolve() == path.resolve() or not legacy.exists():
        return False
    _ensure_private_dir(path.parent)
    # Both locks, always in this order: no rotation (at either place) or second server interleaves.
    with _locked(legacy), _locked(path):
        if not legacy.exists():
            return False  # another process moved it while we waited for the lock
        if path.exists():
            if not _same_key_ring(legacy, path):
                raise KeyRingLocationError(_conflict_message(legacy, path))
            # An earlier move stopped after creating the new file: finish it.
        else:
            _load_document(legacy)  # a world-readable or broken ring is refused, not moved
            _link_or_copy(legacy, path)
        legacy.unlink()
    _fsync_dir(path.parent)
    _fsync_dir(legacy.parent)
    return True


def _link_or_copy(source: Path, target: Path) -> None:
    """Creates ``target`` with ``source``'s content in one step (a reader sees all of it or nothing)."""
    try:
        os.link(source, target)  # same inode: same bytes and the same 0600 mode
        return
    except FileExistsError:
        raise
    except OSError:
        pass  # another file system (EXDEV) or no hard links: copy instead
    temp = target.with_name(f".{target.name}.{secrets.token_hex(8)}.tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(handle.fileno(), 0o600)
            handle.write(source.read_bytes())
            handle.flush()
            os.fsync(handle.fileno())
        # Safe to rename over: the caller checked that target is absent under target's lock, which
        # every process that creates a key ring holds while doing so.
        os.replace(temp, target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            temp.unlink()


def _same_key_ring(first: Path, second: Path) -> bool:
    return first.samefile(second) or first.read_bytes() == second.read_bytes()


def _conflict_message(legacy: Path, path: Path) -> str:
    return (
        f"two different key rings: {path} (where the key ring lives now) and {legacy} (where older"
        " versions kept it, inside the data directory). Refusing to start rather than guess which one"
        " encrypts the stored credentials: keep that one at the new place, move the other out of both"
        " places, and start again."
    )


def _fsync_dir(directory: Path) -> None:
    dir_fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def _rotate(path: Path) -> _Ring:
    with _locked(path):
        document = _load_document(path)
        numbers = [_version_number(entry["version"]) for entry in document["keys"]]
        document["keys"].append(_new_entry(max(numbers) + 1))
        _write_atomic(path, document)
    return _read(path)


def _read(path: Path) -> _Ring:
    document = _load_document(path)
    keys: dict[str, bytes] = {}
    for entry in document["keys"]:
        key = base64.b64decode(entry["key"], validate=True)
        if len(key) != _KEK_BYTES:
            raise ValueError(f"key ring {path}: version {entry['version']} is not a 256-bit key")
        keys[entry["version"]] = key
    current = max(keys, key=_version_number)
    return _Ring(keys=keys, current=current, fingerprint=_fingerprint(path))


def _load_document(path: Path) -> dict[str, list[dict[str, str]]]:
    mode = path.stat().st_mode
    if mode & 0o077:
        raise PermissionError(f"key ring {path} has mode {oct(mode & 0o777)}; it must be 0600 (chmod 600)")
    document = json.loads(path.read_text(encoding="utf-8"))
    if document.get("format") != _FORMAT or not document.get("keys"):
        raise ValueError(f"key ring {path}: unsupported format or no keys")
    return {"keys": list(document["keys"])}


def _new_entry(number: int) -> dict[str, str]:
    return {
        "version": f"{_VERSION_PREFIX}{number}",
        "key": base64.b64encode(secrets.token_bytes(_KEK_BYTES)).decode("ascii"),
        "created_at": datetime.now(UTC).isoformat(),
    }


def _version_number(version: str) -> int:
    if not version.startswith(_VERSION_PREFIX) or not version[len(_VERSION_PREFIX) :].isdigit():
        raise ValueError(f"bad key ring version name {version!r}")
    return int(version[len(_VERSION_PREFIX) :])


def _fingerprint(path: Path) -> tuple[int, int, int]:
    st = path.stat()
    return (st.st_ino, st.st_mtime_ns, st.st_size)


def _ensure_private_dir(directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    if directory.stat().st_mode & 0o777 != 0o700:
        directory.chmod(0o700)


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An exclusive flock on a sidecar file, so two processes never create or rotate at once."""
    fd = os.open(path.with_name(path.name + ".lock"), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _write_atomic(path: Path, document: Mapping[str, object]) -> None:
    """Writes a 0600 temp file, fsyncs it and renames it over ``path`` (readers never see half a file)."""
    temp = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            os.fchmod(handle.fileno(), 0o600)  # umask can only narrow O_CREAT's mode; be explicit
            json.dump({"format": _FORMAT, **document}, handle, indent=2)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            temp.unlink()
        raise
    _fsync_dir(path.parent)
