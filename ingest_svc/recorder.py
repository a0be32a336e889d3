"""A run's record in the run log, kept up to date from its first stage to its outcome."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime

from ingest_svc.adapters.runs import RunLog
from ingest_svc.adapters.staging import StagedFiles
from ingest_svc.model import Progress, RunError, RunRecord, RunResult, RunStatus, Stage

_logger = logging.getLogger(__name__)


class RunRecorder:
    """Keeps a run's record and writes every change of stage or outcome to the run log."""

    def __init__(self, runs: RunLog, record: RunRecord, clock: Callable[[], datetime]) -> None:
        self._runs = runs
        self.record = record
        self._clock = clock

    async def event(self, event: Progress | RunResult) -> None:
        """Records what an event of the run says: its stage, or its success."""
        if isinstance(event, RunResult):
            await self.succeeded(event)
        elif event.stage is not self.record.stage:
            await self._save(replace(self.record, stage=event.stage))

    async def raw_written(self, version: int, files_read: int, staged: StagedFiles) -> None:
        """Records the committed raw slice: from now on a failure leaves a repair for the reconciler."""
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
        """Records the run SUCCEEDED with its FOCUS write."""
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
        """Records the run FAILED with ``error``; never raises, since its caller must still hear of it.

        Once the raw slice is committed, FOCUS may or may not have caught up (a conversion cut off
        mid-call can still commit): the record asks the reconciler to check the tables and repair.
        """
        failed = replace(
            self.record,
            status=RunStatus.FAILED,
            error=error,
            finished_at=self._clock(),
            repair_pending=self.record.raw_table_version is not None,
        )
        try:
            await self._save(failed)
        except Exception:
            # The run log is closing or failing under us: the run stays RUNNING in it, and the
            # reconciler resolves it once this process is gone.
            _logger.exception("run %s: could not record its failure", self.record.run_id)

    async def _save(self, record: RunRecord) -> None:
        await self._runs.save(record)
        self.record = record
