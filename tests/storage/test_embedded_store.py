"""EmbeddedTableStore: slices are replaced whole, atomically, without touching other slices."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from cloudact_shared.errors import FailedPrecondition
from cloudact_shared.storage.embedded import EmbeddedTableStore
from cloudact_shared.storage.schema import Column, TableSchema, load_schema

DATASET = "acme_prod"


@pytest.fixture
def schema(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[TableSchema]:
    doc = {
        "table": "things",
        "partition_by": ["ingestion_date"],
        "columns": [
            {"name": "billing_period", "type": "DATE"},
            {"name": "x_credential_id", "type": "STRING"},
            {"name": "amount", "type": "DECIMAL(38,12)"},
            {"name": "labels", "type": "MAP<STRING,STRING>"},
            {"name": "ingestion_date", "type": "DATE"},
        ],
    }
    (tmp_path / "things.json").write_text(json.dumps(doc))
    monkeypatch.setattr("cloudact_shared.storage.schema.SCHEMA_DIR", tmp_path)
    load_schema.cache_clear()
    yield load_schema("things")
    load_schema.cache_clear()


def _rows(
    schema: TableSchema, credential: str, months: list[date], per_month: int, amount: int
) -> pa.RecordBatchReader:
    rows = [
        {
            "billing_period": m,
            "x_credential_id": credential,
            "amount": amount,
            "labels": [("k", "v")],
            "ingestion_date": date(2026, 11, 23),
        }
        for m in months
        for _ in range(per_month)
    ]
    table = pa.Table.from_pylist(rows, schema=schema.arrow_schema())
    return pa.RecordBatchReader.from_batches(table.schema, table.to_batches(max_chunksize=7))


def _totals(store: EmbeddedTableStore, schema: TableSchema) -> list[tuple[object, ...]]:
    relation = store.relation_sql(DATASET, schema)
    sql = f"SELECT x_credential_id, billing_period, count(*), sum(amount) FROM {relation} GROUP BY ALL ORDER BY ALL"
    return duckdb.connect().execute(sql).fetchall()


JAN, FEB = date(2025, 1, 1), date(2025, 2, 1)


def test_replacing_one_month_of_a_two_month_write_keeps_the_other_month(tmp_path: Path, schema: TableSchema) -> None:
    store = EmbeddedTableStore(tmp_path / "data")
    store.replace_slice(
        DATASET, schema, {"x_credential_id": "a", "billing_period": [JAN, FEB]}, _rows(schema, "a", [JAN, FEB], 10, 1)
    )
    store.replace_slice(
        DATASET, schema, {"x_credential_id": "b", "billing_period": [JAN]}, _rows(schema, "b", [JAN], 5, 3)
    )
    version = store.replace_slice(
        DATASET, schema, {"x_credential_id": "a", "billing_period": [JAN]}, _rows(schema, "a", [JAN], 4, 2)
    )

    assert version == 3
    assert [(c, p, n, float(str(s))) for c, p, n, s in _totals(store, schema)] == [
        ("a", JAN, 4, 8.0),
        ("a", FEB, 10, 10.0),
        ("b", JAN, 5, 15.0),
    ]
    # The pyarrow view of the same version agrees (the query service reads through it).
    assert store.scan(DATASET, "things").count_rows() == 19


def test_a_stream_that_fails_midway_leaves_the_table_and_its_folder_as_they_were(
    tmp_path: Path, schema: TableSchema
) -> None:
    store = EmbeddedTableStore(tmp_path / "data")
    store.replace_slice(
        DATASET, schema, {"x_credential_id": "a", "billing_period": [JAN]}, _rows(schema, "a", [JAN], 10, 1)
    )
    files_before = sorted(p for p in (tmp_path / "data").rglob("*.parquet"))

    def failing() -> Iterator[pa.RecordBatch]:
        yield from _rows(schema, "a", [JAN], 3, 9)
        raise pa.ArrowInvalid("source broke")

    with pytest.raises(FailedPrecondition, match="previous data kept"):
        store.replace_slice(
            DATASET,
            schema,
            {"x_credential_id": "a", "billing_period": [JAN]},
            pa.RecordBatchReader.from_batches(schema.arrow_schema(), failing()),
        )

    assert store.version(DATASET, "things") == 1
    assert [(c, n) for c, _, n, _ in _totals(store, schema)] == [("a", 10)]
    assert sorted(p for p in (tmp_path / "data").rglob("*.parquet")) == files_before


def test_an_empty_replacement_deletes_the_slice_and_an_empty_table_reads_as_typed_nothing(
    tmp_path: Path, schema: TableSchema
) -> None:
    store = EmbeddedTableStore(tmp_path / "data")
    store.ensure_table(DATASET, schema)
    assert _totals(store, schema) == []
    store.replace_slice(
        DATASET, schema, {"x_credential_id": "a", "billing_period": [JAN]}, _rows(schema, "a", [JAN], 2, 1)
    )
    store.replace_slice(
        DATASET, schema, {"x_credential_id": "a", "billing_period": [JAN]}, _rows(schema, "a", [JAN], 0, 1)
    )
    assert _totals(store, schema) == []


def test_a_batch_spanning_two_partitions_lands_in_both(tmp_path: Path, schema: TableSchema) -> None:
    store = EmbeddedTableStore(tmp_path / "data")
    rows = [
        {
            "billing_period": JAN,
            "x_credential_id": "a",
            "amount": i,
            "labels": None,
            "ingestion_date": date(2026, 11, 22 + i % 2),
        }
        for i in range(6)
    ]
    table = pa.Table.from_pylist(rows, schema=schema.arrow_schema())
    store.replace_slice(
        DATASET, schema, {"x_credential_id": "a"}, pa.RecordBatchReader.from_batches(table.schema, table.to_batches())
    )

    # Folders starting with "_" are the table's own (_delta_log, _pending_writes), not partitions.
    folders = sorted(p.name for p in (tmp_path / "data" / DATASET / "things").iterdir() if not p.name.startswith("_"))
    assert folders == ["ingestion_date=2026-11-22", "ingestion_date=2026-11-23"]
    read = store.scan(DATASET, "things").to_table().sort_by("amount")
    assert [int(v) for v in read.column("amount").to_pylist()] == list(range(6))
    assert [d.day for d in read.column("ingestion_date").to_pylist()] == [22, 23, 22, 23, 22, 23]


def test_a_column_added_to_the_schema_reads_as_null_in_the_rows_a_replacement_rewrites(
    tmp_path: Path, schema: TableSchema
) -> None:
    # A table written before a nullable column was added (the FOCUS table before x_model ...): replacing one
    # month of a two-month file rewrites the other month's rows, which lack the column, under the new schema.
    store = EmbeddedTableStore(tmp_path / "data")
    store.replace_slice(
        DATASET, schema, {"x_credential_id": "a", "billing_period": [JAN, FEB]}, _rows(schema, "a", [JAN, FEB], 3, 1)
    )
    added = Column("note", "STRING", True, "added later")
    wider = dataclasses.replace(schema, columns=(*schema.columns[:-1], added, schema.columns[-1]))
    table = pa.Table.from_pylist(
        [{**row, "note": "new"} for row in _rows(schema, "a", [JAN], 2, 5).read_all().to_pylist()],
        schema=wider.arrow_schema(),
    )
    store.replace_slice(DATASET, wider, {"x_credential_id": "a", "billing_period": [JAN]}, table.to_reader())

    read = duckdb.connect().execute(
        f"SELECT billing_period, note, count(*) FROM {store.relation_sql(DATASET, wider)} GROUP BY ALL ORDER BY ALL"
    )
    assert read.fetchall() == [(JAN, "new", 2), (FEB, None, 3)]
