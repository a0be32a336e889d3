"""The pipeline run: credential -> source listing -> download -> stage -> raw table -> FOCUS.

Plain async Python, no gRPC: the servicer turns these events into protobuf.

A run is a background task, recorded in the run log from its first moment to its outcome; the
caller's stream only watches it. A caller that disconnects (or a server that stops while nobody
watches) therefore never leaves a run's outcome unknown: it is in the log, and the reconciler
(reconcile.py) repairs what a killed process or a missing focus_svc left out of step.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Protocol

from cloudact_shared.errors import (
    CloudactError,
    DeadlineExceeded,
    FailedPrecondition,
    FieldViolation,
    InvalidArgument,
    Unavailable,
)
from cloudact_shared.lineage import Lineage
from cloudact_shared.naming import canonical_credential_id, dataset_name, validate_org_slug, validate_provider
from cloudact_shared.storage import SliceKey, TableStore, load_schema
from cloudact_shared.workspace import WorkDirs
from ingest_svc.adapters.focus import ConversionResult
from ingest_svc.adapters.runs import RunLog
from ingest_svc.adapters.staging import StagedFiles, stage_files
from ingest_svc.config import PipelineConfig, pipeline_config
from ingest_svc.connectors.base import ResolvedCredential, SourceObject
from ingest_svc.connectors.registry import connector, source_factory
from ingest_svc.model import Progress, RunError, RunRecord, RunResult, RunStatus, Stage

__all__ = [
    "CredentialCheck",
    "CredentialSource",
    "FocusConverter",
    "PipelineRunner",
    "Progress",
    "RunHandle",
    "RunRequest",
    "RunResult",
    "SliceLocks",
    "Stage",
    "months_between",
]

_logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunRequest:
    """A request to run ``{provider}/{domain}/{pipeline}`` with a credential, as the caller sent it."""

    org_slug: str
    provider: str
    domain: str
    pipeline: str
    credential_id: str
    """Any spelling of the credential's UUID; the run only ever uses the canonical one."""
    periods: list[date]
    """Billing months (first days); empty means the pipeline's revision window ending this month."""


class CredentialSource(Protocol):
    async def decrypt(self, org_slug: str, credential_id: str, *, timeout: float) -> ResolvedCredential: ...


class FocusConverter(Protocol):
    async def convert(
        self, org_slug: str, provider: str, lineage: Lineage, periods: Sequence[date], *, timeout: float
    ) -> ConversionResult: ...


CredentialCheck = Callable[[str, Mapping[str, str], Mapping[str, str]], object]
"""Validates a decrypted credential (provider, config, secret) before a connector is built from
it; raises a CloudactError naming what is wrong (never a secret value)."""


class SliceLocks:
    """One lock per (org, provider, canonical credential): one run or repair of a slice at a time."""

    def __init__(self) -> None:
        self._locks: dict[tuple[str, str, str], asyncio.Lock] = {}

    def of(self, org_slug: str, provider: str, credential_id: str) -> asyncio.Lock:
        return self._locks.setdefault((org_slug, provider, credential_id), asyncio.Lock())


class _Deadline:
    """The caller's deadline, handed down as a timeout to each downstream call."""

    def __init__(self, seconds: float) -> None:
        self._end = time.monotonic() + seconds

    def remaining(self, what: str) -> float:
        left = self._end - time.monotonic()
        if left <= 0:
            raise DeadlineExceeded(f"deadline exceeded before {what}; nothing was written after that point")
        return left


@dataclass(frozen=True)
class _Failure:
    error: BaseException


class RunHandle:
    """A started run as its caller sees it: the run id, then its events as they happen."""

    def __init__(self, run_id: str) -> None:
        self.run_id = run_id
        self._queue: asyncio.Queue[Progress | RunResult | _Failure] = asyncio.Queue()
        self._watched = True
        self.ended = False
        """Whether the run's last event (its result or its error) was published."""

    async def events(self) -> AsyncGenerator[Progress | RunResult, None]:
        """Progress events, then the result; raises the run's error if it fails.

        Leaving the iteration early (a caller that disconnects) does not affect the run.
        """
        try:
            while True:
                item = await self._queue.get()
                if isinstance(item, _Failure):
                    raise item.error
                yield item
                if isinstance(item, RunResult):
                    return
        finally:
            self._watched = False

    def publish(self, item: Progress | RunResult | _Failure) -> None:
        """Hands an event to the watcher, if one is still watching (the runner's side)."""
        self.ended = self.ended or not isinstance(item, Progress)
        if self._watched:
            self._queue.put_nowait(item)


class _Recorder:
    """Keeps a run's record and writes every change of stage or outcome to the run log."""

    def __init__(self, runs: RunLog, record: RunRecord, clock: Callable[[], datetime]) -> None:
        self._runs = runs
        self.record = record
        self._clock = clock

    async def stage(self, stage: Stage) -> None:
        if stage is not self.record.stage:
            await self._save(replace(self.record, stage=stage))

    async def raw_written(self, version: int, files_read: int, staged: StagedFiles) -> None:
        await self._save(
            replace(
                self.record,
                raw_table_version=version,
                files_read=files_read,
                rows_read=staged.rows_read,
                raw_rows_written=staged.rows_good,
                rows_quarantined=staged.rows_quarantined,
                quarantine=dict(staged.quarantine),
            )
        )

    async def succeeded(self, result: RunResult) -> None:
        await self._save(
            replace(
                self.record,
                status=RunStatus.SUCCEEDED,
                stage=Stage.DONE,
                focus_rows_written=result.focus_rows_written,
                focus_table_version=result.focus_table_version,
                finished_at=self._clock(),
            )
        )

    async def failed(self, error: RunError) -> None:
        # Once the raw slice is committed, FOCUS may or may not have caught up (a conversion cut off
        # mid-call can still commit): the reconciler checks the tables and repairs.
        await self._save(
            replace(
                self.record,
                status=RunStatus.FAILED,
                error=error,
                finished_at=self._clock(),
                repair_pending=self.record.raw_table_version is not None,
            )
        )

    async def _save(self, record: RunRecord) -> None:
        await self._runs.save(record)
        self.record = record


@dataclass
class _Active:
    handle: RunHandle
    task: asyncio.Task[None]


class PipelineRunner:
    """Runs pipelines as background tasks; one run per (org, provider, credential) slice at a time."""

    def __init__(
        self,
        store: TableStore,
        credentials: CredentialSource,
        focus: FocusConverter,
        runs: RunLog,
        *,
        work_dirs: WorkDirs,
        batch_rows: int,
        memory_limit: str,
        owner: str,
        check_credential: CredentialCheck,
        locks: SliceLocks | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        """Creates the runner.

        Args:
            store: Where the raw and quarantine tables live.
            credentials: Decrypts a run's credential.
            focus: Converts a run's raw slice to FOCUS.
            runs: The run log every run is recorded in.
            work_dirs: Where each run claims its scratch directory (downloads, staging, spill).
            batch_rows: Rows per Arrow batch when streaming into tables.
            memory_limit: DuckDB memory limit while staging.
            owner: This process's id in the run log (see ``ProcessLease``).
            check_credential: Validates a decrypted credential before a connector is built
                (``cloudact_providers.registry.validate_credential`` with the server's settings).
            locks: The slice locks, shared with the reconciler.
            clock: Now, in UTC.
        """
        self._store = store
        self._credentials = credentials
        self._focus = focus
        self._runs = runs
        self._work_dirs = work_dirs
        self._batch_rows = batch_rows
        self._memory_limit = memory_limit
        self._owner = owner
        self._locks = locks or SliceLocks()
        self._check_credential = check_credential
        self._clock = clock
        self._active: dict[str, _Active] = {}
        self._closing = False

    async def start(self, request: RunRequest, *, deadline_seconds: float) -> RunHandle:
        """Validates ``request``, records a new RUNNING run and starts it in the background.

        Raises:
            CloudactError: for a bad request (nothing is recorded then), or Unavailable while the
                service is stopping. Errors of the run itself come out of ``RunHandle.events``.
        """
        if self._closing:
            raise Unavailable("ingest_svc is shutting down; retry on another instance or later")
        request, config = _validated(request)
        periods = request.periods or _revision_window(self._clock().date(), config.revision_window_months)
        lineage = Lineage.new_run(config.pipeline_id, request.credential_id, now=self._clock())
        record = RunRecord(
            org_slug=request.org_slug,
            provider=request.provider,
            lineage=lineage,
            billing_periods=tuple(periods),
            status=RunStatus.RUNNING,
            stage=Stage.RESOLVING_CREDENTIAL,
            owner=self._owner,
        )
        await self._runs.save(record)
        _log_start(record)
        handle = RunHandle(lineage.run_id)
        handle.publish(Progress(Stage.RESOLVING_CREDENTIAL, f"run {lineage.run_id} started"))
        recorder = _Recorder(self._runs, record, self._clock)
        task = asyncio.create_task(
            self._execute(handle, recorder, request, config, _Deadline(deadline_seconds)),
            name=f"run-{lineage.run_id}",
        )
        self._active[lineage.run_id] = _Active(handle, task)
        task.add_done_callback(lambda _: self._active.pop(lineage.run_id, None))
        return handle

    async def run(self, request: RunRequest, *, deadline_seconds: float) -> AsyncIterator[Progress | RunResult]:
        """Starts a run and yields its events (``start`` then ``RunHandle.events``)."""
        handle = await self.start(request, deadline_seconds=deadline_seconds)
        async for event in handle.events():
            yield event

    async def aclose(self, grace_seconds: float) -> None:
        """Refuses new runs, gives running ones ``grace_seconds`` to finish, then cancels them.

        A cancelled run is recorded FAILED (CANCELLED); one that had committed its raw slice is left
        for the reconciler to check against FOCUS.
        """
        self._closing = True
        tasks = [active.task for active in self._active.values()]
        if not tasks:
            return
        _, pending = await asyncio.wait(tasks, timeout=grace_seconds)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)

    async def _execute(
        self, handle: RunHandle, recorder: _Recorder, request: RunRequest, config: PipelineConfig, deadline: _Deadline
    ) -> None:
        """The run's task: runs it under its slice lock and records and publishes its outcome."""
        started = time.monotonic()
        try:
            async with self._locks.of(request.org_slug, request.provider, request.credential_id):
                await self._run_and_record(handle, recorder, request, config, deadline)
        except asyncio.CancelledError:
            if recorder.record.status is RunStatus.RUNNING:  # cancelled while waiting for the slice lock
                await _record_failure(recorder, _cancelled(recorder.record))
                handle.publish(_Failure(Unavailable("ingest_svc stopped before the run started")))
            raise
        finally:
            if not handle.ended:  # a watcher must never wait for an end that will not come
                handle.publish(_Failure(CloudactError("internal error: the run ended without an outcome")))
            _log_end(recorder.record, time.monotonic() - started)

    async def _run_and_record(
        self, handle: RunHandle, recorder: _Recorder, request: RunRequest, config: PipelineConfig, deadline: _Deadline
    ) -> None:
        try:
            async for event in self._run_locked(request, config, recorder, deadline):
                if isinstance(event, RunResult):
                    await recorder.succeeded(event)
                else:
                    await recorder.stage(event.stage)
                handle.publish(event)
        except asyncio.CancelledError:
            await _record_failure(recorder, _cancelled(recorder.record))
            handle.publish(_Failure(Unavailable("ingest_svc stopped before the run finished")))
            raise
        except CloudactError as exc:
            await _record_failure(recorder, RunError.of(exc))
            handle.publish(_Failure(exc))
        except Exception as exc:
            # Nobody may be watching to have the error interceptor log it: log it here.
            _logger.exception("run %s failed unexpectedly", recorder.record.run_id)
            await _record_failure(recorder, RunError.of(exc))
            handle.publish(_Failure(exc))

    async def _run_locked(
        self, request: RunRequest, config: PipelineConfig, recorder: _Recorder, deadline: _Deadline
    ) -> AsyncIterator[Progress | RunResult]:
        started = time.monotonic()
        lineage = recorder.record.lineage
        periods = list(recorder.record.billing_periods)
        yield Progress(Stage.RESOLVING_CREDENTIAL, f"decrypting credential {request.credential_id}")
        credential = await self._credentials.decrypt(
            request.org_slug, request.credential_id, timeout=deadline.remaining("decrypting the credential")
        )
        if credential.provider != request.provider:
            raise InvalidArgument(
                f"credential {request.credential_id} is for provider {credential.provider!r}, not {request.provider!r}",
                reason="CREDENTIAL_PROVIDER_MISMATCH",
                violations=[FieldViolation("credential_id", "belongs to another provider")],
            )
        # Before any connector sees it: a credential must not point the pipeline anywhere it likes.
        self._check_credential(credential.provider, credential.config, credential.secret)
        # A claimed directory: removed when the run ends, and swept at the next start if the process dies.
        with self._work_dirs.claim(prefix=f"run-{lineage.run_id}-") as work_dir:
            run = self._ingest(request, config, credential, lineage, periods, deadline, started, work_dir, recorder)
            # The plaintext secret should live no longer than the source phase needs it: _ingest drops
            # its own reference once the downloads are done, so this frame must not keep one either.
            del credential
            async for event in run:
                yield event

    async def _ingest(
        self,
        request: RunRequest,
        config: PipelineConfig,
        credential: ResolvedCredential,
        lineage: Lineage,
        periods: list[date],
        deadline: _Deadline,
        started: float,
        work_dir: Path,
        recorder: _Recorder,
    ) -> AsyncIterator[Progress | RunResult]:
        months = ", ".join(f"{p:%Y-%m}" for p in periods)
        yield Progress(Stage.LISTING_SOURCE, f"run {lineage.run_id}: reading the export manifests for {months}")
        files: list[tuple[Path, SourceObject]] = []
        async with source_factory(config.connector)(credential) as source:
            objects = await source.list_objects(periods)
            for index, obj in enumerate(objects):
                deadline.remaining(f"downloading {obj.uri}")
                yield Progress(Stage.READING_SOURCE, f"downloading {obj.uri} ({obj.size} bytes)", obj.uri)
                local = work_dir / f"{index:05d}-{Path(obj.key).name}"
                await source.download(obj, local)
                files.append((local, obj))
        del credential, source  # the secret is not needed past the downloads
        if not files:
            raise FailedPrecondition(f"the manifests for {months} name no data files", reason="EMPTY_DELIVERY")
        raw_schema = load_schema(config.raw_schema)
        staged = await asyncio.to_thread(
            stage_files,
            files,
            lineage,
            work_dir,
            raw_schema,
            connector(config.connector).raw_select,
            memory_limit=self._memory_limit,
            batch_rows=self._batch_rows,
        )
        yield Progress(
            Stage.READING_SOURCE,
            f"parsed {staged.rows_read} rows from {len(files)} files; {staged.rows_quarantined} quarantined",
            rows_read=staged.rows_read,
            rows_quarantined=staged.rows_quarantined,
        )
        deadline.remaining("writing the raw table")
        yield Progress(Stage.WRITING_RAW, f"replacing {config.raw_schema} for {months}", rows_read=staged.rows_read)
        raw_version = await self._commit_raw(request, config, staged, periods, len(files), recorder)
        yield Progress(Stage.CONVERTING_TO_FOCUS, f"converting {staged.rows_good} raw rows to FOCUS 1.3")
        converted = await self._focus.convert(
            request.org_slug,
            request.provider,
            lineage,
            periods,
            timeout=deadline.remaining("converting to FOCUS"),
        )
        yield Progress(Stage.DONE, f"wrote {converted.focus_rows_written} FOCUS rows")
        yield RunResult(
            lineage=lineage,
            billing_periods=periods,
            files_read=len(files),
            rows_read=staged.rows_read,
            raw_rows_written=staged.rows_good,
            rows_quarantined=staged.rows_quarantined,
            quarantine=staged.quarantine,
            focus_rows_written=converted.focus_rows_written,
            raw_table_version=raw_version,
            focus_table_version=converted.focus_table_version,
            duration_seconds=time.monotonic() - started,
        )

    async def _commit_raw(
        self,
        request: RunRequest,
        config: PipelineConfig,
        staged: StagedFiles,
        periods: list[date],
        files_read: int,
        recorder: _Recorder,
    ) -> int:
        """Writes the raw slice and records it; a cancellation waits for the commit to settle first.

        The write runs in a worker thread that a cancellation cannot stop: were the run recorded
        and its slice lock released before the thread finished, a commit landing afterwards would
        be unknown to the run log and to the reconciler.
        """
        write = asyncio.ensure_future(asyncio.to_thread(self._write_raw, request, config, staged, periods))
        try:
            version = await asyncio.shield(write)
        except asyncio.CancelledError:
            with contextlib.suppress(Exception):
                await write
            if write.done() and not write.cancelled() and write.exception() is None:
                await recorder.raw_written(write.result(), files_read, staged)
            raise
        await recorder.raw_written(version, files_read, staged)
        return version

    def _write_raw(self, request: RunRequest, config: PipelineConfig, staged: StagedFiles, periods: list[date]) -> int:
        """Replaces the run's quarantine slice, then its raw slice (each one atomic commit)."""
        dataset = dataset_name(request.org_slug)
        slice_key: SliceKey = {"x_credential_id": request.credential_id, "billing_period": list(periods)}
        quarantine_schema = load_schema(config.quarantine_schema)
        self._store.replace_slice(dataset, quarantine_schema, slice_key, staged.quarantined_rows(quarantine_schema))
        raw_schema = load_schema(config.raw_schema)
        return self._store.replace_slice(dataset, raw_schema, slice_key, staged.good_rows(self._batch_rows))


async def _record_failure(recorder: _Recorder, error: RunError) -> None:
    try:
        await recorder.failed(error)
    except Exception:
        # The run log is closing or failing under us: the run stays RUNNING in it, and the reconciler
        # resolves it once this process is gone. The caller must still hear of the failure.
        _logger.exception("run %s: could not record its failure", recorder.record.run_id)


def _cancelled(record: RunRecord) -> RunError:
    if record.raw_table_version is not None:
        kept = "its raw slice was written; FOCUS is checked and repaired by the reconciler"
    else:
        kept = "nothing was written, the previous data was kept"
    return RunError(
        "CANCELLED",
        "RUN_CANCELLED",
        f"ingest_svc stopped before the run finished (stage {record.stage.name}); {kept}",
    )


def _log_start(record: RunRecord) -> None:
    _logger.info(
        "run %s started: org=%s provider=%s pipeline=%s credential=%s periods=%s",
        record.run_id,
        record.org_slug,
        record.provider,
        record.pipeline_id,
        record.credential_id,
        _months(record.billing_periods),
    )


def _log_end(record: RunRecord, seconds: float) -> None:
    error = record.error
    _logger.info(
        "run %s %s: org=%s provider=%s credential=%s periods=%s stage=%s raw_rows=%d focus_rows=%d "
        "quarantined=%d duration=%.3fs%s",
        record.run_id,
        record.status.name,
        record.org_slug,
        record.provider,
        record.credential_id,
        _months(record.billing_periods),
        record.stage.name,
        record.raw_rows_written,
        record.focus_rows_written,
        record.rows_quarantined,
        seconds,
        "" if error is None else f" error={error.code}/{error.reason}: {error.message}",
    )


def _months(periods: Sequence[date]) -> str:
    return ",".join(f"{p:%Y-%m}" for p in periods)


def _validated(request: RunRequest) -> tuple[RunRequest, PipelineConfig]:
    """The request with its credential id in canonical form, and its pipeline's config."""
    validate_org_slug(request.org_slug)
    validate_provider(request.provider)
    canonical = replace(request, credential_id=canonical_credential_id(request.credential_id))
    return canonical, pipeline_config(request.provider, request.domain or "cost", request.pipeline or "billing")


def _revision_window(today: date, months: int) -> list[date]:
    """The ``months`` billing months ending with the current one, oldest first."""
    index = today.year * 12 + today.month - 1
    return [date((i) // 12, i % 12 + 1, 1) for i in range(index - months + 1, index + 1)]


def months_between(start: date, end: date) -> list[date]:
    """Every billing month an inclusive date range touches, oldest first.

    Raises:
        InvalidArgument: when ``end`` is before ``start`` or the range spans more than 36 months.
    """
    if end < start:
        raise InvalidArgument(
            f"date range ends ({end}) before it starts ({start})",
            violations=[FieldViolation("date_range.end_date", "must not be before start_date")],
        )
    first, last = start.year * 12 + start.month - 1, end.year * 12 + end.month - 1
    if last - first >= 36:
        raise InvalidArgument(
            "a run covers at most 36 billing months", violations=[FieldViolation("date_range", "too long")]
        )
    return [date(i // 12, i % 12 + 1, 1) for i in range(first, last + 1)]
