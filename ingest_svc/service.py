"""The pipeline run: credential -> source listing -> download -> stage -> raw table -> FOCUS.

Plain async Python, no gRPC: the servicer turns these events into protobuf.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from enum import Enum
from pathlib import Path
from typing import Protocol

from cloudact_shared.errors import DeadlineExceeded, FailedPrecondition, FieldViolation, InvalidArgument
from cloudact_shared.lineage import Lineage
from cloudact_shared.naming import dataset_name, validate_org_slug, validate_provider
from cloudact_shared.storage import SliceKey, TableStore, load_schema
from ingest_svc.adapters.focus import ConversionResult
from ingest_svc.adapters.staging import StagedFiles, stage_files
from ingest_svc.config import PipelineConfig, pipeline_config
from ingest_svc.connectors.base import ResolvedCredential, SourceObject
from ingest_svc.connectors.registry import connector, source_factory


class Stage(Enum):
    RESOLVING_CREDENTIAL = 1
    LISTING_SOURCE = 2
    READING_SOURCE = 3
    WRITING_RAW = 4
    CONVERTING_TO_FOCUS = 5
    DONE = 6


@dataclass(frozen=True)
class Progress:
    stage: Stage
    message: str
    source_object: str = ""
    rows_read: int = 0
    rows_quarantined: int = 0
    at: datetime = field(default_factory=lambda: datetime.now(UTC))


@dataclass(frozen=True)
class RunResult:
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
class RunRequest:
    org_slug: str
    provider: str
    domain: str
    pipeline: str
    credential_id: str
    periods: list[date]
    """Billing months (first days); empty means the pipeline's revision window ending this month."""


class CredentialSource(Protocol):
    async def decrypt(self, org_slug: str, credential_id: str, *, timeout: float) -> ResolvedCredential: ...


class FocusConverter(Protocol):
    async def convert(
        self, org_slug: str, provider: str, lineage: Lineage, periods: Sequence[date], *, timeout: float
    ) -> ConversionResult: ...


class _Deadline:
    """The caller's deadline, handed down as a timeout to each downstream call."""

    def __init__(self, seconds: float) -> None:
        self._end = time.monotonic() + seconds

    def remaining(self, what: str) -> float:
        left = self._end - time.monotonic()
        if left <= 0:
            raise DeadlineExceeded(f"deadline exceeded before {what}; nothing was written after that point")
        return left


class PipelineRunner:
    """Runs pipelines; one run per (org, provider, credential) slice at a time."""

    def __init__(
        self,
        store: TableStore,
        credentials: CredentialSource,
        focus: FocusConverter,
        *,
        work_root: Path,
        batch_rows: int,
        memory_limit: str,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._store = store
        self._credentials = credentials
        self._focus = focus
        self._work_root = work_root
        self._batch_rows = batch_rows
        self._memory_limit = memory_limit
        self._clock = clock
        self._locks: dict[tuple[str, str, str], asyncio.Lock] = {}

    async def run(self, request: RunRequest, *, deadline_seconds: float) -> AsyncIterator[Progress | RunResult]:
        """Runs one pipeline, yielding progress and finally the result.

        Raises:
            CloudactError: for bad requests, rejected credentials, bad source data or a failed step;
                tables are then left as they were before the failing write.
        """
        config = _resolve_config(request)
        deadline = _Deadline(deadline_seconds)
        lock = self._locks.setdefault((request.org_slug, request.provider, request.credential_id), asyncio.Lock())
        async with lock:
            async for event in self._run_locked(request, config, deadline):
                yield event

    async def _run_locked(
        self, request: RunRequest, config: PipelineConfig, deadline: _Deadline
    ) -> AsyncIterator[Progress | RunResult]:
        started = time.monotonic()
        periods = request.periods or _revision_window(self._clock().date(), config.revision_window_months)
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
        lineage = Lineage.new_run(config.pipeline_id, request.credential_id, now=self._clock())
        work_dir = Path(tempfile.mkdtemp(prefix=f"run-{lineage.run_id}-", dir=self._mkdir_work_root()))
        run = self._ingest(request, config, credential, lineage, periods, deadline, started, work_dir)
        # The plaintext secret should live no longer than the source phase needs it: _ingest drops
        # its own reference once the downloads are done, so this frame must not keep one either.
        del credential
        try:
            async for event in run:
                yield event
        finally:
            shutil.rmtree(work_dir, ignore_errors=True)

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
        raw_version = await asyncio.to_thread(self._write_raw, request, config, staged, periods)
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

    def _write_raw(self, request: RunRequest, config: PipelineConfig, staged: StagedFiles, periods: list[date]) -> int:
        """Replaces the run's quarantine slice, then its raw slice (each one atomic commit)."""
        dataset = dataset_name(request.org_slug)
        slice_key: SliceKey = {"x_credential_id": request.credential_id, "billing_period": list(periods)}
        quarantine_schema = load_schema(config.quarantine_schema)
        self._store.replace_slice(dataset, quarantine_schema, slice_key, staged.quarantined_rows(quarantine_schema))
        raw_schema = load_schema(config.raw_schema)
        return self._store.replace_slice(dataset, raw_schema, slice_key, staged.good_rows(self._batch_rows))

    def _mkdir_work_root(self) -> Path:
        self._work_root.mkdir(parents=True, exist_ok=True)
        return self._work_root


def _resolve_config(request: RunRequest) -> PipelineConfig:
    validate_org_slug(request.org_slug)
    validate_provider(request.provider)
    if not request.credential_id:
        raise InvalidArgument("credential_id is required", violations=[FieldViolation("credential_id", "required")])
    return pipeline_config(request.provider, request.domain or "cost", request.pipeline or "billing")


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
