"""Which runs a slice of the raw or the FOCUS table holds, for the reconciler.

A run replaces its slice in one commit per table, so a slice holds the rows of exactly one run
when raw and FOCUS are in step. Reading ``x_run_id`` (and ``x_ingested_at``) over a slice tells
whether a run's raw write landed, whether a newer run replaced it, and whether FOCUS caught up.
Only the lineage and slice columns are read, in bounded batches, with the slice's conditions
pushed down to the store (``TableStore.read``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Protocol

import pyarrow as pa
import pyarrow.compute as pc

from cloudact_shared.naming import FOCUS_TABLE, dataset_name
from cloudact_shared.storage import Condition, TableStore


@dataclass(frozen=True)
class RunRows:
    """One run's rows in a slice: how many, and when that run started (its ``x_ingested_at``)."""

    rows: int
    ingested_at: datetime


@dataclass(frozen=True)
class SliceRuns:
    """The runs whose rows a slice holds, by run id; empty for an empty slice or a missing table."""

    runs: Mapping[str, RunRows]
    table_version: int | None

    def holds_only(self, run_id: str) -> bool:
        """Whether every row of the slice (and at least one) is ``run_id``'s."""
        return set(self.runs) == {run_id}

    def rows_of(self, run_id: str) -> int:
        found = self.runs.get(run_id)
        return 0 if found is None else found.rows

    def newer_than(self, started_at: datetime) -> list[str]:
        """Runs in the slice that started after ``started_at`` (so replaced the slice after it)."""
        return sorted(run for run, rows in self.runs.items() if rows.ingested_at > started_at)


@dataclass(frozen=True)
class RunSlice:
    """One run's slice: org, provider, canonical credential id and billing months."""

    org_slug: str
    provider: str
    credential_id: str
    periods: Sequence[date]


class SliceInspector(Protocol):
    """Reads which runs a run's raw and FOCUS slices hold."""

    async def raw_runs(self, key: RunSlice, raw_table: str) -> SliceRuns:
        """The runs in the raw slice (``x_credential_id`` + ``billing_period``) of ``raw_table``."""
        ...

    async def focus_runs(self, key: RunSlice) -> SliceRuns:
        """The runs in the FOCUS slice (``x_source_provider`` + ``x_credential_id`` + ``BillingPeriodStart``)."""
        ...


class TableSliceInspector:
    """Reads the run ids in a run's raw and FOCUS slices through the TableStore's Arrow scan."""

    def __init__(self, store: TableStore) -> None:
        self._store = store

    async def raw_runs(self, key: RunSlice, raw_table: str) -> SliceRuns:
        """The runs in the raw slice (``x_credential_id`` + ``billing_period``) of ``raw_table``."""
        where = [Condition("x_credential_id", "=", key.credential_id), Condition("billing_period", "in", key.periods)]
        return await asyncio.to_thread(self._runs, key, raw_table, where, _raw_filter(key))

    async def focus_runs(self, key: RunSlice) -> SliceRuns:
        """The runs in the FOCUS slice (``x_source_provider`` + ``x_credential_id`` + ``BillingPeriodStart``)."""
        # The read narrows to the months' span (pushed down to the store); _focus_filter is exact.
        first = datetime.combine(min(key.periods), time(), UTC)
        after = datetime.combine(max(key.periods) + timedelta(days=32), time(), UTC)
        where = [
            Condition("x_source_provider", "=", key.provider),
            Condition("x_credential_id", "=", key.credential_id),
            Condition("BillingPeriodStart", ">=", first),
            Condition("BillingPeriodStart", "<", after),
        ]
        return await asyncio.to_thread(self._runs, key, FOCUS_TABLE, where, _focus_filter(key))

    def _runs(self, key: RunSlice, table: str, where: list[Condition], predicate: pc.Expression) -> SliceRuns:
        dataset = dataset_name(key.org_slug)
        if not self._store.table_exists(dataset, table):
            return SliceRuns({}, None)
        version = self._store.version(dataset, table)
        columns = ["x_run_id", "x_ingested_at", *{c.column for c in where}]
        counts: dict[str, int] = {}
        started: dict[str, datetime] = {}
        for batch in self._store.read(dataset, table, columns=columns, where=where):
            rows = pa.table(batch).filter(predicate)
            if rows.num_rows == 0:
                continue
            grouped = rows.group_by("x_run_id").aggregate([("x_run_id", "count"), ("x_ingested_at", "max")])
            for run_id, rows, ingested_at in zip(
                grouped.column("x_run_id").to_pylist(),
                grouped.column("x_run_id_count").to_pylist(),
                grouped.column("x_ingested_at_max").to_pylist(),
                strict=True,
            ):
                counts[run_id] = counts.get(run_id, 0) + int(rows)
                seen = _utc(ingested_at)
                started[run_id] = max(started.get(run_id, seen), seen)
        return SliceRuns({run: RunRows(counts[run], started[run]) for run in counts}, version)


def _raw_filter(key: RunSlice) -> pc.Expression:
    periods = pa.array(list(key.periods), pa.date32())
    return (pc.field("x_credential_id") == key.credential_id) & pc.field("billing_period").isin(periods)


def _focus_filter(key: RunSlice) -> pc.Expression:
    # The FOCUS slice key casts BillingPeriodStart (UTC) to DATE, as focus_svc's replace_slice does.
    periods = pa.array(list(key.periods), pa.date32())
    months = pc.field("BillingPeriodStart").cast(pa.date32()).isin(periods)
    return (pc.field("x_source_provider") == key.provider) & (pc.field("x_credential_id") == key.credential_id) & months


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
