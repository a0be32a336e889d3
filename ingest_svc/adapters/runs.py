"""The run log: every pipeline run and its outcome, in SQLite (``{data_dir}/runs.sqlite``).

A run's outcome must outlive the stream that started it and the process that ran it, so every
state change of a run is written here before it is reported. Reads are always scoped to one
organisation; only the reconciler lists across organisations.

The database is a ``cloudact_shared.sqlite.LockedSqlite`` (why SQLite in a worker thread: there).
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any, Protocol, TypeVar

from cloudact_shared.errors import AlreadyExists
from cloudact_shared.lineage import Lineage
from cloudact_shared.schedule import run_covers_slot
from cloudact_shared.sqlite import LockedSqlite
from ingest_svc.model import RunError, RunRecord, RunStatus, Stage

_T = TypeVar("_T")
RecordRow = tuple[Any, ...]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run_id              TEXT PRIMARY KEY,
    org_slug            TEXT NOT NULL,
    provider            TEXT NOT NULL,
    pipeline_id         TEXT NOT NULL,
    credential_id       TEXT NOT NULL,  -- canonical UUID
    billing_periods     TEXT NOT NULL,  -- JSON array of YYYY-MM-DD (first days)
    started_at          TEXT NOT NULL,  -- ISO 8601 UTC, fixed width: sorts as it reads
    pipeline_run_date   TEXT NOT NULL,
    status              TEXT NOT NULL,  -- RUNNING | SUCCEEDED | FAILED
    stage               TEXT NOT NULL,
    owner               TEXT NOT NULL,  -- the ingest_svc process running it
    error_code          TEXT,
    error_reason        TEXT,
    error_message       TEXT,
    files_read          INTEGER NOT NULL,
    rows_read           INTEGER NOT NULL,
    raw_rows_written    INTEGER NOT NULL,
    rows_quarantined    INTEGER NOT NULL,
    quarantine          TEXT NOT NULL,  -- JSON object reason -> rows
    focus_rows_written  INTEGER NOT NULL,
    raw_table_version   INTEGER,
    focus_table_version INTEGER,
    finished_at         TEXT,
    repaired            INTEGER NOT NULL,
    repair_pending      INTEGER NOT NULL,
    scheduled_slot      TEXT            -- ISO 8601 UTC, the schedule slot a scheduled run was started for
);
CREATE INDEX IF NOT EXISTS runs_by_org ON runs (org_slug, started_at, run_id);
CREATE INDEX IF NOT EXISTS runs_by_credential ON runs (org_slug, credential_id, started_at, run_id);
CREATE INDEX IF NOT EXISTS runs_unresolved ON runs (status, repair_pending);
"""

_COLUMNS = (
    "run_id", "org_slug", "provider", "pipeline_id", "credential_id", "billing_periods", "started_at",
    "pipeline_run_date", "status", "stage", "owner", "error_code", "error_reason", "error_message",
    "files_read", "rows_read", "raw_rows_written", "rows_quarantined", "quarantine", "focus_rows_written",
    "raw_table_version", "focus_table_version", "finished_at", "repaired", "repair_pending", "scheduled_slot",
)  # fmt: skip
_SELECT = f"SELECT {', '.join(_COLUMNS)} FROM runs"


def run_log_path(data_dir: Path) -> Path:
    """Where the run log of the ingest_svc serving ``data_dir`` lives."""
    return data_dir / "runs" / "runs.sqlite"


@dataclass(frozen=True)
class RunPosition:
    """Where a newest-first listing stopped: the last run returned."""

    started_at: datetime
    run_id: str


class RunLog(Protocol):
    """Where run records live. Reads by org return None / nothing for another org's run."""

    async def save(self, record: RunRecord) -> None:
        """Stores the record, replacing the previous state of the same run."""
        ...

    async def claim_slot(self, record: RunRecord) -> None:
        """Stores a new scheduled run (``record.scheduled_slot`` set) unless its slot is taken.

        Taken means: a run of the same org and credential is RUNNING, or one SUCCEEDED that covers the
        slot (``run_covers_slot``). The check and the insert are one transaction.

        Raises:
            AlreadyExists: ``RUN_IN_PROGRESS`` or ``SCHEDULED_RUN_EXISTS``, naming the run in the way.
        """
        ...

    async def get(self, org_slug: str, run_id: str) -> RunRecord | None:
        """The run, or None when it does not exist in this org."""
        ...

    async def list_org(
        self, org_slug: str, *, credential_id: str | None, limit: int, after: RunPosition | None
    ) -> list[RunRecord]:
        """Up to ``limit`` runs of the org, newest first, starting after ``after``."""
        ...

    async def unresolved(self) -> list[RunRecord]:
        """Every org's runs still RUNNING or awaiting a repair check, oldest first (the reconciler's)."""
        ...

    async def close(self) -> None:
        """Releases the store once the operation in flight has finished."""
        ...


class SqliteRunLog:
    """The run table. Build with ``await SqliteRunLog.open(path)``; ``close()`` on stop."""

    def __init__(self, db: LockedSqlite) -> None:
        self._db = db

    @classmethod
    async def open(cls, path: Path) -> SqliteRunLog:
        """Opens (creating if needed) the database at ``path`` and its schema."""
        db = await LockedSqlite.open(path, _SCHEMA, what="the run log")
        await db.run(_add_scheduled_slot_column)
        return cls(db)

    async def close(self) -> None:
        """Closes the database once the operation in flight (if any) has finished."""
        await self._db.close()

    async def save(self, record: RunRecord) -> None:
        """Inserts or replaces the run's row (one statement, so readers see one state or the other)."""
        row = _to_row(record)

        def run(db: sqlite3.Connection) -> None:
            with db:
                db.execute(
                    f"INSERT OR REPLACE INTO runs ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))})",
                    row,
                )

        await self._db.run(run)

    async def claim_slot(self, record: RunRecord) -> None:
        """Stores a new scheduled run unless a RUNNING run of its credential, or a SUCCEEDED one
        covering its slot, exists: one transaction, so racing callers (processes, replicas) start it once."""
        slot = record.scheduled_slot
        if slot is None:
            raise ValueError("claim_slot needs a record with a scheduled_slot")
        row = _to_row(record)

        def run(db: sqlite3.Connection) -> RunRecord | None:
            with db:
                # IMMEDIATE takes the write lock before reading: no other process sharing the file can
                # record a run for this credential between our check and our insert.
                db.execute("BEGIN IMMEDIATE")
                rows = db.execute(
                    f"{_SELECT} WHERE org_slug = ? AND credential_id = ? AND pipeline_id = ?"
                    " AND (status = 'RUNNING' OR (status = 'SUCCEEDED' AND (started_at >= ? OR scheduled_slot >= ?)))"
                    " ORDER BY started_at DESC",
                    (record.org_slug, record.credential_id, record.pipeline_id, _iso(slot), _iso(slot)),
                ).fetchall()
                for found in map(_from_row, rows):
                    if found.status is RunStatus.RUNNING or run_covers_slot(
                        found.started_at, found.scheduled_slot, found.billing_periods, slot
                    ):
                        return found
                db.execute(f"INSERT INTO runs ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))})", row)
            return None

        blocking = await self._db.run(run)
        if blocking is None:
            return
        if blocking.status is RunStatus.RUNNING:
            raise AlreadyExists(
                f"credential {record.credential_id} has run {blocking.run_id} in progress; the slot"
                f" {_iso(slot)} is left for a later pass",
                reason="RUN_IN_PROGRESS",
                metadata={"run_id": blocking.run_id},
            )
        raise AlreadyExists(
            f"run {blocking.run_id} already did the work of credential {record.credential_id}'s slot {_iso(slot)}",
            reason="SCHEDULED_RUN_EXISTS",
            metadata={"run_id": blocking.run_id},
        )

    async def get(self, org_slug: str, run_id: str) -> RunRecord | None:
        """The run, or None when it does not exist in this org."""

        def run(db: sqlite3.Connection) -> RunRecord | None:
            row = db.execute(f"{_SELECT} WHERE org_slug = ? AND run_id = ?", (org_slug, run_id)).fetchone()
            return None if row is None else _from_row(row)

        return await self._db.run(run)

    async def list_org(
        self, org_slug: str, *, credential_id: str | None, limit: int, after: RunPosition | None
    ) -> list[RunRecord]:
        """Up to ``limit`` runs of the org, newest first (start time, then run id), after ``after``."""
        query, params = f"{_SELECT} WHERE org_slug = ?", [org_slug]
        if credential_id:
            query += " AND credential_id = ?"
            params.append(credential_id)
        if after is not None:
            query += " AND (started_at, run_id) < (?, ?)"
            params += [_iso(after.started_at), after.run_id]
        query += " ORDER BY started_at DESC, run_id DESC LIMIT ?"

        def run(db: sqlite3.Connection) -> list[RecordRow]:
            return db.execute(query, [*params, limit]).fetchall()

        return [_from_row(row) for row in await self._db.run(run)]

    async def unresolved(self) -> list[RunRecord]:
        """Runs still RUNNING or awaiting a repair check, across orgs, oldest first."""

        def run(db: sqlite3.Connection) -> list[RecordRow]:
            return db.execute(
                f"{_SELECT} WHERE status = 'RUNNING' OR repair_pending = 1 ORDER BY started_at, run_id"
            ).fetchall()

        return [_from_row(row) for row in await self._db.run(run)]


def _add_scheduled_slot_column(db: sqlite3.Connection) -> None:
    """Adds ``scheduled_slot`` to a run log created before scheduled runs existed."""
    if "scheduled_slot" in {row[1] for row in db.execute("PRAGMA table_info(runs)")}:
        return
    try:
        with db:
            db.execute("ALTER TABLE runs ADD COLUMN scheduled_slot TEXT")
    except sqlite3.OperationalError as exc:
        if "duplicate column" not in str(exc):  # another process sharing the file added it first
            raise


def _iso(value: datetime) -> str:
    return value.isoformat(timespec="microseconds")


def _to_row(record: RunRecord) -> RecordRow:
    error = record.error
    return (
        record.run_id,
        record.org_slug,
        record.provider,
        record.pipeline_id,
        record.credential_id,
        json.dumps([p.isoformat() for p in record.billing_periods]),
        _iso(record.started_at),
        record.lineage.pipeline_run_date.isoformat(),
        record.status.name,
        record.stage.name,
        record.owner,
        None if error is None else error.code,
        None if error is None else error.reason,
        None if error is None else error.message,
        record.files_read,
        record.rows_read,
        record.raw_rows_written,
        record.rows_quarantined,
        json.dumps(dict(record.quarantine)),
        record.focus_rows_written,
        record.raw_table_version,
        record.focus_table_version,
        None if record.finished_at is None else _iso(record.finished_at),
        int(record.repaired),
        int(record.repair_pending),
        None if record.scheduled_slot is None else _iso(record.scheduled_slot),
    )


def _from_row(row: RecordRow) -> RunRecord:
    values = dict(zip(_COLUMNS, row, strict=True))
    code = values["error_code"]
    finished = values["finished_at"]
    slot = values["scheduled_slot"]
    return RunRecord(
        org_slug=str(values["org_slug"]),
        provider=str(values["provider"]),
        lineage=Lineage(
            pipeline_id=str(values["pipeline_id"]),
            credential_id=str(values["credential_id"]),
            run_id=str(values["run_id"]),
            ingested_at=datetime.fromisoformat(str(values["started_at"])),
            pipeline_run_date=date.fromisoformat(str(values["pipeline_run_date"])),
        ),
        billing_periods=tuple(date.fromisoformat(p) for p in json.loads(str(values["billing_periods"]))),
        status=RunStatus[str(values["status"])],
        stage=Stage[str(values["stage"])],
        owner=str(values["owner"]),
        error=None if code is None else RunError(str(code), str(values["error_reason"]), str(values["error_message"])),
        files_read=int(values["files_read"]),
        rows_read=int(values["rows_read"]),
        raw_rows_written=int(values["raw_rows_written"]),
        rows_quarantined=int(values["rows_quarantined"]),
        quarantine={str(k): int(v) for k, v in json.loads(str(values["quarantine"])).items()},
        focus_rows_written=int(values["focus_rows_written"]),
        raw_table_version=_optional_int(values["raw_table_version"]),
        focus_table_version=_optional_int(values["focus_table_version"]),
        finished_at=None if finished is None else datetime.fromisoformat(str(finished)),
        repaired=bool(values["repaired"]),
        repair_pending=bool(values["repair_pending"]),
        scheduled_slot=None if slot is None else datetime.fromisoformat(str(slot)),
    )


def _optional_int(value: object) -> int | None:
    return None if value is None else int(str(value))
