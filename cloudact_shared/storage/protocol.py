"""The TableStore protocol every storage backend implements (embedded Delta, BigQuery)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Literal, Protocol

import pyarrow as pa
import pyarrow.dataset as pads

from cloudact_shared.storage.schema import TableSchema

SliceValue = str | date
SliceKey = Mapping[str, SliceValue | Sequence[str] | Sequence[date]]
"""Column -> value (or values) that together select one run's slice of a table.
A value that is a ``date`` matches the column cast to DATE (so it works on TIMESTAMP columns)."""


@dataclass(frozen=True)
class StoreCapabilities:
    """What a backend can do; code reads these flags instead of testing the backend's name."""

    sql_dialect: Literal["duckdb", "bigquery"]
    supports_procedures: bool
    max_identifier_length: int


class TableStore(Protocol):
    """Tables grouped in per-organisation datasets ({org_slug}_prod).

    Every method is synchronous (backends are blocking client libraries); async callers run them
    with ``asyncio.to_thread``.
    """

    capabilities: StoreCapabilities

    def ensure_table(self, dataset: str, schema: TableSchema) -> None:
        """Creates the table if it does not exist (idempotent)."""
        ...

    def replace_slice(self, dataset: str, schema: TableSchema, slice_key: SliceKey, data: pa.RecordBatchReader) -> int:
        """Atomically replaces every row matching ``slice_key`` with ``data``.

        The whole slice is replaced or nothing is: readers never see a half-written slice, and a
        failure leaves the previous rows in place. ``data`` is consumed as a stream, so a slice
        larger than memory can be written. Returns the table version after the write.
        """
        ...

    def scan(self, dataset: str, table: str) -> pads.Dataset:
        """A lazy Arrow dataset over the table's current version (filters push down)."""
        ...

    def relation_sql(self, dataset: str, schema: TableSchema) -> str:
        """A table expression in ``capabilities.sql_dialect`` that reads the table's current version
        with exactly the schema's columns (for DuckDB: a read_parquet over the version's files)."""
        ...

    def version(self, dataset: str, table: str) -> int | None:
        """The table's current version, or None when it does not exist."""
        ...

    def table_exists(self, dataset: str, table: str) -> bool:
        """Whether the table exists."""
        ...
