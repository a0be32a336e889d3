"""replace_slice streams: a slice is read a fixed number of rows at a time, each written at once as
one row group, so neither memory nor row groups depend on the slice's size or on its producer's batches."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from cloudact_shared.settings import CloudactSettings
from cloudact_shared.storage import open_store
from cloudact_shared.storage.embedded import EmbeddedTableStore
from tests.storage.helpers import DATASET, THINGS, batch, live_files, stream, table_root, totals


def _row_groups(data_dir: Path) -> list[int]:
    """Rows per row group of every file of the table's current version."""
    root = table_root(data_dir)
    return sorted(
        pq.ParquetFile(root / name).metadata.row_group(i).num_rows
        for name in live_files(data_dir)
        for i in range(pq.ParquetFile(root / name).metadata.num_row_groups)
    )


def test_row_groups_have_the_batch_size_whatever_sizes_the_producer_hands_over(tmp_path: Path) -> None:
    store = EmbeddedTableStore(tmp_path, batch_rows=16)
    sizes = [7, 13, 1, 40, 3, 0, 16, 2]  # 82 rows

    produced = (batch("a", max(n, 1), 1).slice(0, n) for n in sizes)
    store.replace_slice(DATASET, THINGS, {"x_credential_id": "a"}, stream(produced))

    assert _row_groups(tmp_path) == [2, 16, 16, 16, 16, 16]
    assert totals(store) == {"a": (82, Decimal(82))}


def test_the_settings_memory_plan_sets_the_row_groups_of_the_configured_store(tmp_path: Path) -> None:
    store = open_store(CloudactSettings(data_dir=tmp_path, raw_batch_rows=2048))

    store.replace_slice(DATASET, THINGS, {"x_credential_id": "a"}, stream(iter([batch("a", 5000, 1)])))

    assert _row_groups(tmp_path) == [904, 2048, 2048]


def test_a_slice_many_times_the_batch_is_never_held_whole(tmp_path: Path) -> None:
    """The producer's batches are allocated from their own pool, so what the writer still holds of
    them is exact at every step: a bounded number of batches, not the slice read so far."""
    pool = pa.proxy_memory_pool(pa.default_memory_pool())
    rows, batches = 1000, 64
    held: list[int] = []

    def produced() -> Iterator[pa.RecordBatch]:
        for _ in range(batches):
            held.append(pool.bytes_allocated())
            yield _batch_in(pool, rows)

    store = EmbeddedTableStore(tmp_path, batch_rows=rows)
    store.replace_slice(DATASET, THINGS, {"x_credential_id": "a"}, stream(produced()))

    one_batch = _batch_in(pa.default_memory_pool(), rows).nbytes
    assert totals(store) == {"a": (rows * batches, Decimal(rows * batches))}
    # The batch being written, the one read ahead meanwhile, and at most one being joined.
    assert max(held) <= 3 * one_batch, f"held {max(held) / one_batch:.1f} batches of {batches}"


def _batch_in(pool: pa.MemoryPool, rows: int) -> pa.RecordBatch:
    """``rows`` rows of credential "a", worth 1 each, allocated from ``pool``."""
    schema = THINGS.arrow_schema()
    columns = {
        "billing_period": [date(2025, 1, 1)] * rows,
        "x_credential_id": ["a"] * rows,
        "amount": [Decimal(1)] * rows,
        "labels": [None] * rows,
        "ingestion_date": [date(2026, 11, 23)] * rows,
    }
    arrays = [pa.array(columns[f.name], f.type, memory_pool=pool) for f in schema]
    return pa.RecordBatch.from_arrays(arrays, schema=schema)
