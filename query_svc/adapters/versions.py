"""The FOCUS table's current version, checked without reading the Delta log when nothing changed.

``TableStore.version`` opens the table and replays its log (~2 ms, growing with the log), which
was most of a cache hit's time. A Delta table at version V has ``_delta_log/{V}.json``, and a
writer commits V+1 by creating ``{V+1}.json`` (put-if-absent): while that file is absent and
``{V}.json`` is the file we saw (same inode and mtime, so no deleted-and-recreated table), the
table is still at V. That is two ``stat`` calls, exact (a commit is visible to the very next
check, unlike a file watcher's notification), and the slow path runs only after a change.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from cloudact_shared.storage import TableStore
from query_svc.adapters.location import local_table_dir


class VersionProbe(Protocol):
    """Tells the current version of a table (None when it does not exist); blocking."""

    def known_version(self, dataset: str, table: str) -> int | None:
        """The version last seen, when a check cheap enough for the event loop shows it is still
        current; None means "ask ``version``"."""
        ...

    def version(self, dataset: str, table: str) -> int | None:
        """The table's current version, exact at the time of the call (may read the log)."""
        ...


@dataclass(frozen=True)
class _Seen:
    version: int
    commit_file: tuple[int, int]
    """(inode, mtime_ns) of the version's commit file."""


class DeltaLogProbe:
    """Asks the store only when the table's Delta log shows a change since the last answer."""

    def __init__(self, store: TableStore, log_dir: Callable[[str, str], Path]) -> None:
        """Creates the probe.

        Args:
            store: Answers the slow path (first call, after a commit, after a log clean-up).
            log_dir: The ``_delta_log`` folder of a (dataset, table).
        """
        self._store = store
        self._log_dir = log_dir
        self._seen: dict[tuple[str, str], _Seen] = {}
        self._lock = threading.Lock()

    def known_version(self, dataset: str, table: str) -> int | None:
        seen = self._seen.get((dataset, table))
        if seen is not None and _unchanged(self._log_dir(dataset, table), seen):
            return seen.version
        return None

    def version(self, dataset: str, table: str) -> int | None:
        known = self.known_version(dataset, table)
        if known is not None:
            return known
        key = (dataset, table)
        log = self._log_dir(dataset, table)
        version = self._store.version(dataset, table)
        identity = _identity(log / _commit_name(version)) if version is not None else None
        with self._lock:
            if version is None or identity is None:
                self._seen.pop(key, None)
            elif (previous := self._seen.get(key)) is None or previous.version <= version:
                self._seen[key] = _Seen(version, identity)
        return version


class StoreProbe:
    """Asks the store every time (a backend without a local log)."""

    def __init__(self, store: TableStore) -> None:
        self._store = store

    def known_version(self, dataset: str, table: str) -> int | None:
        return None

    def version(self, dataset: str, table: str) -> int | None:
        return self._store.version(dataset, table)


def probe_for(store: TableStore) -> VersionProbe:
    """The cheapest exact probe for ``store``: its Delta log when it keeps tables on local disk."""

    def log_dir(dataset: str, table: str) -> Path:
        folder = local_table_dir(store, dataset, table)
        assert folder is not None  # checked below for this store
        return folder / "_delta_log"

    if local_table_dir(store, "probe_prod", "probe") is not None:
        return DeltaLogProbe(store, log_dir)
    return StoreProbe(store)


def _unchanged(log: Path, seen: _Seen) -> bool:
    if os.path.exists(log / _commit_name(seen.version + 1)):
        return False
    return _identity(log / _commit_name(seen.version)) == seen.commit_file


def _identity(path: Path) -> tuple[int, int] | None:
    try:
        stat = os.stat(path)
    except FileNotFoundError:
        return None  # a log clean-up (after a checkpoint) removed it: the slow path decides
    return stat.st_ino, stat.st_mtime_ns


def _commit_name(version: int) -> str:
    return f"{version:020d}.json"
