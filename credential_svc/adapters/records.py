"""Credential records in SQLite (``{data_dir}/credentials.sqlite``): metadata plus the envelope.

Every query takes ``org_slug`` and filters by it, so one organisation can never read, rotate or
delete another's row, even with a valid credential id. Listing is by keyset pages in one stable order
(created_at, credential_id), so no response grows with the size of an organisation.

The database is a ``cloudact_shared.sqlite.LockedSqlite`` (why SQLite in a worker thread: there).
"""

from __future__ import annotations

import enum
import json
import os
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol, TypeVar

from cloudact_shared.sqlite import LockedSqlite

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
    schedule           TEXT,  -- schedule spec; NULL: the default derived from the id
    UNIQUE (org_slug, provider, display_name)
);
CREATE INDEX IF NOT EXISTS credentials_by_org ON credentials (org_slug, provider, created_at);
CREATE TABLE IF NOT EXISTS vault_keys (
    name TEXT PRIMARY KEY,
    key  BLOB NOT NULL  -- random bytes, created once, shared by every replica using this database
);
"""
_PAGE_TOKEN_KEY = "page_token"
_PAGE_TOKEN_KEY_BYTES = 32

_COLUMNS = (
    "credential_id, org_slug, provider, display_name, secret_field_names, config, key_version, "
    "wrapped_data_key, nonce, ciphertext, created_at, rotated_at, schedule"
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
    schedule: str | None = None
    """The schedule spec set for it (``cloudact_shared.schedule``); None means the default."""


@dataclass(frozen=True)
class ListPosition:
    """A place in an organisation's listing order: the last record a page ended with."""

    created_at: datetime
    credential_id: str


class InsertOutcome(enum.Enum):
    """What ``CredentialRecords.insert`` did."""

    INSERTED = "inserted"
    DUPLICATE = "duplicate"
    """The org already has a record with this provider and display name."""
    ORG_FULL = "org_full"
    """The org already holds ``max_per_org`` records."""


class CredentialRecords(Protocol):
    """Where credential records live. Every call is scoped to one org; a miss is None / False."""

    async def insert(self, record: CredentialRecord, *, max_per_org: int) -> InsertOutcome:
        """Stores a new record unless its name is taken or its org holds ``max_per_org`` records.

        The count and the insert are one transaction, so concurrent creates never overshoot the limit.
        """
        ...

    async def get(self, org_slug: str, credential_id: str) -> CredentialRecord | None:
        """The record, or None when it does not exist in this org."""
        ...

    async def list_org(
        self,
        org_slug: str,
        provider: str | None = None,
        *,
        after: ListPosition | None = None,
        limit: int | None = None,
    ) -> list[CredentialRecord]:
        """The org's records ordered by (created_at, credential_id), optionally one provider's.

        Args:
            after: Only records strictly after this position (the last one of the previous page).
            limit: At most this many records (None: all).
        """
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

    async def list_not_wrapped_by(self, key_version: str, *, after: str = "", limit: int) -> list[CredentialRecord]:
        """Records of every org whose data key another KEK version wrapped, by credential id.

        Only for re-wrapping after a key rotation (``CredentialVault.rewrap_all``), never for a caller.

        Args:
            after: Only records whose credential id sorts after this one (the last of the previous batch).
        """
        ...

    async def replace_wrapped_key(
        self, org_slug: str, credential_id: str, key_version: str, wrapped_data_key: bytes, *, expected_nonce: bytes
    ) -> bool:
        """Swaps a record's wrapped data key and KEK version if its nonce is still ``expected_nonce``.

        The ciphertext, the secret's fields and ``rotated_at`` stay: the data key itself is unchanged.
        Returns False when the record is gone or was re-encrypted meanwhile.
        """
        ...

    async def set_schedule(self, org_slug: str, credential_id: str, schedule: str | None) -> bool:
        """Sets a record's schedule spec (None: back to the default); False when it does not exist in this org."""
        ...

    async def delete(self, org_slug: str, credential_id: str) -> bool:
        """Deletes a record; False when it does not exist in this org."""
        ...

    async def page_token_key(self) -> bytes:
        """A random key for signing page tokens, the same for every replica sharing these records."""
        ...


class SqliteCredentialRecords:
    """The credential table. Build with ``await SqliteCredentialRecords.open(path)``; ``close()`` on stop."""

    def __init__(self, db: LockedSqlite) -> None:
        self._db = db

    @classmethod
    async def open(cls, path: Path) -> SqliteCredentialRecords:
        """Opens (creating if needed) the database at ``path`` and its schema."""
        db = await LockedSqlite.open(path, _SCHEMA, what="the credential store", prepare=_secure_pragmas)
        await db.run(_add_schedule_column)
        await db.run(_seed_page_token_key)
        return cls(db)

    async def close(self) -> None:
        """Closes the database once the operation in flight (if any) has finished."""
        await self._db.close()

    async def insert(self, record: CredentialRecord, *, max_per_org: int) -> InsertOutcome:
        """Stores a new record unless its name is taken or its org holds ``max_per_org`` records."""

        def run(db: sqlite3.Connection) -> InsertOutcome:
            try:
                with db:
                    # IMMEDIATE takes the write lock before counting: another process sharing the file
                    # cannot insert between our count and our insert.
                    db.execute("BEGIN IMMEDIATE")
                    (count,) = db.execute(
                        "SELECT COUNT(*) FROM credentials WHERE org_slug = ?", (record.org_slug,)
                    ).fetchone()
                    if count >= max_per_org:
                        return InsertOutcome.ORG_FULL
                    db.execute(
                        f"INSERT INTO credentials ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        _to_row(record),
                    )
            except sqlite3.IntegrityError:
                return InsertOutcome.DUPLICATE
            return InsertOutcome.INSERTED

        return await self._db.run(run)

    async def get(self, org_slug: str, credential_id: str) -> CredentialRecord | None:
        """The record, or None when it does not exist in this org."""

        def run(db: sqlite3.Connection) -> CredentialRecord | None:
            row = db.execute(
                f"SELECT {_COLUMNS} FROM credentials WHERE org_slug = ? AND credential_id = ?",
                (org_slug, credential_id),
            ).fetchone()
            return None if row is None else _from_row(row)

        return await self._db.run(run)

    async def list_org(
        self,
        org_slug: str,
        provider: str | None = None,
        *,
        after: ListPosition | None = None,
        limit: int | None = None,
    ) -> list[CredentialRecord]:
        """The org's records ordered by (created_at, credential_id), optionally one provider's.

        Args:
            after: Only records strictly after this position (the last one of the previous page).
            limit: At most this many records (None: all).
        """

        def run(db: sqlite3.Connection) -> list[CredentialRecord]:
            query = f"SELECT {_COLUMNS} FROM credentials WHERE org_slug = ?"
            params: list[object] = [org_slug]
            if provider:
                query += " AND provider = ?"
                params.append(provider)
            if after is not None:
                # Keyset paging: rows created or deleted meanwhile never shift a later page.
                created = _timestamp(after.created_at)
                query += " AND (created_at > ? OR (created_at = ? AND credential_id > ?))"
                params += [created, created, after.credential_id]
            query += " ORDER BY created_at, credential_id"
            if limit is not None:
                query += " LIMIT ?"
                params.append(limit)
            return [_from_row(row) for row in db.execute(query, params).fetchall()]

        return await self._db.run(run)

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
                        _timestamp(rotated_at),
                        org_slug,
                        credential_id,
                        expected_nonce,
                    ),
                )
            return cursor.rowcount == 1

        return await self._db.run(run)

    async def set_schedule(self, org_slug: str, credential_id: str, schedule: str | None) -> bool:
        """Sets a record's schedule spec in one statement; False when it does not exist in this org."""

        def run(db: sqlite3.Connection) -> bool:
            with db:
                cursor = db.execute(
                    "UPDATE credentials SET schedule = ? WHERE org_slug = ? AND credential_id = ?",
                    (schedule, org_slug, credential_id),
                )
            return cursor.rowcount == 1

        return await self._db.run(run)

    async def delete(self, org_slug: str, credential_id: str) -> bool:
        """Deletes a record; False when it does not exist in this org."""

        def run(db: sqlite3.Connection) -> bool:
            with db:
                cursor = db.execute(
                    "DELETE FROM credentials WHERE org_slug = ? AND credential_id = ?",
                    (org_slug, credential_id),
                )
            return cursor.rowcount == 1

        return await self._db.run(run)

    async def list_not_wrapped_by(self, key_version: str, *, after: str = "", limit: int) -> list[CredentialRecord]:
        """Records of every org whose data key another KEK version wrapped, by credential id."""

        def run(db: sqlite3.Connection) -> list[CredentialRecord]:
            rows = db.execute(
                f"SELECT {_COLUMNS} FROM credentials WHERE key_version != ? AND credential_id > ?"
                " ORDER BY credential_id LIMIT ?",
                (key_version, after, limit),
            ).fetchall()
            return [_from_row(row) for row in rows]

        return await self._db.run(run)

    async def replace_wrapped_key(
        self, org_slug: str, credential_id: str, key_version: str, wrapped_data_key: bytes, *, expected_nonce: bytes
    ) -> bool:
        """Swaps a record's wrapped data key and KEK version in one statement, if its nonce is unchanged."""

        def run(db: sqlite3.Connection) -> bool:
            with db:
                cursor = db.execute(
                    "UPDATE credentials SET key_version = ?, wrapped_data_key = ?"
                    " WHERE org_slug = ? AND credential_id = ? AND nonce = ?",
                    (key_version, wrapped_data_key, org_slug, credential_id, expected_nonce),
                )
            return cursor.rowcount == 1

        return await self._db.run(run)

    async def page_token_key(self) -> bytes:
        """The page-token signing key stored beside the records (created when the database was)."""

        def run(db: sqlite3.Connection) -> bytes:
            (key,) = db.execute("SELECT key FROM vault_keys WHERE name = ?", (_PAGE_TOKEN_KEY,)).fetchone()
            return bytes(key)

        return await self._db.run(run)


def _secure_pragmas(connection: sqlite3.Connection) -> None:
    # secure_delete: freed pages (an old ciphertext after rotate, a deleted row) are zeroed, not left
    # readable in the file. The default rollback journal (not WAL) keeps no old page copies around.
    connection.execute("PRAGMA secure_delete = ON")
    connection.execute("PRAGMA foreign_keys = ON")


def _add_schedule_column(connection: sqlite3.Connection) -> None:
    """Adds ``schedule`` to a database created before schedules existed (its rows get the default)."""
    columns = {row[1] for row in connection.execute("PRAGMA table_info(credentials)")}
    if "schedule" in columns:
        return
    try:
        with connection:
            connection.execute("ALTER TABLE credentials ADD COLUMN schedule TEXT")
    except sqlite3.OperationalError as exc:
        # Another process sharing the file added it first.
        if "duplicate column" not in str(exc):
            raise


def _seed_page_token_key(connection: sqlite3.Connection) -> None:
    with connection:
        # OR IGNORE: the first process to open the database picks the key; every later one reads it.
        connection.execute(
            "INSERT OR IGNORE INTO vault_keys (name, key) VALUES (?, ?)",
            (_PAGE_TOKEN_KEY, os.urandom(_PAGE_TOKEN_KEY_BYTES)),
        )


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
        _timestamp(record.created_at),
        None if record.rotated_at is None else _timestamp(record.rotated_at),
        record.schedule,
    )


def _timestamp(value: datetime) -> str:
    """The stored spelling of a time; one spelling for every row, so text order is time order."""
    return value.isoformat(timespec="microseconds")


def _from_row(row: tuple[Any, ...]) -> CredentialRecord:
    (cid, org, provider, name, fields, config, version, wrapped, nonce, ciphertext, created, rotated, schedule) = row
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
        schedule=None if schedule is None else str(schedule),
    )
