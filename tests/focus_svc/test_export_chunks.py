"""ExportFocus cuts record batches by size: no message outgrows a client's receive limit."""

from __future__ import annotations

import pyarrow as pa

from focus_svc.server import IPC_CHUNK_BYTES, ipc_chunks


def _wide_batch(rows: int) -> pa.RecordBatch:
    tags = ["{" + ",".join(f'"team{i}":"value-{n}-{i}"' for i in range(40)) + "}" for n in range(rows)]
    return pa.record_batch({"Tags": pa.array(tags), "BilledCost": pa.array(range(rows), pa.int64())})


def test_a_large_batch_is_sent_in_chunks_under_the_limit_with_every_row_once() -> None:
    batch = _wide_batch(20_000)
    assert batch.nbytes > 3 * IPC_CHUNK_BYTES

    chunks = list(ipc_chunks(batch, IPC_CHUNK_BYTES))

    assert len(chunks) > 3
    assert all(len(chunk) <= IPC_CHUNK_BYTES * 1.05 for chunk in chunks)
    stream = pa.BufferOutputStream()
    with pa.ipc.new_stream(stream, batch.schema) as writer:
        for chunk in chunks:
            writer.write_batch(pa.ipc.read_record_batch(pa.py_buffer(chunk), batch.schema))
    rebuilt = pa.ipc.open_stream(stream.getvalue()).read_all()
    assert rebuilt.equals(pa.Table.from_batches([batch]))


def test_a_small_batch_is_one_message() -> None:
    batch = _wide_batch(10)
    assert [len(c) for c in ipc_chunks(batch, IPC_CHUNK_BYTES)] == [len(batch.serialize())]
