"""Custom cost events (DataHub): take an upload, land its good events in the org's inbox, load them.

Plain async Python, no gRPC (``events_server.py`` is the servicer). An upload is a stream of batches
of events. Each event is checked on its own (``cloudact_providers.datahub.events.validate_event``): a
bad one is answered with its row, event_id, field and reason and never lands, the good ones are
written as they come, normalised, to a file being received in the inbox. When the stream ends the
file becomes the org's newest upload (``<sequence>-<sha256>.jsonl``, renamed into place whole, so
the connector never reads half of one), and the ``datahub/cost/billing`` pipeline runs, through the
same ``PipelineRunner`` as RunPipeline, for every month the upload's events are in and every month
they were in before: the connector rebuilds each such month from the latest record of every
event_id, so an event moved to another month leaves the old one. Re-sending an upload is harmless
(the same rows again); re-sending the newest upload does not even add a file.

The inbox lock (an asyncio lock per org, and a file lock for another ingest_svc process on the same
data directory) covers finding those earlier months and adding the file, so an upload always sees
every upload before it. Runs of the org's slice are serialised by the runner, and each lists the
inbox when it starts, so the slice ends up as the newest uploads say whatever order runs finish in.

The org's DataHub credential is no credential_svc record: there is no secret (events are pushed,
with a bearer token), and its id is derived from the org, so every upload loads into one slice.
``DataHubCredentials`` resolves it for the pipeline, pointing the connector at the org's inbox, and
hands every other credential to credential_svc.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import json
import os
import time
import uuid
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import IO, Any

import duckdb

from cloudact_providers.connector import ResolvedCredential
from cloudact_providers.datahub.events import (
    PROVIDER,
    credential_id_for,
    inbox_dir,
    read_json_sql,
    upload_files,
    upload_hash,
    upload_name,
    upload_sequence,
    validate_event,
)
from cloudact_providers.sqltext import sql_literal
from cloudact_shared.errors import PermissionDenied, ResourceExhausted
from cloudact_shared.naming import canonical_credential_id, validate_org_slug
from ingest_svc.model import RunRequest, RunResult
from ingest_svc.pipeline import CredentialSource
from ingest_svc.service import PipelineRunner

MAX_EVENTS = 1_000_000
"""Events in one upload; split bigger feeds into several uploads."""
MAX_ERRORS = 1_000
"""Event errors answered in full; the rest are counted."""
_RECEIVING = ".receiving"
# A file left half-received by a killed process is removed after this long.
_STALE_SECONDS = 24 * 3600


@dataclass(frozen=True)
class EventError:
    """Why one event of an upload was rejected: one per bad field."""

    row: int
    """The event's position in the upload, 0-based."""
    event_id: str
    field: str
    reason: str


@dataclass(frozen=True)
class UploadOutcome:
    """What an upload did: its counts, its rejected events and the run that loaded the accepted ones."""

    accepted: int
    rejected: int
    errors: tuple[EventError, ...]
    errors_truncated: bool
    upload_id: str
    """The SHA-256 of the landed file; "" when nothing was accepted."""
    credential_id: str
    run: RunResult | None
    """None when nothing was accepted (no run)."""


class DataHubCredentials:
    """The pipeline's credential source: an org's DataHub credential here, every other from credential_svc.

    Args:
        stored: credential_svc's DecryptCredential.
        data_dir: the data directory holding the orgs' inboxes.
    """

    def __init__(self, stored: CredentialSource, data_dir: Path) -> None:
        self._stored = stored
        self._data_dir = data_dir

    async def decrypt(self, org_slug: str, credential_id: str, *, timeout: float) -> ResolvedCredential:
        """The org's DataHub credential (its inbox, no secret), or credential_svc's answer.

        Raises:
            PermissionDenied: credential_svc holds a DataHub credential (it never should: an inbox is
                not a caller's to choose).
            CloudactError: credential_svc's error.
        """
        if canonical_credential_id(credential_id) == credential_id_for(org_slug):
            inbox = inbox_dir(self._data_dir, validate_org_slug(org_slug)).resolve()
            return ResolvedCredential(credential_id_for(org_slug), PROVIDER, {"inbox": str(inbox)}, {})
        resolved = await self._stored.decrypt(org_slug, credential_id, timeout=timeout)
        if resolved.provider == PROVIDER:
            raise PermissionDenied(
                f"credential {credential_id} is a stored DataHub credential; DataHub events load only under "
                "the org's own DataHub credential id (UploadEventsResponse.credential_id)",
                reason="DATAHUB_CREDENTIAL_NOT_STORED",
            )
        return resolved


@dataclass
class _Receiving:
    """An upload being received: its file in the inbox, hashed as written, and what it holds so far."""

    path: Path
    handle: IO[bytes]
    digest: Any = field(default_factory=hashlib.sha256)
    """The SHA-256 of what was written (``hashlib``'s hash objects have no public type)."""
    rows: int = 0
    accepted: int = 0
    rejected: int = 0
    errors: list[EventError] = field(default_factory=list)
    months: set[date] = field(default_factory=set)

    def take(self, events: Sequence[Mapping[str, object]]) -> None:
        """Checks each event; writes the good ones (normalised), records why the bad ones are bad."""
        if self.rows + len(events) > MAX_EVENTS:
            raise ResourceExhausted(
                f"an upload holds at most {MAX_EVENTS:,} events; split the feed into several uploads",
                reason="TOO_MANY_EVENTS",
            )
        lines = []
        for data in events:
            event, problems = validate_event(data)
            if event is None:
                self.rejected += 1
                event_id = data.get("event_id")
                shown = event_id.strip()[:512] if isinstance(event_id, str) else ""
                for name, reason in problems:
                    if len(self.errors) < MAX_ERRORS + 1:  # one more: says the list was cut
                        self.errors.append(EventError(self.rows, shown, name, reason))
            else:
                self.accepted += 1
                self.months.add(event.billing_month)
                record = event.inbox_record(self.rows)
                lines.append(json.dumps(record, ensure_ascii=False, separators=(",", ":")).encode() + b"\n")
            self.rows += 1
        written = b"".join(lines)
        self.digest.update(written)
        self.handle.write(written)


class EventUploads:
    """Receives uploads of custom cost events and runs the DataHub pipeline for them.

    Args:
        runner: ingest_svc's pipeline runner (the same runs, run log and slice locks as RunPipeline).
        data_dir: the data directory; each org's inbox is ``<data_dir>/inbox/datahub/<org>``.
    """

    def __init__(self, runner: PipelineRunner, data_dir: Path) -> None:
        self._runner = runner
        self._data_dir = data_dir
        self._locks: dict[str, asyncio.Lock] = {}

    async def upload(
        self, org_slug: str, batches: AsyncIterator[Sequence[Mapping[str, object]]], *, deadline_seconds: float
    ) -> UploadOutcome:
        """Receives the batches of one upload, lands its good events and loads them.

        Returns once the run that loads them has ended (it runs on if the caller goes away).

        Raises:
            InvalidArgument: a malformed org slug.
            ResourceExhausted: more than ``MAX_EVENTS`` events.
            CloudactError: the run's error (the events are in the inbox: uploading them again, or
                running the months, loads them).
        """
        inbox = inbox_dir(self._data_dir, validate_org_slug(org_slug))
        receiving = await asyncio.to_thread(_start_receiving, inbox)
        try:
            async for batch in batches:
                await asyncio.to_thread(receiving.take, batch)
            await asyncio.to_thread(_finish_writing, receiving.handle)
            upload_id = receiving.digest.hexdigest()
            months: set[date] = set()
            if receiving.accepted:
                async with self._lock(org_slug):
                    months = await asyncio.to_thread(_land, inbox, receiving.path, upload_id)
        finally:
            receiving.handle.close()
            receiving.path.unlink(missing_ok=True)
        credential_id = credential_id_for(org_slug)
        run = None
        if receiving.accepted:
            periods = sorted(months | receiving.months)
            run = await self._run(
                RunRequest(org_slug, PROVIDER, "cost", "billing", credential_id, periods), deadline_seconds
            )
        errors = receiving.errors
        return UploadOutcome(
            accepted=receiving.accepted,
            rejected=receiving.rejected,
            errors=tuple(errors[:MAX_ERRORS]),
            errors_truncated=len(errors) > MAX_ERRORS,
            upload_id=upload_id if receiving.accepted else "",
            credential_id=credential_id,
            run=run,
        )

    def _lock(self, org_slug: str) -> asyncio.Lock:
        return self._locks.setdefault(org_slug, asyncio.Lock())

    async def _run(self, request: RunRequest, deadline_seconds: float) -> RunResult:
        handle = await self._runner.start(request, deadline_seconds=deadline_seconds)
        async for event in handle.events():
            if isinstance(event, RunResult):
                return event
        raise AssertionError("a run's events end with its result or its error")


def _start_receiving(inbox: Path) -> _Receiving:
    """A new file to receive an upload into, in the inbox (same file system: the landing is a rename)."""
    receiving = inbox / _RECEIVING
    receiving.mkdir(parents=True, exist_ok=True)
    _sweep(receiving)
    path = receiving / f"{uuid.uuid4().hex}.jsonl.part"
    return _Receiving(path, path.open("xb"))


def _sweep(receiving: Path) -> None:
    """Removes files a killed process left half-received."""
    cutoff = time.time() - _STALE_SECONDS
    for stale in receiving.glob("*.part"):
        with contextlib.suppress(OSError):
            if stale.stat().st_mtime < cutoff:
                stale.unlink()


def _finish_writing(handle: IO[bytes]) -> None:
    handle.flush()
    os.fsync(handle.fileno())


def _land(inbox: Path, received: Path, upload_id: str) -> set[date]:
    """Makes ``received`` the org's newest upload; returns the months its event_ids were in before.

    Under the inbox's file lock: no other process lands an upload meanwhile. Re-sending the newest
    upload adds nothing (it is already the last word on its events).
    """
    with _file_lock(inbox / ".lock"):
        uploads = upload_files(inbox)
        before = _months_of_ids(uploads, received)
        if uploads and upload_hash(uploads[-1]) == upload_id:
            return before
        sequence = max(time.time_ns(), upload_sequence(uploads[-1]) + 1 if uploads else 0)
        os.replace(received, inbox / upload_name(sequence, upload_id))
        _sync_directory(inbox)
        return before


def _months_of_ids(uploads: Sequence[Path], received: Path) -> set[date]:
    """The months of every earlier record of an event_id ``received`` holds (where its slices may hold it)."""
    if not uploads:
        return set()
    files = "[" + ", ".join(sql_literal(str(p)) for p in uploads) + "]"
    earlier = read_json_sql(files, ("event_id", "usage_date_time"))
    new = read_json_sql(sql_literal(str(received)), ("event_id",))
    with duckdb.connect() as con:
        rows = con.execute(
            f"SELECT DISTINCT left(o.usage_date_time, 7) FROM {earlier} AS o "
            f"WHERE o.event_id IN (SELECT event_id FROM {new})"
        ).fetchall()
    return {date.fromisoformat(f"{row[0]}-01") for row in rows if row[0]}


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    with path.open("a") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _sync_directory(directory: Path) -> None:
    """Makes a rename into ``directory`` durable."""
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
