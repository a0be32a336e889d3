"""One pipeline run as its steps: resolve the credential, list, download, stage, replace raw, convert.

``PipelineRun`` is built per run (by ``service.PipelineRunner``, under the run's slice lock, in
its claimed scratch directory) and ``PipelineRun.events`` drives the steps in order: a progress
event announces each step, then the step checks the caller's deadline and does its work. The
staging step is also ``cloudact convert``'s (``adapters/staging.py``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Protocol

from cloudact_providers.connector import Connector, ResolvedCredential, SourceObject
from cloudact_providers.registry import registration
from cloudact_shared.errors import DeadlineExceeded, FailedPrecondition, FieldViolation, InvalidArgument
from cloudact_shared.lineage import Lineage
from cloudact_shared.naming import dataset_name
from cloudact_shared.storage import SliceKey, TableStore, read_schema
from ingest_svc.adapters.focus import ConversionResult
from ingest_svc.adapters.staging import StagedFiles, stage_files
from ingest_svc.adapters.staging_query import ExportFile
from ingest_svc.config import PipelineConfig
from ingest_svc.model import Progress, RunResult, Stage
from ingest_svc.recorder import RunRecorder


class CredentialSource(Protocol):
    """Decrypts a credential (credential_svc's DecryptCredential)."""

    async def decrypt(self, org_slug: str, credential_id: str, *, timeout: float) -> ResolvedCredential: ...


class ConvertsToFocus(Protocol):
    """Converts a run's raw slice to FOCUS (focus_svc's ConvertToFocus), with the run's lineage."""

    async def convert(
        self, org_slug: str, provider: str, lineage: Lineage, periods: Sequence[date], *, timeout: float
    ) -> ConversionResult: ...


CredentialCheck = Callable[[str, Mapping[str, str], Mapping[str, str]], object]
"""Validates a decrypted credential (provider, config, secret) before a connector is built from
it; raises a CloudactError naming what is wrong (never a secret value)."""


@dataclass(frozen=True)
class RunEnvironment:
    """What every run of the process uses: the tables, credential_svc, focus_svc and DuckDB's limits."""

    store: TableStore
    credentials: CredentialSource
    focus: ConvertsToFocus
    check_credential: CredentialCheck
    batch_rows: int
    """Rows per Arrow batch when streaming into tables."""
    memory_limit: str
    """DuckDB's memory limit while staging."""


class Deadline:
    """The caller's deadline, handed down as a timeout to each downstream call."""

    def __init__(self, seconds: float) -> None:
        self._end = time.monotonic() + seconds

    def remaining(self, what: str) -> float:
        """Seconds left before ``what``.

        Raises:
            DeadlineExceeded: none are left; nothing is written past this point.
        """
        left = self._end - time.monotonic()
        if left <= 0:
            raise DeadlineExceeded(f"deadline exceeded before {what}; nothing was written after that point")
        return left


class PipelineRun:
    """One run of a pipeline: a method per step, and ``events`` to run them in order."""

    def __init__(
        self, env: RunEnvironment, config: PipelineConfig, recorder: RunRecorder, deadline: Deadline, work_dir: Path
    ) -> None:
        """Prepares the run recorded in ``recorder`` (org, provider, lineage, billing months).

        Args:
            env: What every run uses.
            config: The run's pipeline.
            recorder: The run's record, which the raw commit updates.
            deadline: The caller's deadline.
            work_dir: The run's claimed scratch directory (downloads, staging, spill).
        """
        self._env = env
        self._config = config
        self._recorder = recorder
        self._deadline = deadline
        self._work_dir = work_dir
        self._org_slug = recorder.record.org_slug
        self._lineage = recorder.record.lineage
        self._periods = list(recorder.record.billing_periods)
        self._months = ", ".join(f"{p:%Y-%m}" for p in self._periods)

    async def events(self) -> AsyncIterator[Progress | RunResult]:
        """Runs every step in order, announcing each; the last event is the run's result."""
        started = time.monotonic()
        files: list[ExportFile] = []
        async for event in self._read_source(files):
            yield event
        staged = await self.stage(files)
        yield Progress(
            Stage.READING_SOURCE,
            self._parsed(staged, len(files)),
            rows_read=staged.rows_read,
            rows_quarantined=staged.rows_quarantined,
        )
        yield Progress(
            Stage.WRITING_RAW, f"replacing {self._config.raw_schema} for {self._months}", rows_read=staged.rows_read
        )
        raw_version = await self.replace_raw(staged, len(files))
        yield Progress(Stage.CONVERTING_TO_FOCUS, f"converting {staged.rows_good} raw rows to FOCUS 1.3")
        converted = await self.convert()
        yield Progress(Stage.DONE, f"wrote {converted.focus_rows_written} FOCUS rows")
        yield self._result(len(files), staged, raw_version, converted, time.monotonic() - started)

    async def _read_source(self, files: list[ExportFile]) -> AsyncIterator[Progress]:
        """Resolves the credential, lists the export and downloads it into ``files``.

        The only steps that need the plaintext secret: the credential and the connector built from
        it live in this generator's frame alone, which ends with the downloads, so the secret is
        not kept through staging and conversion.
        """
        yield Progress(Stage.RESOLVING_CREDENTIAL, f"decrypting credential {self._lineage.credential_id}")
        credential = await self.resolve_credential()
        yield Progress(
            Stage.LISTING_SOURCE, f"run {self._lineage.run_id}: reading the export manifests for {self._months}"
        )
        async with registration(self._config.provider).connector_factory()(credential) as source:
            for index, obj in enumerate(await self.list_source(source)):
                yield Progress(Stage.READING_SOURCE, f"downloading {obj.uri} ({obj.size} bytes)", obj.uri)
                files.append(await self.download(source, index, obj))

    async def resolve_credential(self) -> ResolvedCredential:
        """Decrypts the run's credential and checks it before any connector sees it.

        Raises:
            InvalidArgument: the credential is another provider's.
            CloudactError: credential_svc's error, or the credential check's (e.g. an endpoint
                override that is not allowed).
        """
        credential = await self._env.credentials.decrypt(
            self._org_slug, self._lineage.credential_id, timeout=self._deadline.remaining("decrypting the credential")
        )
        if credential.provider != self._config.provider:
            raise InvalidArgument(
                f"credential {self._lineage.credential_id} is for provider {credential.provider!r}, "
                f"not {self._config.provider!r}",
                reason="CREDENTIAL_PROVIDER_MISMATCH",
                violations=[FieldViolation("credential_id", "belongs to another provider")],
            )
        # A credential must not point the pipeline anywhere it likes.
        self._env.check_credential(credential.provider, credential.config, credential.secret)
        return credential

    async def list_source(self, source: Connector) -> list[SourceObject]:
        """The files of the latest delivery of each of the run's months."""
        self._deadline.remaining("listing the export")
        return await source.list_objects(self._periods)

    async def download(self, source: Connector, index: int, obj: SourceObject) -> ExportFile:
        """Downloads one file of the export into the run's directory."""
        self._deadline.remaining(f"downloading {obj.uri}")
        local = self._work_dir / f"{index:05d}-{Path(obj.key).name}"
        await source.download(obj, local)
        return ExportFile(local, obj.uri, obj.billing_period)

    async def stage(self, files: Sequence[ExportFile]) -> StagedFiles:
        """Parses and checks every row of ``files`` into local staging files (``stage_files``).

        Raises:
            FailedPrecondition: the manifests name no file, or a file cannot be read.
        """
        if not files:
            raise FailedPrecondition(f"the manifests for {self._months} name no data files", reason="EMPTY_DELIVERY")
        self._deadline.remaining("staging the downloaded files")
        return await asyncio.to_thread(
            stage_files,
            files,
            self._lineage,
            self._work_dir,
            read_schema(self._config.raw_schema_path),
            registration(self._config.provider).raw_select_builder(),
            memory_limit=self._env.memory_limit,
            batch_rows=self._env.batch_rows,
        )

    async def replace_raw(self, staged: StagedFiles, files_read: int) -> int:
        """Replaces the run's quarantine and raw slices and records the raw commit; returns its version.

        The write runs in a worker thread that a cancellation cannot stop: were the run recorded
        and its slice lock released before the thread finished, a commit landing afterwards would
        be unknown to the run log and to the reconciler. A cancellation therefore waits for the
        write to settle and records it if it landed.
        """
        self._deadline.remaining("writing the raw table")
        write = asyncio.ensure_future(asyncio.to_thread(self._write_raw, staged))
        try:
            version = await asyncio.shield(write)
        except asyncio.CancelledError:
            await asyncio.wait([write])
            if not write.cancelled() and write.exception() is None:
                await self._recorder.raw_written(write.result(), files_read, staged)
            raise
        await self._recorder.raw_written(version, files_read, staged)
        return version

    async def convert(self) -> ConversionResult:
        """Has focus_svc convert the run's raw slice to FOCUS, with the run's lineage."""
        return await self._env.focus.convert(
            self._org_slug,
            self._config.provider,
            self._lineage,
            self._periods,
            timeout=self._deadline.remaining("converting to FOCUS"),
        )

    def _write_raw(self, staged: StagedFiles) -> int:
        """Replaces the quarantine slice, then the raw slice (each one atomic commit)."""
        dataset = dataset_name(self._org_slug)
        slice_key: SliceKey = {"x_credential_id": self._lineage.credential_id, "billing_period": self._periods}
        quarantine_schema = read_schema(self._config.quarantine_schema_path)
        # Keyed by run and step: a retried step finds the earlier attempt's writes instead of redoing them.
        run = self._lineage.run_id
        self._env.store.replace_slice(
            dataset,
            quarantine_schema,
            slice_key,
            staged.quarantined_rows(quarantine_schema),
            job_key=f"{run}/quarantine",
        )
        raw_schema = read_schema(self._config.raw_schema_path)
        return self._env.store.replace_slice(
            dataset, raw_schema, slice_key, staged.good_rows(self._env.batch_rows), job_key=f"{run}/raw"
        )

    def _parsed(self, staged: StagedFiles, files_read: int) -> str:
        """What staging found, for the progress event."""
        parsed = f"parsed {staged.rows_read} rows from {files_read} files"
        if not staged.rows_read:
            # Header-only files: the export's own way of saying the period has no charges.
            return f"{parsed}: the export holds no rows for {self._months}, whose slice is replaced with none"
        return f"{parsed}; {staged.rows_quarantined} quarantined"

    def _result(
        self, files_read: int, staged: StagedFiles, raw_version: int, converted: ConversionResult, seconds: float
    ) -> RunResult:
        return RunResult(
            lineage=self._lineage,
            billing_periods=self._periods,
            files_read=files_read,
            rows_read=staged.rows_read,
            raw_rows_written=staged.rows_good,
            rows_quarantined=staged.rows_quarantined,
            quarantine=staged.quarantine,
            focus_rows_written=converted.focus_rows_written,
            raw_table_version=raw_version,
            focus_table_version=converted.focus_table_version,
            duration_seconds=seconds,
        )
