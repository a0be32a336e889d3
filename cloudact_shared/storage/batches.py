"""Arrow streams cut into pieces of a fixed row count, whatever sizes their producer hands over.

A producer's batch sizes are its own: DuckDB's Arrow stream yields what each of its pipelines made
(measured: 2,048 to ~9,600 rows for 16,384 asked), a Parquet file yields its row groups. Writing
each batch as it comes would make row groups of any size, and holding a producer's batch whole
would tie memory to it; cut to a fixed count, both are set by the memory plan alone.
"""

from __future__ import annotations

from collections.abc import Generator, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import pyarrow as pa

_T = TypeVar("_T")
_END = object()


def fixed_size_tables(batches: Iterable[pa.RecordBatch], rows: int) -> Iterator[pa.Table]:
    """``batches`` regrouped as tables of exactly ``rows`` rows each (the last one may be shorter).

    The tables are views (slices) of the incoming batches: nothing is copied, and at most one
    table's rows, plus the rest of the batch being cut, are held at a time.

    Raises:
        ValueError: ``rows`` is not positive.
    """
    if rows < 1:
        raise ValueError(f"rows must be positive, not {rows}")
    held: list[pa.RecordBatch] = []
    count = 0
    for batch in batches:
        offset = 0
        while offset < batch.num_rows:
            take = min(rows - count, batch.num_rows - offset)
            held.append(batch.slice(offset, take))
            count += take
            offset += take
            if count == rows:
                yield pa.Table.from_batches(held)
                held, count = [], 0
    if held:
        yield pa.Table.from_batches(held)


def read_ahead(batches: Iterable[_T]) -> Generator[_T, None, None]:
    """``batches``, the next one read in a worker thread while the caller handles the current one.

    Decoding (Parquet, DuckDB) and encoding (Parquet) release the GIL, so a reader and a writer
    overlap on two cores; one batch more is alive meanwhile.
    """
    source = iter(batches)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="read-ahead") as worker:
        pending = worker.submit(next, source, _END)
        while (item := pending.result()) is not _END:
            pending = worker.submit(next, source, _END)
            yield item  # type: ignore[misc]
