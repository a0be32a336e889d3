"""The embedded backend: Delta Lake tables under $CLOUDACT_DATA_DIR/{dataset}/{table}."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as pads
from deltalake import DeltaTable, write_deltalake
from deltalake.exceptions import DeltaError, TableNotFoundError

from cloudact_shared.errors import FailedPrecondition
from cloudact_shared.naming import ORG_SLUG_PATTERN
from cloudact_shared.storage.protocol import SliceKey, SliceValue, StoreCapabilities
from cloudact_shared.storage.schema import TableSchema


class EmbeddedTableStore:
    """Delta Lake tables on local disk; DuckDB reads them through Arrow datasets."""

    capabilities = StoreCapabilities(sql_dialect="duckdb", supports_procedures=False, max_identifier_length=255)

    def __init__(self, data_dir: Path) -> None:
        self._root = data_dir

    def _path(self, dataset: str, table: str) -> Path:
        # Dataset and table names are validated before they reach a path (no "..", no "/").
        if not ORG_SLUG_PATTERN.fullmatch(dataset.removesuffix("_prod")) or not table.isidentifier():
            raise ValueError(f"invalid table {dataset}.{table}")
        return self._root / dataset / table

    def ensure_table(self, dataset: str, schema: TableSchema) -> None:
        path = self._path(dataset, schema.table)
        if self.table_exists(dataset, schema.table):
            return
        path.mkdir(parents=True, exist_ok=True)
        DeltaTable.create(
            str(path),
            schema=schema.arrow_schema(),
            partition_by=list(schema.partition_by) or None,
            name=schema.table,
            description=schema.description,
        )

    def replace_slice(self, dataset: str, schema: TableSchema, slice_key: SliceKey, data: pa.RecordBatchReader) -> int:
        self.ensure_table(dataset, schema)
        table = DeltaTable(str(self._path(dataset, schema.table)))
        # One Delta commit: the predicate's rows are removed and the new files added together.
        try:
            write_deltalake(
                table,
                data,
                mode="overwrite",
                predicate=slice_predicate(slice_key),
                partition_by=list(schema.partition_by) or None,
            )
        except DeltaError as exc:
            # Nothing was committed: Delta writes are all-or-nothing. Say which table and why.
            raise FailedPrecondition(
                f"writing {dataset}.{schema.table} failed, previous data kept: {exc}".split("\n")[0],
                reason="TABLE_WRITE_FAILED",
            ) from exc
        table.update_incremental()
        return table.version()

    def scan(self, dataset: str, table: str) -> pads.Dataset:
        return DeltaTable(str(self._path(dataset, table))).to_pyarrow_dataset()

    def version(self, dataset: str, table: str) -> int | None:
        try:
            return DeltaTable(str(self._path(dataset, table))).version()
        except TableNotFoundError:
            return None

    def table_exists(self, dataset: str, table: str) -> bool:
        return DeltaTable.is_deltatable(str(self._path(dataset, table)))


def slice_predicate(slice_key: SliceKey) -> str:
    """Renders a slice key as a Delta (DataFusion SQL) predicate with quoted names and literals."""
    if not slice_key:
        raise ValueError("a slice key needs at least one column")
    clauses = []
    for column, value in slice_key.items():
        if not column.replace("_", "").isalnum():
            raise ValueError(f"invalid column name {column!r}")
        values: Sequence[SliceValue] = [value] if isinstance(value, str | date) else value
        if not values:
            raise ValueError(f"slice column {column} has no values")
        if all(isinstance(v, date) for v in values):
            literals = ", ".join(f"DATE '{v.isoformat()}'" for v in values)  # type: ignore[union-attr]
            clauses.append(f'CAST("{column}" AS DATE) IN ({literals})')
        else:
            literals = ", ".join(_quote(str(v)) for v in values)
            clauses.append(f'"{column}" IN ({literals})')
    return " AND ".join(clauses)


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"
