"""The TableStore protocol a storage backend implements (the embedded Delta Lake one, BigQuery)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Literal, Protocol

import pyarrow as pa
import pyarrow.dataset as pads

from cloudact_shared.storage.schema import TableSchema

SliceValue = str | date
SliceKey = Mapping[str, SliceValue | Sequence[str] | Sequence[date]]
"""Column -> value (or values) that together select one run's slice of a table.
A value that is a ``date`` matches the column cast to DATE (so it works on TIMESTAMP columns)."""


ConditionScalar = str | int | date | datetime | Decimal
ConditionOp = Literal["=", "in", ">=", "<"]


@dataclass(frozen=True)
class Condition:
    """One pushed-down filter of ``TableStore.read``: ``column op value``.

    ``value`` is a scalar for "=", ">=" and "<", and a sequence of scalars for "in". A NULL column
    value never matches. A ``datetime`` compares with a TIMESTAMP column and should be timezone-aware
    (a naive one is taken as UTC).
    """

    column: str
    op: ConditionOp
    value: ConditionScalar | Sequence[ConditionScalar]


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
        """Creates the table if it does not exist (idempotent); ``onboard`` of one table."""
        ...

    def onboard(self, dataset: str, schemas: Sequence[TableSchema]) -> None:
        """Creates the dataset if missing and every table of ``schemas`` in it (idempotent).

        An existing table is migrated additively where the backend can: a column the schema has and
        the table lacks is added (NULL in existing rows), descriptions follow the schema.

        Raises:
            FailedPrecondition: an existing column changed type or mode, or left the schema; nothing
                is ever dropped or retyped, the table is left as it was.
        """
        ...

    def replace_slice(
        self,
        dataset: str,
        schema: TableSchema,
        slice_key: SliceKey,
        data: pa.RecordBatchReader,
        *,
        job_key: str | None = None,
    ) -> int:
        """Atomically replaces every row matching ``slice_key`` with ``data``.

        ``job_key``: a caller-chosen id, unique per run and step (e.g. "{run_id}/raw"). A retried
        step with the same key is not applied twice: a backend whose jobs outlive the caller (BigQuery)
        finds the earlier attempt's jobs by their key and waits for them instead of running new ones.
        None: every call is a new write.

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
        """An Arrow dataset of the table's current version, with the schema's Arrow types.

        Lazy over local files for the embedded store (filters push down); held in memory for a
        remote one (BigQuery), so prefer ``read`` when only some columns or rows are needed.
        """
        ...

    def read(
        self, dataset: str, table: str, *, columns: Sequence[str] | None = None, where: Sequence[Condition] = ()
    ) -> pa.RecordBatchReader:
        """Streams the rows of the table's current version matching every condition of ``where``.

        Only ``columns`` are read, in the given order (None: every column, in table order); column
        selection and conditions are pushed down to the storage, and memory stays bounded
        to a few batches whatever the table's size.

        Raises:
            InvalidArgument: a column that is not in the table, or a condition's value that is not
                valid for its operator.
            NotFound: the table does not exist.
        """
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
