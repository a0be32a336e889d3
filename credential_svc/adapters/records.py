"""Credential records in SQLite (``{data_dir}/credentials.sqlite``): metadata plus the envelope.

Every query takes ``org_slug`` and filters by it, so one organisation can never read, rotate or
delete another's row, even with a valid credential id.

Why stdlib ``sqlite3`` behind ``asyncio.to_thread`` rather than an async driver: each statement is a
local, indexed, sub-millisecond operation on a small table, so a worker thread keeps the event loop
free without adding a dependency (aiosqlite does the same thing internally). One connection is
shared and serialised with a lock; SQLite serialises writers anyway.
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol, TypeVar

from cloudact_shared.errors import Unavailable

_T = TypeVar("_T")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS credentials (
    credential_id      TEXT PRIMARY KEY,
    org_slug           TEXT NOT NULL,
    provider           TEXT NOT NULL,
    display_name       TEXT NOT NULL,
    secret_field_names TEXT NOT NULL,  -- JSON array of names, never values
    config             TEXT NOT NULL,  -- JSON object, non-secret settings
    key_version        TEXT NOT NULL,
    wrapped_data_key   BLOB NOT NULL,
    nonce              BLOB NOT NULL,
    ciphertext         BLOB NOT NULL,
    created_at         TEXT NOT NULL,  -- ISO 8601, UTC
    rotated_at         TEXT,
    UNIQUE (org_slug, provider, display_name)
);
CREATE INDEX IF NOT EXISTS credentials_by_org ON credentials (org_slug, provider, created_at);
"""

_COLUMNS = (
    "credential_id, org_slug, provider, display_name, secret_field_names, config, key_version, "
    "wrapped_data_key, nonce, ciphertext, created_at, rotated_at"
)


@dataclass(frozen=True)
class Envelope:
    """The encrypted part of a record: the wrapped data key and the AES-GCM output."""

    key_version: str
    wrapped_data_key: bytes = field(repr=False)
    nonce: bytes = field(repr=False)
    ciphertext: bytes = field(repr=False)


@dataclass(frozen=True)
class CredentialRecord:
    """One stored row."""

    credential_id: str
    org_slug: str
    provider: str
    display_name: str
    secret_field_names: tuple[str, ...]
    config: dict[str, str]
    envelope: Envelope
    created_at: datetime
    rotated_at: datetime | None


class CredentialRecords(Protocol):
    """Where credential records live. Every call is scoped to one org; a miss is None / False."""

    async def insert(self, record: CredentialRecord) -> bool:
        """Stores a new record; False when (org, provider, display_name) is taken already."""
        ...

    async def get(self, org_slug: str, credential_id: str) -> CredentialRecord | None:
        """The record, or None when it does not exist in this org."""
        ...

    async def list_org(self, org_slug: str, provider: str | None = None) -> list[CredentialRecord]:
        """The org's records, oldest first, optionally only one provider's."""
        ...

    async def replace_envelope(
        self,
        org_slug: str,
        credential_id: str,
        envelope: Envelope,
        secret_field_names: Sequence[str],
        rotated_at: datetime,
        *,
        expected_nonce: bytes,
    ) -> bool:
        """Overwrites a record's envelope atomically if its nonce is still ``expected_nonce``.

        Returns False when the record does not exist in this org or was re-encrypted meanwhile.
        """
        ...

    async def delete(self, org_slug: str, credential_id: str) -> bool:
        """Deletes a record; False when it does not exist in this org."""
        ...


class SqliteCredentialRecords:
    """The credential table. Build with ``await SqliteCredentialRecords.open(path)``; ``close()`` on stop."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        self._connection: sqlite3.Connection | None = connection
        self._lock = threading.Lock()

    @classmethod
    async def open(cls, path: Path) -> SqliteCredentialRecords:
        """Opens (creating if needed) the database at ``path`` and its schema."""
        return cls(await asyncio.to_thread(_connect, path))

    async def close(self) -> None:
        """Closes the connection once the operation in flight (if any) has finished.

        Under the same lock as every operation: a stopping server cancels its RPCs, but their worker
        threads run on, and closing the connection under one of them crashes the process.
        """

        def locked() -> None:
            with self._lock:
                if self._connection is not None:
                    self._connection.close()
                    self._connection = None

        await asyncio.to_thread(locked)

    async def insert(self, record: CredentialRecord) -> bool:
        """Stores a new record; False when (org, provider, display_name) is taken already."""

        def run(db: sqlite3.Connection) -> bool:
            try:
                with db:
                    db.execute(
                        f"INSERT INTO credentials ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        _to_row(record),
                    )
            except sqlite3.IntegrityError:
                return False
            return True

        return await self._run(run)

    async def get(self, org_slug: str, credential_id: str) -> CredentialRecord | None:
        """The record, or None when it does not exist in this org."""

        def run(db: sqlite3.Connection) -> CredentialRecord | None:
            row = db.execute(
                f"SELECT {_COLUMNS} FROM credentials WHERE org_slug = ? AND credential_id = ?",
                (org_slug, credential_id),
            ).fetchone()
            return None if row is None else _from_row(row)

        return await self._run(run)

    async def list_org(self, org_slug: str, provider: str | None = None) -> list[CredentialRecord]:
        """The org's records, oldest first, optionally only one provider's."""

        def run(db: sqlite3.Connection) -> list[CredentialRecord]:
            query = f"SELECT {_COLUMNS} FROM credentials WHERE org_slug = ?"
            params: list[str] = [org_slug]
            if provider:
                query += " AND provider = ?"
                params.append(provider)
            rows = db.execute(query + " ORDER BY created_at, credential_id", params).fetchall()
            return [_from_row(row) for row in rows]

        return await self._run(run)

    async def replace_envelope(
        self,
        org_slug: str,
        credential_id: str,
        envelope: Envelope,
        secret_field_names: Sequence[str],
        rotated_at: datetime,
        *,
        expected_nonce: bytes,
    ) -> bool:
        """Overwrites a record's envelope in one statement, if its nonce is still ``expected_nonce``."""

        def run(db: sqlite3.Connection) -> bool:
            with db:
                cursor = db.execute(
                    "UPDATE credentials SET key_version = ?, wrapped_data_key = ?, nonce = ?, ciphertext = ?,"
                    " secret_field_names = ?, rotated_at = ? WHERE org_slug = ? AND credential_id = ? AND nonce = ?",
                    (
                        envelope.key_version,
                        envelope.wrapped_data_key,
                        envelope.nonce,
                        envelope.ciphertext,
                        json.dumps(list(secret_field_names)),
                        rotated_at.isoformat(timespec="microseconds"),
                        org_slug,
                        credential_id,
                        expected_nonce,
                    ),
                )
            return cursor.rowcount == 1

        return await self._run(run)

    async def delete(self, org_slug: str, credential_id: str) -> bool:
        """Deletes a record; False when it does not exist in this org."""

        def run(db: sqlite3.Connection) -> bool:
            with db:
                cursor = db.execute(
                    "DELETE FROM credentials WHERE org_slug = ? AND credential_id = ?",
                    (org_slug, credential_id),
                )
            return cursor.rowcount == 1

        return await self._run(run)

    async def _run(self, operation: Callable[[sqlite3.Connection], _T]) -> _T:
        def locked() -> _T:
            with self._lock:
                if self._connection is None:
                    raise Unavailable("the credential store is shutting down", reason="STORE_CLOSED")
                return operation(self._connection)

        return await asyncio.to_thread(locked)


def _connect(path: Path) -> sqlite3.Connection:
    path.parent.mkdir(parents=True, exist_ok=True)
    # Ciphertexts and wrapped keys only, but still nobody else's business: 0600 (SQLite gives its
    # journal file the database file's permissions).
    os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
    path.chmod(0o600)
    connection = sqlite3.connect(path, check_same_thread=False, timeout=10.0)
    # secure_delete: freed pages (an old ciphertext after rotate, a deleted row) are zeroed, not left
    # readable in the file. The default rollback journal (not WAL) keeps no old page copies around.
    connection.execute("PRAGMA secure_delete = ON")
    connection.execute("PRAGMA foreign_keys = ON")
    connection.executescript(_SCHEMA)
    return connection


def _to_row(record: CredentialRecord) -> tuple[object, ...]:
    return (
        record.credential_id,
        record.org_slug,
        record.provider,
        record.display_name,
        json.dumps(list(record.secret_field_names)),
        json.dumps(record.config, sort_keys=True),
        record.envelope.key_version,
        record.envelope.wrapped_data_key,
        record.envelope.nonce,
        record.envelope.ciphertext,
        record.created_at.isoformat(timespec="microseconds"),
        None if record.rotated_at is None else record.rotated_at.isoformat(timespec="microseconds"),
    )


def _from_row(row: tuple[Any, ...]) -> CredentialRecord:
    (cid, org, provider, name, fields, config, version, wrapped, nonce, ciphertext, created, rotated) = row
    return CredentialRecord(
        credential_id=str(cid),
        org_slug=str(org),
        provider=str(provider),
        display_name=str(name),
        secret_field_names=tuple(json.loads(str(fields))),
        config=dict(json.loads(str(config))),
        envelope=Envelope(str(version), bytes(wrapped), bytes(nonce), bytes(ciphertext)),
        created_at=datetime.fromisoformat(str(created)),
        rotated_at=None if rotated is None else datetime.fromisoformat(str(rotated)),
    )
