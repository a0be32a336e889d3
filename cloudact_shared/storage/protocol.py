"""The TableStore protocol a storage backend implements (today the embedded Delta Lake one)."""

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

        Writers of other slices of the same table may run at the same time, from threads or other
        processes: each one's slice ends up replaced. A write that loses the race to commit is
        redone on the newer version, with back-off, a bounded number of times.

        Raises:
            Aborted: concurrent commits kept conflicting with this one; nothing was written and
                the call can be retried.
            FailedPrecondition: the write failed (bad data, storage error); previous rows kept.
        """
        ...

    def recover_abandoned_writes(self) -> int:
        """Deletes the files of writes whose writer died before finishing (e.g. killed), in every table.

        Safe to call at any time from any process, also while other processes write: the files of a
        write in progress and every file a table version names are left alone. Returns the number
        of files deleted (0 for a backend that writes no local files).
        """
        ...

    def vacuum(self, dataset: str, table: str, *, retention_hours: int) -> int:
        """Deletes the files that commits removed more than ``retention_hours`` ago; returns how many.

        The current version's files and the files of writes in progress are never deleted, and
        every version committed within the retention stays readable (time travel); readers of an
        older version may fail once it is vacuumed. A table that does not exist has nothing to delete.

        Raises:
            Aborted: concurrent commits kept conflicting with the vacuum's own; retryable.
        """
        ...

    def list_tables(self) -> list[tuple[str, str]]:
        """Every existing table as (dataset, table), sorted."""
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
