"""The domain values of a pipeline run: its request, stages, progress, result and run-log record.

Plain Python, no gRPC: the servicer turns these into protobuf, the run log into SQLite rows.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from enum import Enum

from cloudact_shared.errors import CloudactError
from cloudact_shared.lineage import Lineage


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
    scheduled_slot: datetime | None = None
    """The schedule slot the scheduler starts this run for: it is claimed (started once) in the run log."""


class Stage(Enum):
    """Where a run is; the values are the proto's Stage numbers."""

    RESOLVING_CREDENTIAL = 1
    LISTING_SOURCE = 2
    READING_SOURCE = 3
    WRITING_RAW = 4
    CONVERTING_TO_FOCUS = 5
    DONE = 6


class RunStatus(Enum):
    """Where a run's outcome stands; the values are the proto's RunStatus numbers."""

    RUNNING = 1
    SUCCEEDED = 2
    FAILED = 3


@dataclass(frozen=True)
class Progress:
    """One progress event of a run."""

    stage: Stage
    message: str
    source_object: str = ""
    rows_read: int = 0
    rows_quarantined: int = 0
    at: datetime = field(default_factory=lambda: datetime.now(UTC))


@dataclass(frozen=True)
class RunResult:
    """What a successful run did: the last message of its stream."""

    lineage: Lineage
    billing_periods: list[date]
    files_read: int
    rows_read: int
    raw_rows_written: int
    rows_quarantined: int
    quarantine: dict[str, int]
    focus_rows_written: int
    raw_table_version: int
    focus_table_version: int
    duration_seconds: float


@dataclass(frozen=True)
class RunError:
    """Why a run failed, as its caller was told: gRPC code name, ErrorInfo reason, message.

    Messages of CloudactErrors never hold secrets (errors.py), so they are safe to keep.
    """

    code: str
    reason: str
    message: str

    @classmethod
    def of(cls, exc: BaseException) -> RunError:
        """The record of ``exc``; an unexpected exception is recorded as generically as callers see it."""
        if isinstance(exc, CloudactError):
            return cls(exc.code.name, exc.reason, exc.message)
        return cls("INTERNAL", "INTERNAL", "internal error")


@dataclass(frozen=True)
class RunRecord:
    """One run as the run log keeps it. Ids, pipeline and start time come from the run's lineage."""

    org_slug: str
    provider: str
    lineage: Lineage
    billing_periods: tuple[date, ...]
    status: RunStatus
    stage: Stage
    owner: str
    """The ingest_svc process that ran it: a RUNNING run of another owner was orphaned by a kill."""
    error: RunError | None = None
    files_read: int = 0
    rows_read: int = 0
    raw_rows_written: int = 0
    rows_quarantined: int = 0
    quarantine: Mapping[str, int] = field(default_factory=dict)
    focus_rows_written: int = 0
    raw_table_version: int | None = None
    """Set once the run's raw slice is committed."""
    focus_table_version: int | None = None
    """Set once the run's FOCUS slice is committed."""
    finished_at: datetime | None = None
    repaired: bool = False
    """The reconciler, not the run, brought FOCUS in step with the run's raw slice."""
    repair_pending: bool = False
    """The run may have written its raw slice but FOCUS was not confirmed: the reconciler checks it."""
    scheduled_slot: datetime | None = None
    """The schedule slot the scheduler started the run for; None for a run started by hand."""

    @property
    def run_id(self) -> str:
        return self.lineage.run_id

    @property
    def credential_id(self) -> str:
        return self.lineage.credential_id

    @property
    def pipeline_id(self) -> str:
        return self.lineage.pipeline_id

    @property
    def started_at(self) -> datetime:
        return self.lineage.ingested_at
