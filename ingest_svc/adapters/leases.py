"""Which ingest_svc processes are alive: each holds an ``flock`` on its own lease file while it runs.

The run log records which process (``owner``) runs each run. A RUNNING run whose owner holds no
lease any more was orphaned by a process that died (``kill -9`` included: the kernel drops the lock
with the process), so the reconciler may resolve it; a run of a live owner, even another process
sharing the data directory, is left alone. Locks are reliable on local disks, not on NFS.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import uuid
from pathlib import Path

_OWNER = re.compile(r"^[0-9a-f]{32}$")


def leases_dir(data_dir: Path) -> Path:
    """Where the ingest_svc processes serving ``data_dir`` keep their lease files."""
    return data_dir / "runs" / "owners"


class ProcessLease:
    """This process's lease: a fresh owner id and the lock on ``{directory}/{owner}.lock``."""

    def __init__(self, directory: Path, owner: str, fd: int) -> None:
        self.directory = directory
        self.owner = owner
        self._fd: int | None = fd

    @classmethod
    def acquire(cls, directory: Path) -> ProcessLease:
        """Creates and locks a lease file under a new owner id (blocking I/O: call it in a thread)."""
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        owner = uuid.uuid4().hex
        # A new, unique name: no other process can hold it, and no reconciler looks it up before
        # this process records a run under it.
        fd = os.open(_lease_path(directory, owner), os.O_CREAT | os.O_EXCL | os.O_RDWR | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BaseException:
            os.close(fd)
            raise
        return cls(directory, owner, fd)

    def release(self) -> None:
        """Removes the lease file and drops the lock (on a clean stop; a crash drops the lock alone)."""
        if self._fd is None:
            return
        try:
            _lease_path(self.directory, self.owner).unlink(missing_ok=True)
        finally:
            os.close(self._fd)
            self._fd = None


def owner_alive(directory: Path, owner: str) -> bool:
    """Whether the process that recorded runs as ``owner`` still holds its lease (blocking I/O).

    A lease file nobody holds is left over from a dead process and is removed.
    """
    if not _OWNER.fullmatch(owner):
        return False
    path = _lease_path(directory, owner)
    try:
        fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return True
    try:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
    finally:
        os.close(fd)
    return False


def _lease_path(directory: Path, owner: str) -> Path:
    return directory / f"{owner}.lock"
