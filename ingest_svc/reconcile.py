"""The reconciler: finds runs whose raw and FOCUS slices may be out of step, and repairs them.

A run writes its raw slice, then asks focus_svc to convert it. Two things can come between: the
conversion fails (focus_svc down or killed: the run is recorded FAILED with its raw slice written),
or ingest_svc itself dies (the run stays RUNNING in the run log). For each such run the tables,
not the run log, say what happened:

- the raw slice holds the run and FOCUS does too: focus_svc committed after the caller was cut
  off, so the run SUCCEEDED;
- the raw slice holds the run and FOCUS does not: the run's lineage is converted again, and the
  run SUCCEEDED (repaired);
- the raw slice holds a newer run: this one was superseded, and the newer run's data stands;
- the raw slice never got the run: it FAILED and the previous data was kept.

Each check takes the run's slice lock, so it never races a live run of the same credential.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import datetime

from cloudact_shared.errors import CloudactError
from ingest_svc.adapters.runs import RunLog
from ingest_svc.adapters.slices import RunSlice, SliceInspector, SliceRuns
from ingest_svc.config import all_pipeline_configs
from ingest_svc.model import RunError, RunRecord, RunStatus, Stage
from ingest_svc.pipeline import ConvertsToFocus
from ingest_svc.service import SliceLocks

_logger = logging.getLogger(__name__)

STARTUP_RETRY_SECONDS = (1.0, 2.0, 4.0, 8.0, 15.0, 30.0)
"""Waits between start-up passes while a repair is deferred (focus_svc may start after us)."""


class Reconciler:
    """Checks unfinished and unrepaired runs against the tables and records what really happened."""

    def __init__(
        self,
        runs: RunLog,
        inspector: SliceInspector,
        focus: ConvertsToFocus,
        locks: SliceLocks,
        *,
        owner: str,
        owner_alive: Callable[[str], Awaitable[bool]],
        timeout: float,
        clock: Callable[[], datetime],
    ) -> None:
        """Creates the reconciler.

        Args:
            runs: The run log.
            inspector: Reads which runs a raw or FOCUS slice holds.
            focus: Converts a run's raw slice to FOCUS again.
            locks: The slice locks shared with the PipelineRunner.
            owner: This process's owner id: its RUNNING runs are live.
            owner_alive: Whether another owner's process is still running (its runs are live too).
            timeout: Deadline of one ConvertToFocus call.
            clock: Now, in UTC.
        """
        self._runs = runs
        self._inspector = inspector
        self._focus = focus
        self._locks = locks
        self._owner = owner
        self._owner_alive = owner_alive
        self._timeout = timeout
        self._clock = clock

    async def run(self, interval_seconds: float) -> None:
        """A pass now (retried a few times while repairs are deferred), then every ``interval_seconds``.

        ``interval_seconds`` 0 means the start-up pass only.
        """
        deferred = await self.reconcile_once()
        for wait in STARTUP_RETRY_SECONDS:
            if not deferred:
                break
            await asyncio.sleep(wait)
            deferred = await self.reconcile_once()
        while interval_seconds > 0:
            await asyncio.sleep(interval_seconds)
            await self.reconcile_once()

    async def reconcile_once(self) -> int:
        """Checks every candidate run once; returns how many were left for a later pass."""
        try:
            candidates = await self._runs.unresolved()
        except CloudactError as exc:
            _logger.warning("reconcile: cannot read the run log: %s", exc.message)
            return 0
        deferred = 0
        for record in candidates:
            if record.status is RunStatus.RUNNING and await self._is_live(record):
                continue
            try:
                deferred += not await self._reconcile(record)
            except CloudactError as exc:
                deferred += 1
                _logger.warning("reconcile: run %s not resolved yet: %s", record.run_id, exc.message)
            except Exception:
                # One unreadable slice must not stop the other runs' checks, nor the next passes.
                deferred += 1
                _logger.exception("reconcile: run %s could not be checked", record.run_id)
        return deferred

    async def _is_live(self, record: RunRecord) -> bool:
        return record.owner == self._owner or await self._owner_alive(record.owner)

    async def _reconcile(self, record: RunRecord) -> bool:
        """Resolves one run under its slice lock; False when a repair must wait for a later pass."""
        async with self._locks.of(record.org_slug, record.provider, record.credential_id):
            current = await self._runs.get(record.org_slug, record.run_id)
            if current is None or not await self._needs_check(current):
                return True
            resolved = await self._resolve(current)
            if resolved != current:
                await self._runs.save(resolved)
                _log_outcome(current, resolved)
            return not resolved.repair_pending

    async def _needs_check(self, record: RunRecord) -> bool:
        if record.status is RunStatus.RUNNING:
            return not await self._is_live(record)
        return record.repair_pending

    async def _resolve(self, record: RunRecord) -> RunRecord:
        if record.raw_table_version is None and record.stage.value < Stage.WRITING_RAW.value:
            return self._not_written(record)  # stopped before its raw write began
        key = RunSlice(record.org_slug, record.provider, record.credential_id, record.billing_periods)
        raw = await self._inspector.raw_runs(key, _raw_table(record))
        run_id = record.run_id
        if raw.runs and not raw.holds_only(run_id):
            newer = raw.newer_than(record.started_at)
            if raw.rows_of(run_id) or newer:
                return self._superseded(record, newer or sorted(set(raw.runs) - {run_id}))
            return self._not_written(record)
        if not raw.runs and record.raw_rows_written:
            return self._gone(record)  # it wrote rows, and they are not there any more
        focus = await self._inspector.focus_runs(key)
        if raw.runs and focus.holds_only(run_id):
            return self._succeeded(record, raw, focus)
        if not raw.runs and not focus.runs:
            # Both empty: in step, whether the run's (empty) raw write landed or never began.
            written = record.raw_table_version is not None
            return self._succeeded(record, raw, focus) if written else self._not_written(record)
        # The raw slice holds the run (or its empty write) and FOCUS does not: convert it again.
        return await self._repair(record, raw)

    async def _repair(self, record: RunRecord, raw: SliceRuns) -> RunRecord:
        """Converts the run's raw slice to FOCUS again, with the run's own lineage."""
        try:
            converted = await self._focus.convert(
                record.org_slug, record.provider, record.lineage, record.billing_periods, timeout=self._timeout
            )
        except CloudactError as exc:
            if exc.reason == "STALE_RUN":  # a newer run replaced the raw slice in between
                return self._superseded(record, [])
            _logger.warning("reconcile: run %s: FOCUS repair deferred: %s", record.run_id, exc.message)
            return self._awaiting_repair(record, raw)
        return replace(
            self._done(record, raw),
            status=RunStatus.SUCCEEDED,
            focus_rows_written=converted.focus_rows_written,
            focus_table_version=converted.focus_table_version,
            repaired=True,
        )

    def _succeeded(self, record: RunRecord, raw: SliceRuns, focus: SliceRuns) -> RunRecord:
        """FOCUS already holds the run: focus_svc committed though the run could not hear it."""
        return replace(
            self._done(record, raw),
            status=RunStatus.SUCCEEDED,
            focus_rows_written=focus.rows_of(record.run_id),
            focus_table_version=record.focus_table_version
            if record.focus_table_version is not None
            else (focus.table_version),
        )

    def _done(self, record: RunRecord, raw: SliceRuns) -> RunRecord:
        return replace(
            record,
            stage=Stage.DONE,
            error=None,
            raw_rows_written=record.raw_rows_written or raw.rows_of(record.run_id),
            raw_table_version=record.raw_table_version if record.raw_table_version is not None else (raw.table_version),
            finished_at=self._clock(),
            repair_pending=False,
        )

    def _awaiting_repair(self, record: RunRecord, raw: SliceRuns) -> RunRecord:
        """The raw slice holds the run, FOCUS does not, and focus_svc cannot convert it right now."""
        if record.status is not RunStatus.RUNNING:
            return record
        message = (
            f"ingest_svc stopped during the run (stage {record.stage.name}) after writing its raw slice; "
            "FOCUS does not hold it yet and is repaired when focus_svc answers"
        )
        return replace(
            record,
            status=RunStatus.FAILED,
            error=RunError("ABORTED", "RUN_INTERRUPTED", message),
            raw_rows_written=record.raw_rows_written or raw.rows_of(record.run_id),
            raw_table_version=record.raw_table_version if record.raw_table_version is not None else (raw.table_version),
            finished_at=self._clock(),
            repair_pending=True,
        )

    def _superseded(self, record: RunRecord, newer: list[str]) -> RunRecord:
        by = f"run {', '.join(newer)}" if newer else "a newer run"
        message = f"{by} replaced this run's slice before FOCUS caught up with it; the newer data stands"
        return replace(
            record,
            status=RunStatus.FAILED,
            error=RunError("ABORTED", "SUPERSEDED", message),
            finished_at=record.finished_at or self._clock(),
            repair_pending=False,
        )

    def _gone(self, record: RunRecord) -> RunRecord:
        message = "the raw slice no longer holds this run's rows (the data was removed); nothing to repair"
        return replace(
            record,
            status=RunStatus.FAILED,
            error=RunError("FAILED_PRECONDITION", "RUN_DATA_GONE", message),
            finished_at=record.finished_at or self._clock(),
            repair_pending=False,
        )

    def _not_written(self, record: RunRecord) -> RunRecord:
        error = record.error
        if record.status is RunStatus.RUNNING or error is None:
            error = RunError(
                "ABORTED",
                "RUN_INTERRUPTED",
                f"ingest_svc stopped before the run wrote its raw slice (stage {record.stage.name}); "
                "the previous data was kept",
            )
        return replace(
            record,
            status=RunStatus.FAILED,
            error=error,
            finished_at=record.finished_at or self._clock(),
            repair_pending=False,
        )


def _raw_table(record: RunRecord) -> str:
    config = all_pipeline_configs().get(record.pipeline_id)
    if config is None:
        raise CloudactError(f"pipeline {record.pipeline_id!r} is no longer configured", reason="UNKNOWN_PIPELINE")
    return config.raw_schema


def _log_outcome(before: RunRecord, after: RunRecord) -> None:
    what = "repaired" if after.repaired and not before.repaired else after.status.name
    _logger.info(
        "reconcile: run %s (org=%s provider=%s credential=%s periods=%s) was %s, now %s%s",
        after.run_id,
        after.org_slug,
        after.provider,
        after.credential_id,
        ",".join(f"{p:%Y-%m}" for p in after.billing_periods),
        before.status.name,
        what,
        "" if after.error is None else f": {after.error.message}",
    )
