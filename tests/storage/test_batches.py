"""fixed_size_tables regroups a stream without copying; read_ahead keeps order, errors and clean-up."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pyarrow as pa
import pytest

from cloudact_shared.storage.batches import fixed_size_tables, read_ahead


def _numbers(*sizes: int) -> Iterator[pa.RecordBatch]:
    start = 0
    for size in sizes:
        yield pa.record_batch({"n": pa.array(range(start, start + size), pa.int64())})
        start += size


def test_tables_have_exactly_the_asked_rows_and_keep_every_row_in_order() -> None:
    tables = list(fixed_size_tables(_numbers(3, 0, 10, 1, 7), 4))

    assert [t.num_rows for t in tables] == [4, 4, 4, 4, 4, 1]
    assert pa.concat_tables(tables).column("n").to_pylist() == list(range(21))


def test_tables_are_views_of_the_incoming_batches() -> None:
    [source] = list(_numbers(8))
    first, second = fixed_size_tables(iter([source]), 4)

    values = source.column(0).buffers()[1]
    assert values is not None
    for table in (first, second):
        buffer = table.column(0).chunk(0).buffers()[1]
        assert buffer is not None and buffer.address == values.address  # the same memory, offset by the slice


def test_an_empty_stream_gives_no_table_and_a_bad_size_is_refused() -> None:
    assert list(fixed_size_tables(_numbers(), 4)) == []
    with pytest.raises(ValueError, match="positive"):
        list(fixed_size_tables(_numbers(1), 0))


def test_read_ahead_yields_everything_in_order_from_another_thread() -> None:
    threads: set[str] = set()

    def source() -> Iterator[int]:
        for n in range(5):
            threads.add(threading.current_thread().name)
            yield n

    assert list(read_ahead(source())) == [0, 1, 2, 3, 4]
    assert threads and threading.current_thread().name not in threads


def test_read_ahead_raises_the_sources_error_and_stops_when_closed() -> None:
    def failing() -> Iterator[int]:
        yield 1
        raise OSError("broken stream")

    with pytest.raises(OSError, match="broken stream"):
        list(read_ahead(failing()))

    pulled: list[int] = []

    def counted() -> Iterator[int]:
        for n in range(100):
            pulled.append(n)
            yield n

    ahead = read_ahead(counted())
    assert next(ahead) == 0
    ahead.close()  # waits for the read in flight, and reads no further
    assert pulled == [0, 1]
