"""Claims on scratch files and directories that outlive a killed process only until the next sweep.

A claim is an exclusive ``flock`` on a lock file, held for as long as the claimed thing is in use.
The kernel drops the lock when its holder dies (even on ``kill -9``), so a lock file whose lock can
be taken belongs to nobody: whatever it guards is abandoned and a sweep may remove it. The lock is
taken BEFORE the guarded thing exists, and released only after it is gone, so a sweep can never take
something that is still being created or used.

Locks are ``flock`` locks, which belong to an open file description rather than to a process: two
threads of one process exclude each other too. They are reliable on local disks (not on NFS).
"""

from __future__ import annotations

import fcntl
import logging
import os
import secrets
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from cloudact_shared.errors import Aborted

_log = logging.getLogger(__name__)
_LOCK_SUFFIX = ".lock"
_CLAIM_ATTEMPTS = 5


class FileClaim:
    """An exclusive ``flock`` on a lock file, held by this process until released or until it dies."""

    def __init__(self, path: Path, fd: int) -> None:
        self.path = path
        self._fd = fd

    @classmethod
    def create(cls, path: Path, content: bytes = b"") -> FileClaim | None:
        """Creates ``path`` (it must not exist), locks it and writes ``content`` into it.

        Returns None when a sweep took the new file in the instant between its creation and its
        lock (the sweep then deletes it): the caller retries under a new name.
        """
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_RDWR | os.O_CLOEXEC, 0o600)
        try:
            # Blocks only while a sweep holds the lock; it releases it right after unlinking the file.
            fcntl.flock(fd, fcntl.LOCK_EX)
            if not _is_file_at(fd, path):
                os.close(fd)
                return None
            if content:
                os.write(fd, content)
            # Durable: after a crash of the machine the claim must still be found by the sweep.
            os.fsync(fd)
            _fsync_dir(path.parent)
        except BaseException:
            os.close(fd)
            raise
        return cls(path, fd)

    @classmethod
    def take_abandoned(cls, path: Path) -> FileClaim | None:
        """Locks an existing lock file nobody holds, or returns None (held, or gone meanwhile).

        Whoever gets the claim this way owns what the file guarded and must release it with
        ``remove=True`` once that is cleaned up.
        """
        try:
            fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
        except FileNotFoundError:
            return None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        except BaseException:
            os.close(fd)
            raise
        # Another sweep may have removed the file between our open and our lock.
        if not _is_file_at(fd, path):
            os.close(fd)
            return None
        return cls(path, fd)

    def release(self, *, remove: bool) -> None:
        """Drops the lock; with ``remove``, deletes the lock file first (while still holding it)."""
        try:
            if remove:
                self.path.unlink(missing_ok=True)
        finally:
            os.close(self._fd)


def _is_file_at(fd: int, path: Path) -> bool:
    """Whether ``path`` still names the file open as ``fd`` (it may have been unlinked or replaced)."""
    try:
        named = path.stat()
    except FileNotFoundError:
        return False
    held = os.fstat(fd)
    return (named.st_dev, named.st_ino) == (held.st_dev, held.st_ino)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class WorkDirs:
    """Scratch directories under one root, each claimed by the process using it.

    ``claim()`` gives a fresh directory that is removed on exit; ``sweep()`` removes the directories
    of processes that died before they could remove their own. Each directory ``NAME`` has a sibling
    lock file ``NAME.lock`` holding the claim.

    Args:
        root: the folder holding the scratch directories (created on first claim).
        legacy_age_seconds: a directory without a lock file (made by code older than this class)
            is swept once nothing in it changed for this long.
    """

    def __init__(self, root: Path, *, legacy_age_seconds: float = 60.0) -> None:
        self._root = root
        self._legacy_age = legacy_age_seconds

    @contextmanager
    def claim(self, prefix: str = "work-") -> Iterator[Path]:
        """A new empty directory ``root/{prefix}{random}``, removed with its claim on exit.

        Raises:
            ValueError: ``prefix`` is not a plain name.
            Aborted: a concurrent sweep kept taking the new claim (practically never happens).
        """
        if "/" in prefix or os.sep in prefix or prefix.startswith("."):
            raise ValueError(f"invalid work dir prefix {prefix!r}")
        self._root.mkdir(parents=True, exist_ok=True)
        path, claim = self._new_claim(prefix)
        try:
            path.mkdir()
        except BaseException:
            claim.release(remove=True)
            raise
        try:
            yield path
        finally:
            shutil.rmtree(path, ignore_errors=True)
            # A directory left half-removed has no lock file now: the sweep removes it as a legacy one.
            claim.release(remove=True)

    def _new_claim(self, prefix: str) -> tuple[Path, FileClaim]:
        for _ in range(_CLAIM_ATTEMPTS):
            path = self._root / f"{prefix}{secrets.token_hex(8)}"
            claim = FileClaim.create(_lock_path(path), f"pid {os.getpid()}\n".encode())
            if claim is not None:
                return path, claim
        raise Aborted(f"could not claim a {prefix}* work directory: concurrent sweeps took every claim")

    def sweep(self) -> int:
        """Removes every directory under the root whose claim is not held; returns how many.

        Safe at any time from any process: a held claim (a live process) is never touched, and a
        directory without a lock file is removed only once it has been idle ``legacy_age_seconds``.
        One directory that cannot be removed is logged and skipped.
        """
        if not self._root.is_dir():
            return 0
        removed = 0
        for name in self._names():
            try:
                removed += self._sweep_one(self._root / name)
            except FileNotFoundError:
                continue  # another sweep removed it first
            except OSError as exc:
                _log.warning("could not sweep work dir %s: %s", self._root / name, exc)
        return removed

    def _names(self) -> set[str]:
        names = set()
        with os.scandir(self._root) as entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    names.add(entry.name)
                elif entry.name.endswith(_LOCK_SUFFIX) and entry.is_file(follow_symlinks=False):
                    names.add(entry.name.removesuffix(_LOCK_SUFFIX))
        return names

    def _sweep_one(self, path: Path) -> int:
        lock = _lock_path(path)
        if lock.exists():
            claim = FileClaim.take_abandoned(lock)
            if claim is None:
                return 0  # held: its process is alive
            try:
                existed = path.is_dir()
                if existed:
                    shutil.rmtree(path)
            finally:
                claim.release(remove=True)
            return int(existed)
        # A claim creates its lock file before its directory, so a lock-less directory is a legacy
        # one; the lock is checked again right before removing, and the idle time covers the rest.
        if path.is_dir() and _idle_seconds(path) >= self._legacy_age and not lock.exists():
            shutil.rmtree(path)
            return 1
        return 0


def _lock_path(path: Path) -> Path:
    return path.with_name(path.name + _LOCK_SUFFIX)


def _idle_seconds(path: Path) -> float:
    """Seconds since anything in the tree under ``path`` last changed (symlinks not followed)."""
    newest = path.lstat().st_mtime
    for folder, dirs, files in os.walk(path):
        for name in (*dirs, *files):
            with suppress(FileNotFoundError):
                newest = max(newest, os.lstat(os.path.join(folder, name)).st_mtime)
    return time.time() - newest
