"""One private SQLite database used from worker threads, one operation at a time.

Why stdlib ``sqlite3`` behind ``asyncio.to_thread`` rather than an async driver: each statement is a
local, indexed, sub-millisecond operation on a small table, so a worker thread keeps the event loop
free without adding a dependency (aiosqlite does the same thing internally). The connection is
shared and serialised with a lock (SQLite serialises writers anyway), and closed under that same
lock: a stopping server cancels its RPCs, but their worker threads run on, and closing the
connection under one of them crashes the process.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from cloudact_shared.errors import Unavailable

_T = TypeVar("_T")


class LockedSqlite:
    """A database file (0600) opened with its schema; ``run`` one operation at a time, ``close`` on stop.

    Args:
        connection: An open connection (``check_same_thread=False``).
        what: What the database holds, for the error once it is closed ("the run log").
    """

    def __init__(self, connection: sqlite3.Connection, what: str) -> None:
        self._connection: sqlite3.Connection | None = connection
        self._lock = threading.Lock()
        self._what = what

    @classmethod
    async def open(
        cls, path: Path, schema: str, *, what: str, prepare: Callable[[sqlite3.Connection], None] | None = None
    ) -> LockedSqlite:
        """Opens (creating if needed, 0600) the database at ``path``; ``prepare`` runs before ``schema``."""
        return cls(await asyncio.to_thread(_connect, path, schema, prepare), what)

    async def run(self, operation: Callable[[sqlite3.Connection], _T]) -> _T:
        """Runs ``operation`` on the connection in a worker thread, under the lock.

        Raises:
            Unavailable: the database was closed (the service is stopping).
        """

        def locked() -> _T:
            with self._lock:
                if self._connection is None:
                    raise Unavailable(f"{self._what} is shutting down", reason="STORE_CLOSED")
                return operation(self._connection)

        return await asyncio.to_thread(locked)

    async def close(self) -> None:
        """Closes the connection once the operation in flight (if any) has finished."""

        def locked() -> None:
            with self._lock:
                if self._connection is not None:
                    self._connection.close()
                    self._connection = None

        await asyncio.to_thread(locked)


def _connect(path: Path, schema: str, prepare: Callable[[sqlite3.Connection], None] | None) -> sqlite3.Connection:
    path.parent.mkdir(parents=True, exist_ok=True)
    # Nobody else's business whatever it holds: 0600 (SQLite gives its journal the file's permissions).
    os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
    path.chmod(0o600)
    connection = sqlite3.connect(path, check_same_thread=False, timeout=10.0)
    if prepare is not None:
        prepare(connection)
    connection.executescript(schema)
    return connection
