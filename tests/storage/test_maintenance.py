"""The maintenance loop vacuums the tables it is given, survives a failing table, stops promptly."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from cloudact_shared.errors import Aborted
from cloudact_shared.storage.embedded import EmbeddedTableStore
from cloudact_shared.storage.maintenance import maintain_once, run_maintenance
from cloudact_shared.storage.schema import TableSchema
from tests.storage.helpers import DATASET, THINGS, batch, live_files, parquet_on_disk, reader

OTHER = TableSchema("others", "", THINGS.columns, THINGS.partition_by, ())


class _CountingStore(EmbeddedTableStore):
    """The embedded store, counting vacuums; vacuuming ``failing`` raises like a lasting conflict."""

    def __init__(self, data_dir: Path, failing: str = "") -> None:
        super().__init__(data_dir)
        self.vacuumed: list[str] = []
        self._failing = failing

    def vacuum(self, dataset: str, table: str, *, retention_hours: int) -> int:
        self.vacuumed.append(table)
        if table == self._failing:
            raise Aborted(f"vacuuming {dataset}.{table} failed: concurrent commits conflicted")
        return super().vacuum(dataset, table, retention_hours=retention_hours)


def _with_replaced_files(store: EmbeddedTableStore) -> None:
    for schema in (THINGS, OTHER):
        for amount in (1, 2, 3):
            store.replace_slice(DATASET, schema, {"x_credential_id": "a"}, reader(batch("a", 5, amount)))


async def test_the_loop_vacuums_the_selected_tables_at_once_and_stops_promptly(tmp_path: Path) -> None:
    store = _CountingStore(tmp_path)
    _with_replaced_files(store)
    others_before = parquet_on_disk(tmp_path, "others")
    stop = asyncio.Event()
    task = asyncio.create_task(
        run_maintenance(
            store, stop, interval_hours=24, retention_hours=0, select=lambda dataset, table: table == "things"
        )
    )
    give_up = time.monotonic() + 30
    while not store.vacuumed:
        assert time.monotonic() < give_up
        await asyncio.sleep(0.02)

    started = time.monotonic()
    stop.set()
    await asyncio.wait_for(task, timeout=10)

    assert time.monotonic() - started < 5
    assert store.vacuumed == ["things"]
    assert parquet_on_disk(tmp_path) == live_files(tmp_path)
    assert parquet_on_disk(tmp_path, "others") == others_before


async def test_the_loop_runs_a_round_every_interval(tmp_path: Path) -> None:
    store = _CountingStore(tmp_path)
    store.ensure_table(DATASET, THINGS)
    stop = asyncio.Event()
    task = asyncio.create_task(run_maintenance(store, stop, interval_hours=0.1 / 3600, retention_hours=0))
    give_up = time.monotonic() + 30
    while len(store.vacuumed) < 3:
        assert time.monotonic() < give_up
        await asyncio.sleep(0.02)
    stop.set()
    await asyncio.wait_for(task, timeout=10)


async def test_an_interval_of_zero_means_never(tmp_path: Path) -> None:
    store = _CountingStore(tmp_path)
    _with_replaced_files(store)
    on_disk = parquet_on_disk(tmp_path)

    await asyncio.wait_for(run_maintenance(store, asyncio.Event(), interval_hours=0, retention_hours=0), timeout=5)

    assert store.vacuumed == []
    assert parquet_on_disk(tmp_path) == on_disk


async def test_a_table_that_fails_is_logged_and_the_others_are_still_vacuumed(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = _CountingStore(tmp_path, failing="others")
    _with_replaced_files(store)

    deleted = await maintain_once(store, retention_hours=0)

    assert store.vacuumed == ["others", "things"]
    assert deleted == 2  # the two replaced files of "things"
    assert parquet_on_disk(tmp_path) == live_files(tmp_path)
    assert any("vacuuming acme_prod.others failed" in r.getMessage() for r in caplog.records)
