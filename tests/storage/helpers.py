"""A small partitioned table, its rows and checks, shared by the storage tests and their subprocesses."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path

import duckdb
import pyarrow as pa
from deltalake import DeltaTable

from cloudact_shared.storage.embedded import EmbeddedTableStore
from cloudact_shared.storage.schema import Column, TableSchema

DATASET = "acme_prod"
JAN, FEB = date(2025, 1, 1), date(2025, 2, 1)
DAY_1, DAY_2 = date(2026, 11, 22), date(2026, 11, 23)

THINGS = TableSchema(
    table="things",
    description="",
    columns=(
        Column("billing_period", "DATE", True, ""),
        Column("x_credential_id", "STRING", True, ""),
        Column("amount", "DECIMAL(38,12)", True, ""),
        Column("labels", "MAP<STRING,STRING>", True, ""),
        Column("ingestion_date", "DATE", True, ""),
    ),
    partition_by=("ingestion_date",),
    sort_by=(),
)


def batch(credential: str, rows: int, amount: int, *, day: date = DAY_2, month: date = JAN) -> pa.RecordBatch:
    """``rows`` rows of one credential, month and ingestion day, each worth ``amount``."""
    table = pa.Table.from_pylist(
        [
            {
                "billing_period": month,
                "x_credential_id": credential,
                "amount": amount,
                "labels": None,
                "ingestion_date": day,
            }
            for _ in range(rows)
        ],
        schema=THINGS.arrow_schema(),
    )
    return table.combine_chunks().to_batches()[0]


def reader(*batches: pa.RecordBatch) -> pa.RecordBatchReader:
    return pa.RecordBatchReader.from_batches(THINGS.arrow_schema(), list(batches))


def stream(batches: Iterator[pa.RecordBatch]) -> pa.RecordBatchReader:
    return pa.RecordBatchReader.from_batches(THINGS.arrow_schema(), batches)


def totals(store: EmbeddedTableStore) -> dict[str, tuple[int, Decimal]]:
    """Per credential: row count and sum of amount, read through DuckDB over the current version."""
    sql = f"SELECT x_credential_id, count(*), sum(amount) FROM {store.relation_sql(DATASET, THINGS)} GROUP BY ALL"
    return {c: (int(n), Decimal(str(s))) for c, n, s in duckdb.connect().execute(sql).fetchall()}


def table_root(data_dir: Path, table: str = "things") -> Path:
    return data_dir / DATASET / table


def parquet_on_disk(data_dir: Path, table: str = "things") -> set[str]:
    """Every Parquet file in the table folder, relative to it."""
    root = table_root(data_dir, table)
    return {p.relative_to(root).as_posix() for p in root.rglob("*.parquet") if "_delta_log" not in p.parts}


def live_files(data_dir: Path, table: str = "things") -> set[str]:
    """The files of the table's current version, relative to the table folder."""
    root = table_root(data_dir, table)
    return {Path(uri.removeprefix("file://")).relative_to(root).as_posix() for uri in DeltaTable(str(root)).file_uris()}


def markers(data_dir: Path, table: str = "things") -> list[Path]:
    return sorted((table_root(data_dir, table) / "_pending_writes").glob("*.lock"))


def ever_committed(data_dir: Path, table: str = "things") -> set[str]:
    """The files of every version of the table (what time travel may still read)."""
    root = table_root(data_dir, table)
    latest = DeltaTable(str(root)).version()
    return {
        Path(uri).relative_to(root).as_posix()
        for version in range(latest + 1)
        for uri in DeltaTable(str(root), version=version).file_uris()
    }
