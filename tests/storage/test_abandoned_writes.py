"""Files of writers killed before their commit are found by their marker and deleted; nothing else is."""

from __future__ import annotations

import fcntl
import multiprocessing
import os
import threading
import time
import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pytest

from cloudact_shared.storage.embedded import EmbeddedTableStore
from tests.storage import workers
from tests.storage.helpers import (
    DATASET,
    DAY_1,
    THINGS,
    batch,
    ever_committed,
    markers,
    parquet_on_disk,
    reader,
    stream,
    table_root,
    totals,
)


def _wait_for(path: Path, process: multiprocessing.process.BaseProcess, seconds: float = 120) -> None:
    give_up = time.monotonic() + seconds
    while not path.exists():
        assert process.is_alive(), f"the writer exited early with {process.exitcode}"
        assert time.monotonic() < give_up, "the writer never got going"
        time.sleep(0.05)


def test_the_files_of_a_killed_writer_are_deleted_by_recovery_and_nothing_else(tmp_path: Path) -> None:
    data = tmp_path / "data"
    store = EmbeddedTableStore(data)
    store.replace_slice(DATASET, THINGS, {"x_credential_id": "a"}, reader(batch("a", 10, 1), batch("b", 4, 2)))
    committed = parquet_on_disk(data)
    context = multiprocessing.get_context("spawn")
    ready = tmp_path / "ready"
    writer = context.Process(target=workers.write_then_hang, args=(data, ready))
    writer.start()
    try:
        _wait_for(ready, writer)
        orphans = parquet_on_disk(data) - committed
        assert len(orphans) == 2  # one per partition, both still open
        assert len(markers(data)) == 1

        # While the writer lives, its write is left alone (its lock is held by another process).
        assert store.recover_abandoned_writes() == 0
        assert parquet_on_disk(data) == committed | orphans
    finally:
        writer.kill()  # SIGKILL: no clean-up code runs
        writer.join(timeout=30)
    assert writer.exitcode == -9
    assert parquet_on_disk(data) == committed | orphans

    assert store.recover_abandoned_writes() == len(orphans)

    assert parquet_on_disk(data) == committed
    assert markers(data) == []
    assert totals(store) == {"a": (10, Decimal(10)), "b": (4, Decimal(8))}
    assert store.recover_abandoned_writes() == 0
    store.replace_slice(DATASET, THINGS, {"x_credential_id": "a"}, reader(batch("a", 3, 5)))
    assert totals(store) == {"a": (3, Decimal(15)), "b": (4, Decimal(8))}


def test_a_writer_killed_after_its_commit_keeps_its_rows_and_only_its_marker_goes(tmp_path: Path) -> None:
    store = EmbeddedTableStore(tmp_path)
    store.replace_slice(DATASET, THINGS, {"x_credential_id": "a"}, reader(batch("a", 10, 1), batch("b", 4, 2)))
    writer = multiprocessing.get_context("spawn").Process(target=workers.commit_then_die, args=(tmp_path,))
    writer.start()
    writer.join(timeout=120)
    assert writer.exitcode == -9
    assert len(markers(tmp_path)) == 1  # abandoned after the commit
    on_disk = parquet_on_disk(tmp_path)

    assert store.recover_abandoned_writes() == 0

    assert markers(tmp_path) == []
    assert parquet_on_disk(tmp_path) == on_disk == ever_committed(tmp_path)
    assert totals(store) == {"a": (5, Decimal(15)), "b": (4, Decimal(8))}


def test_recovery_leaves_a_write_in_progress_in_this_process_alone(tmp_path: Path) -> None:
    store = EmbeddedTableStore(tmp_path, batch_rows=6)  # a row group per batch, written once read
    store.replace_slice(DATASET, THINGS, {"x_credential_id": "a"}, reader(batch("a", 10, 1)))
    halfway, resume = threading.Event(), threading.Event()

    def rows() -> Iterator[pa.RecordBatch]:
        yield batch("a", 6, 2, day=DAY_1)
        yield batch("a", 6, 2)
        # Read ahead while the batch before is written: once this one is taken, that one is written.
        yield batch("a", 6, 2)
        halfway.set()
        resume.wait(timeout=60)

    writer = threading.Thread(
        target=store.replace_slice, args=(DATASET, THINGS, {"x_credential_id": "a"}, stream(rows()))
    )
    writer.start()
    try:
        assert halfway.wait(timeout=60)
        in_flight = parquet_on_disk(tmp_path) - ever_committed(tmp_path)
        assert len(in_flight) == 2

        assert store.recover_abandoned_writes() == 0
        assert in_flight <= parquet_on_disk(tmp_path)
    finally:
        resume.set()
        writer.join(timeout=60)
    assert totals(store) == {"a": (18, Decimal(36))}
    assert parquet_on_disk(tmp_path) == ever_committed(tmp_path)


def test_unmarked_files_are_deleted_only_when_old_and_never_when_the_log_names_them(tmp_path: Path) -> None:
    """Files of code older than the markers: a day's grace, and committed files (even replaced ones) stay."""
    store = EmbeddedTableStore(tmp_path)
    store.replace_slice(DATASET, THINGS, {"x_credential_id": "a"}, reader(batch("a", 10, 1)))
    store.replace_slice(DATASET, THINGS, {"x_credential_id": "a"}, reader(batch("a", 2, 1)))  # the first is replaced
    folder = next(p for p in table_root(tmp_path).iterdir() if p.name.startswith("ingestion_date="))
    old_orphan, new_orphan = (folder / f"part-{uuid.uuid4().hex}-00000.zstd.parquet" for _ in range(2))
    old_orphan.write_bytes(b"half a file")
    new_orphan.write_bytes(b"half a file")
    two_days_ago = time.time() - 2 * 24 * 3600
    for path in [old_orphan, *(table_root(tmp_path) / p for p in ever_committed(tmp_path))]:
        os.utime(path, (two_days_ago, two_days_ago))

    assert store.recover_abandoned_writes() == 1

    assert not old_orphan.exists() and new_orphan.exists()
    assert parquet_on_disk(tmp_path) - {new_orphan.relative_to(table_root(tmp_path)).as_posix()} == ever_committed(
        tmp_path
    )
    assert totals(store) == {"a": (2, Decimal(2))}


def test_a_marker_swept_before_its_writer_could_lock_it_makes_the_writer_claim_a_new_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The instant between a marker's creation and its lock: a recovery may take it; the write still works."""
    store = EmbeddedTableStore(tmp_path)
    store.ensure_table(DATASET, THINGS)
    flock = fcntl.flock
    swept: list[list[Path]] = []

    def recovery_runs_first(fd: int, operation: int) -> None:
        if operation == fcntl.LOCK_EX and not swept:  # the writer's blocking lock of its new marker
            swept.append(markers(tmp_path))
            assert store.recover_abandoned_writes() == 0
        flock(fd, operation)

    monkeypatch.setattr(fcntl, "flock", recovery_runs_first)
    store.replace_slice(DATASET, THINGS, {"x_credential_id": "a"}, reader(batch("a", 3, 1)))

    assert len(swept[0]) == 1 and not swept[0][0].exists()  # taken and removed by the recovery
    assert totals(store) == {"a": (3, Decimal(3))}
    assert markers(tmp_path) == []
