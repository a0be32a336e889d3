"""Concurrent writers of one Delta table: every slice lands, nothing is lost or doubled."""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import threading
from decimal import Decimal
from pathlib import Path
from typing import Any

import grpc
import pytest
from deltalake import DeltaTable

from cloudact_shared.errors import Aborted
from cloudact_shared.storage import embedded
from cloudact_shared.storage.embedded import EmbeddedTableStore
from tests.storage import workers
from tests.storage.helpers import (
    DATASET,
    DAY_1,
    THINGS,
    batch,
    ever_committed,
    live_files,
    markers,
    parquet_on_disk,
    reader,
    totals,
)

CREDENTIALS = [f"cred-{i}" for i in range(6)]


def _seed_every_slice_in_one_file(store: EmbeddedTableStore) -> None:
    """One file holding a row of every credential: each replacement must rewrite the others' rows."""
    store.replace_slice(
        DATASET, THINGS, {"x_credential_id": CREDENTIALS}, reader(*(batch(c, 3, 1000) for c in CREDENTIALS))
    )


def _expected(index: int) -> tuple[int, Decimal]:
    rows, amount = 10 + index, index + 1
    return rows, Decimal(rows * amount)


async def test_threads_replacing_different_slices_of_one_table_all_succeed(tmp_path: Path) -> None:
    store = EmbeddedTableStore(tmp_path)
    _seed_every_slice_in_one_file(store)

    def replace(index: int) -> int:
        rows, _ = _expected(index)
        credential = CREDENTIALS[index]
        return store.replace_slice(
            DATASET, THINGS, {"x_credential_id": credential}, reader(batch(credential, rows, index + 1))
        )

    # As the services do it: the event loop hands each write to a worker thread.
    versions = await asyncio.gather(*(asyncio.to_thread(replace, i) for i in range(len(CREDENTIALS))))

    assert totals(store) == {c: _expected(i) for i, c in enumerate(CREDENTIALS)}
    assert sorted(versions) == list(range(2, 2 + len(CREDENTIALS)))  # one commit each
    assert live_files(tmp_path) <= parquet_on_disk(tmp_path) == ever_committed(tmp_path)
    assert markers(tmp_path) == []


def test_threads_that_all_read_the_same_version_retry_their_conflicts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Without the in-process lock, as writers in separate processes would: every commit but one conflicts."""
    store = EmbeddedTableStore(tmp_path)
    _seed_every_slice_in_one_file(store)
    monkeypatch.setattr(embedded, "_table_lock", lambda root: threading.Lock())
    barrier = threading.Barrier(len(CREDENTIALS))
    first_attempt = threading.local()
    unslice = embedded._unslice

    def unslice_in_step(*args: Any) -> Any:
        if not getattr(first_attempt, "done", False):
            first_attempt.done = True
            barrier.wait(timeout=60)
        return unslice(*args)

    monkeypatch.setattr(embedded, "_unslice", unslice_in_step)
    errors: list[BaseException] = []

    def replace(index: int) -> None:
        rows, _ = _expected(index)
        credential = CREDENTIALS[index]
        try:
            store.replace_slice(
                DATASET, THINGS, {"x_credential_id": credential}, reader(batch(credential, rows, index + 1))
            )
        except BaseException as exc:
            errors.append(exc)
            raise

    caplog.set_level(logging.INFO, logger=embedded.__name__)
    threads = [threading.Thread(target=replace, args=(i,)) for i in range(len(CREDENTIALS))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert errors == []
    assert totals(store) == {c: _expected(i) for i, c in enumerate(CREDENTIALS)}
    retries = [r for r in caplog.records if "commit conflict" in r.getMessage()]
    assert len(retries) >= len(CREDENTIALS) - 1
    # The rewrites of every lost attempt were deleted again: only committed files remain on disk
    # (the seed file and the rewrites of replaced versions stay until a vacuum, as time travel).
    assert parquet_on_disk(tmp_path) == ever_committed(tmp_path)
    assert markers(tmp_path) == []


def test_processes_replacing_different_slices_of_one_new_table_all_succeed(tmp_path: Path) -> None:
    """Three processes create the table at once, read the same version, and each commit conflicts but one."""
    context = multiprocessing.get_context("spawn")
    count = 3
    barrier = context.Barrier(count)
    conflicts = context.Queue()
    processes = [
        context.Process(
            target=workers.replace_after_barrier,
            args=(tmp_path, CREDENTIALS[i], _expected(i)[0], i + 1, barrier, conflicts),
        )
        for i in range(count)
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=180)

    assert [p.exitcode for p in processes] == [0] * count
    store = EmbeddedTableStore(tmp_path)
    assert totals(store) == {CREDENTIALS[i]: _expected(i) for i in range(count)}
    assert sum(conflicts.get(timeout=5) for _ in range(count)) >= count - 1
    assert markers(tmp_path) == []


def test_ensure_table_from_many_threads_at_once_creates_it_once(tmp_path: Path) -> None:
    store = EmbeddedTableStore(tmp_path)
    barrier = threading.Barrier(8)
    errors: list[BaseException] = []

    def create() -> None:
        barrier.wait(timeout=30)
        try:
            store.ensure_table(DATASET, THINGS)
        except BaseException as exc:
            errors.append(exc)
            raise

    threads = [threading.Thread(target=create) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    assert store.version(DATASET, "things") == 0


def test_a_conflict_that_never_clears_surfaces_as_aborted_and_keeps_the_previous_data(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = EmbeddedTableStore(tmp_path)
    store.replace_slice(DATASET, THINGS, {"x_credential_id": "a"}, reader(batch("a", 4, 2), batch("b", 3, 5)))
    before = parquet_on_disk(tmp_path)
    commit = DeltaTable.create_write_transaction

    def lose_every_race(table: DeltaTable, *args: Any, **kwargs: Any) -> None:
        # A real competing commit lands first, every time.
        commit(DeltaTable(table.table_uri), [], mode="append", schema=THINGS.arrow_schema())
        commit(table, *args, **kwargs)

    monkeypatch.setattr(DeltaTable, "create_write_transaction", lose_every_race)
    monkeypatch.setattr(embedded, "_COMMIT_ATTEMPTS", 3)
    monkeypatch.setattr(embedded, "_BACKOFF_FIRST_SECONDS", 0.001)

    with pytest.raises(Aborted, match=r"writing acme_prod\.things failed: concurrent commits") as caught:
        # Replacing "a" rewrites the shared file's "b" rows on every attempt.
        store.replace_slice(DATASET, THINGS, {"x_credential_id": "a"}, reader(batch("a", 9, 9, day=DAY_1)))

    assert caught.value.code == grpc.StatusCode.ABORTED and caught.value.retryable
    assert totals(store) == {"a": (4, Decimal(8)), "b": (3, Decimal(15))}
    assert parquet_on_disk(tmp_path) == before
    assert markers(tmp_path) == []
