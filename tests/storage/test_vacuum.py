"""Vacuum deletes the files replaced slices left behind, never a live, recent or in-flight one."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from deltalake import DeltaTable
from deltalake.exceptions import CommitFailedError

from cloudact_shared.storage import embedded
from cloudact_shared.storage.embedded import EmbeddedTableStore
from tests.storage.helpers import (
    DATASET,
    DAY_1,
    THINGS,
    batch,
    ever_committed,
    live_files,
    parquet_on_disk,
    reader,
    stream,
    table_root,
    totals,
)


def _replace_a_few_times(store: EmbeddedTableStore) -> None:
    store.replace_slice(DATASET, THINGS, {"x_credential_id": ["a", "b"]}, reader(batch("a", 10, 1), batch("b", 4, 2)))
    for amount in (3, 4, 5):
        store.replace_slice(DATASET, THINGS, {"x_credential_id": "a"}, reader(batch("a", amount, amount)))


def test_vacuum_with_no_retention_leaves_exactly_the_live_files_and_the_same_rows(tmp_path: Path) -> None:
    store = EmbeddedTableStore(tmp_path)
    _replace_a_few_times(store)
    before = totals(store)
    assert len(parquet_on_disk(tmp_path)) > len(live_files(tmp_path))

    deleted = store.vacuum(DATASET, "things", retention_hours=0)

    assert deleted > 0
    assert parquet_on_disk(tmp_path) == live_files(tmp_path)
    assert totals(store) == before == {"a": (5, Decimal(25)), "b": (4, Decimal(8))}
    assert store.scan(DATASET, "things").count_rows() == 9
    assert store.vacuum(DATASET, "things", retention_hours=0) == 0


def test_vacuum_with_a_long_retention_keeps_every_version_readable(tmp_path: Path) -> None:
    store = EmbeddedTableStore(tmp_path)
    _replace_a_few_times(store)
    on_disk = parquet_on_disk(tmp_path)

    assert store.vacuum(DATASET, "things", retention_hours=168) == 0

    assert parquet_on_disk(tmp_path) == on_disk == ever_committed(tmp_path)
    first = DeltaTable(str(table_root(tmp_path)), version=1).to_pyarrow_table()
    assert first.num_rows == 14  # time travel to the first write still works


def test_vacuum_never_touches_the_files_of_a_write_in_flight(tmp_path: Path) -> None:
    store = EmbeddedTableStore(tmp_path, batch_rows=7)  # a row group per batch, written once read
    _replace_a_few_times(store)
    halfway, resume = threading.Event(), threading.Event()

    def rows() -> Iterator[pa.RecordBatch]:
        yield batch("b", 7, 1, day=DAY_1)
        # Read ahead while the batch before is written (into the same file): once this one is
        # taken, that one is written.
        yield batch("b", 7, 1, day=DAY_1)
        halfway.set()
        resume.wait(timeout=60)

    writer = threading.Thread(
        target=store.replace_slice, args=(DATASET, THINGS, {"x_credential_id": "b"}, stream(rows()))
    )
    writer.start()
    try:
        assert halfway.wait(timeout=60)
        in_flight = parquet_on_disk(tmp_path) - ever_committed(tmp_path)
        assert in_flight

        assert store.vacuum(DATASET, "things", retention_hours=0) > 0
        assert parquet_on_disk(tmp_path) == live_files(tmp_path) | in_flight
    finally:
        resume.set()
        writer.join(timeout=60)
    assert totals(store) == {"a": (5, Decimal(25)), "b": (14, Decimal(14))}
    assert live_files(tmp_path) <= parquet_on_disk(tmp_path)


def test_a_vacuum_that_hits_a_commit_conflict_retries(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = EmbeddedTableStore(tmp_path)
    _replace_a_few_times(store)
    vacuum = DeltaTable.vacuum
    calls: list[int] = []

    def conflict_once(table: DeltaTable, *args: Any, **kwargs: Any) -> list[str]:
        calls.append(1)
        if len(calls) == 1:
            raise CommitFailedError("Failed to commit transaction: Metadata changed since last commit.")
        return vacuum(table, *args, **kwargs)

    monkeypatch.setattr(DeltaTable, "vacuum", conflict_once)
    monkeypatch.setattr(embedded, "_BACKOFF_FIRST_SECONDS", 0.001)

    assert store.vacuum(DATASET, "things", retention_hours=0) > 0
    assert len(calls) == 3  # the conflict, then a dry run and the vacuum on the latest version
    assert parquet_on_disk(tmp_path) == live_files(tmp_path)


def test_a_write_whose_files_a_vacuum_deleted_under_it_is_redone_on_the_newer_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Between a writer's reload and its read of the slice, another process commits and vacuums."""
    store = EmbeddedTableStore(tmp_path)
    store.replace_slice(DATASET, THINGS, {"x_credential_id": ["a", "b"]}, reader(batch("a", 10, 1), batch("b", 4, 2)))
    monkeypatch.setattr(embedded, "_table_lock", lambda root: threading.Lock())  # as if in two processes
    unslice = embedded._unslice
    raced: list[int] = []

    def others_first(*args: Any) -> Any:
        if not raced:
            raced.append(1)
            store.replace_slice(DATASET, THINGS, {"x_credential_id": "b"}, reader(batch("b", 6, 3)))
            raced.append(store.vacuum(DATASET, "things", retention_hours=0))
        return unslice(*args)

    monkeypatch.setattr(embedded, "_unslice", others_first)
    monkeypatch.setattr(embedded, "_BACKOFF_FIRST_SECONDS", 0.001)

    store.replace_slice(DATASET, THINGS, {"x_credential_id": "a"}, reader(batch("a", 2, 7)))

    assert raced == [1, 1]  # the shared file the writer had read was vacuumed under it
    assert totals(store) == {"a": (2, Decimal(14)), "b": (6, Decimal(18))}


def test_vacuum_of_a_table_that_does_not_exist_deletes_nothing(tmp_path: Path) -> None:
    assert EmbeddedTableStore(tmp_path).vacuum(DATASET, "things", retention_hours=0) == 0


def test_list_tables_names_the_tables_and_nothing_else(tmp_path: Path) -> None:
    store = EmbeddedTableStore(tmp_path)
    assert store.list_tables() == []
    store.ensure_table("acme_prod", THINGS)
    store.ensure_table("zeta_prod", THINGS)
    (tmp_path / "tmp" / "run-1234-abcd").mkdir(parents=True)  # work dirs, secrets: not tables
    (tmp_path / "secrets").mkdir()
    (tmp_path / "acme_prod" / "half_made").mkdir()

    assert store.list_tables() == [("acme_prod", "things"), ("zeta_prod", "things")]
