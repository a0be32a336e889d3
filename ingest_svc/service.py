"""The pipeline runner: starts runs as background tasks and records them from start to outcome.

Plain async Python, no gRPC: the servicer turns the events into protobuf. A run's steps are
``pipeline.PipelineRun``'s; this module runs it under its slice lock, records each event and its
outcome in the run log, and hands the events to whoever watches.

A run is recorded in the run log from its first moment to its outcome; the caller's stream only
watches it. A caller that disconnects (or a server that stops while nobody watches) therefore never
leaves a run's outcome unknown: it is in the log, and the reconciler (reconcile.py) repairs what a
killed process or a missing focus_svc left out of step.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime

from opentelemetry import trace

from cloudact_shared.errors import CloudactError, FieldViolation, InvalidArgument, Unavailable
from cloudact_shared.lineage import Lineage
from cloudact_shared.metrics import record_run, record_table_version
from cloudact_shared.naming import (
    FOCUS_TABLE,
    canonical_credential_id,
    dataset_name,
    validate_org_slug,
    validate_provider,
)
from cloudact_shared.storage import TableStore
from cloudact_shared.telemetry import ORG_SLUG, PIPELINE_ID, RUN_ID, set_run_attributes, tracer
from cloudact_shared.workspace import WorkDirs
from ingest_svc.adapters.runs import RunLog
from ingest_svc.config import PipelineConfig, pipeline_config
from ingest_svc.model import Progress, RunError, RunRecord, RunRequest, RunResult, RunStatus, Stage
from ingest_svc.pipeline import (
    ConvertsToFocus,
    CredentialCheck,
    CredentialSource,
    Deadline,
    PipelineRun,
    RunEnvironment,
)
from ingest_svc.recorder import RunRecorder

__all__ = [
    "ConvertsToFocus",
    "CredentialCheck",
    "CredentialSource",
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
_tracer = tracer("ingest_svc", __name__)


class SliceLocks:
    """One lock per (org, provider, canonical credential): one run or repair of a slice at a time."""

    def __init__(self) -> None:
        self._locks: dict[tuple[str, str, str], asyncio.Lock] = {}

    def of(self, org_slug: str, provider: str, credential_id: str) -> asyncio.Lock:
        return self._locks.setdefault((org_slug, provider, credential_id), asyncio.Lock())


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
        focus: ConvertsToFocus,
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
        self._env = RunEnvironment(store, credentials, focus, check_credential, batch_rows, memory_limit)
        self._runs = runs
        self._work_dirs = work_dirs
        self._owner = owner
        self._locks = locks or SliceLocks()
        self._clock = clock
        self._active: dict[str, _Active] = {}
        self._closing = False

    async def start(self, request: RunRequest, *, deadline_seconds: float) -> RunHandle:
        """Validates ``request``, records a new RUNNING run and starts it in the background.

        A request with a ``scheduled_slot`` is recorded only if its slot is free (``RunLog.claim_slot``).

        Raises:
            CloudactError: for a bad request (nothing is recorded then), AlreadyExists for a scheduled
                slot that is taken, or Unavailable while the service is stopping. Errors of the run
                itself come out of ``RunHandle.events``.
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
            scheduled_slot=request.scheduled_slot,
        )
        if record.scheduled_slot is None:
            await self._runs.save(record)
        else:
            await self._runs.claim_slot(record)
        _log_start(record)
        set_run_attributes(org_slug=record.org_slug, run_id=record.run_id, pipeline_id=record.pipeline_id)
        handle = RunHandle(lineage.run_id)
        handle.publish(Progress(Stage.RESOLVING_CREDENTIAL, f"run {lineage.run_id} started"))
        recorder = RunRecorder(self._runs, record, self._clock)
        # The task starts in the caller's context: its span is a child of the call that started it.
        task = asyncio.create_task(
            self._traced(handle, recorder, config, Deadline(deadline_seconds)), name=f"run-{lineage.run_id}"
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

    async def _traced(
        self, handle: RunHandle, recorder: RunRecorder, config: PipelineConfig, deadline: Deadline
    ) -> None:
        """``_execute`` in the run's span, which ends with the run even when nobody watches any more."""
        record = recorder.record
        attributes = {
            ORG_SLUG: record.org_slug,
            RUN_ID: record.run_id,
            PIPELINE_ID: record.pipeline_id,
            "provider": record.provider,
        }
        with _tracer.start_as_current_span("pipeline run", attributes=attributes) as span:
            await self._execute(handle, recorder, config, deadline)
            error = recorder.record.error
            if error is not None:
                span.set_status(trace.Status(trace.StatusCode.ERROR, f"{error.code}/{error.reason}"))

    async def _execute(
        self, handle: RunHandle, recorder: RunRecorder, config: PipelineConfig, deadline: Deadline
    ) -> None:
        """The run's task: runs it under its slice lock and records and publishes its outcome."""
        started = time.monotonic()
        record = recorder.record
        try:
            async with self._locks.of(record.org_slug, record.provider, record.credential_id):
                await self._run_and_record(handle, recorder, config, deadline)
        except asyncio.CancelledError:
            if recorder.record.status is RunStatus.RUNNING:  # cancelled while waiting for the slice lock
                await recorder.failed(_cancelled(recorder.record))
                handle.publish(_Failure(Unavailable("ingest_svc stopped before the run started")))
            raise
        finally:
            if not handle.ended:  # a watcher must never wait for an end that will not come
                handle.publish(_Failure(CloudactError("internal error: the run ended without an outcome")))
            _log_end(recorder.record, time.monotonic() - started)
            _count(recorder.record, config)

    async def _run_and_record(
        self, handle: RunHandle, recorder: RunRecorder, config: PipelineConfig, deadline: Deadline
    ) -> None:
        try:
            # A claimed directory: removed when the run ends, and swept at the next start if the process dies.
            with self._work_dirs.claim(prefix=f"run-{recorder.record.run_id}-") as work_dir:
                async for event in PipelineRun(self._env, config, recorder, deadline, work_dir).events():
                    await recorder.event(event)
                    handle.publish(event)
        except asyncio.CancelledError:
            await recorder.failed(_cancelled(recorder.record))
            handle.publish(_Failure(Unavailable("ingest_svc stopped before the run finished")))
            raise
        except CloudactError as exc:
            await recorder.failed(RunError.of(exc))
            handle.publish(_Failure(exc))
        except Exception as exc:
            # Nobody may be watching to have the error interceptor log it: log it here.
            _logger.exception("run %s failed unexpectedly", recorder.record.run_id)
            await recorder.failed(RunError.of(exc))
            handle.publish(_Failure(exc))


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


def _count(record: RunRecord, config: PipelineConfig) -> None:
    """Counts a finished run, its rows, and the table versions it wrote, in the service's metrics."""
    outcome = "succeeded" if record.status is RunStatus.SUCCEEDED else (record.error or _UNKNOWN).code.lower()
    record_run(
        record.provider,
        outcome,
        read=record.rows_read,
        written=record.raw_rows_written,
        quarantined=record.rows_quarantined,
        focus_written=record.focus_rows_written,
    )
    dataset = dataset_name(record.org_slug)
    record_table_version(dataset, config.raw_schema, record.raw_table_version)
    record_table_version(dataset, FOCUS_TABLE, record.focus_table_version)


_UNKNOWN = RunError("UNKNOWN", "UNKNOWN", "the run ended without an outcome")


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
