"""Table schemas as JSON under sql/schemas/, and their Arrow form.

A schema file names the table, its partition and sort columns, and its columns with BigQuery-style
types (STRING, INT64, FLOAT64, BOOL, DATE, TIMESTAMP, DECIMAL(p,s), JSON, MAP<K,V>, ARRAY<T>), so
the same file can create a BigQuery table or a Delta table.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pyarrow as pa

SCHEMA_DIR = Path(__file__).resolve().parents[2] / "sql" / "schemas"
_DECIMAL = re.compile(r"^DECIMAL\((\d+),\s*(\d+)\)$")
_MAP = re.compile(r"^MAP<(.+?),\s*(.+)>$")
_ARRAY = re.compile(r"^ARRAY<(.+)>$")


@cache
def arrow_type(type_name: str) -> pa.DataType:
    """Translates a schema type name to its Arrow type."""
    # pyarrow here, not at the top: `cloudact convert` reads schemas but no Arrow (~0.05 s of its start-up).
    import pyarrow as pa

    simple = {
        "STRING": pa.string(),
        "JSON": pa.string(),
        "INT64": pa.int64(),
        "FLOAT64": pa.float64(),
        "BOOL": pa.bool_(),
        "DATE": pa.date32(),
        "TIMESTAMP": pa.timestamp("us", tz="UTC"),
    }
    name = type_name.strip().upper()
    if name in simple:
        return simple[name]
    if match := _DECIMAL.match(name):
        return pa.decimal128(int(match[1]), int(match[2]))
    if match := _MAP.match(name):
        return pa.map_(arrow_type(match[1]), arrow_type(match[2]))
    if match := _ARRAY.match(name):
        return pa.list_(arrow_type(match[1]))
    raise ValueError(f"unknown column type {type_name!r}")


_DUCKDB_SIMPLE = {
    "STRING": "VARCHAR",
    "JSON": "VARCHAR",
    "INT64": "BIGINT",
    "FLOAT64": "DOUBLE",
    "BOOL": "BOOLEAN",
    "DATE": "DATE",
    "TIMESTAMP": "TIMESTAMPTZ",
}


def duckdb_type(type_name: str) -> str:
    """Translates a schema type name to its DuckDB type."""
    name = type_name.strip().upper()
    if name in _DUCKDB_SIMPLE:
        return _DUCKDB_SIMPLE[name]
    if _DECIMAL.match(name):
        return name.replace(" ", "")
    if match := _MAP.match(name):
        return f"MAP({duckdb_type(match[1])}, {duckdb_type(match[2])})"
    if match := _ARRAY.match(name):
        return f"{duckdb_type(match[1])}[]"
    raise ValueError(f"unknown column type {type_name!r}")


@dataclass(frozen=True)
class Column:
    """One column of a table schema."""

    name: str
    type: str
    nullable: bool
    description: str


@dataclass(frozen=True)
class TableSchema:
    """A table's columns plus how it is partitioned and sorted."""

    table: str
    description: str
    columns: tuple[Column, ...]
    partition_by: tuple[str, ...]
    sort_by: tuple[str, ...]
    retention_days: int | None = None
    """Days a partition is kept (BigQuery's partition expiration); None: kept forever."""
    time_partition: tuple[str, str] | None = None
    """(column, DAY or MONTH): how a warehouse that partitions by time (BigQuery) partitions a table
    whose ``partition_by`` it cannot use as is; the embedded store ignores it. The FOCUS table is
    partitioned by month of ChargePeriodStart, the range every cost question filters on (a pipeline
    run's DELETE by BillingPeriodStart then rewrites only the months its rows sit in)."""

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    def arrow_schema(self) -> pa.Schema:
        """The Arrow schema; every column nullable in Arrow, NOT NULL is checked by the writers."""
        import pyarrow as pa

        return pa.schema([pa.field(c.name, arrow_type(c.type), nullable=True) for c in self.columns])


@cache
def load_schema(name: str) -> TableSchema:
    """Loads ``sql/schemas/{name}.json``."""
    return read_schema(SCHEMA_DIR / f"{name}.json")


@cache
def read_schema(path: Path) -> TableSchema:
    """Loads a table schema file (a provider's, found through its registration, may live elsewhere)."""
    doc = json.loads(path.read_text())
    columns = tuple(
        Column(c["name"], c["type"], c.get("mode", "NULLABLE") != "REQUIRED", c.get("description", ""))
        for c in doc["columns"]
    )
    return TableSchema(
        table=doc["table"],
        description=doc.get("description", ""),
        columns=columns,
        partition_by=tuple(doc.get("partition_by", [])),
        sort_by=tuple(doc.get("sort_by", [])),
        retention_days=doc.get("retention_days"),
        time_partition=_time_partition(doc.get("time_partition"), path),
    )


def _time_partition(spec: object, path: Path) -> tuple[str, str] | None:
    if spec is None:
        return None
    if not isinstance(spec, dict) or spec.get("granularity") not in ("DAY", "MONTH") or "column" not in spec:
        raise ValueError(f'{path}: time_partition is {{"column": NAME, "granularity": "DAY" or "MONTH"}}')
    return str(spec["column"]), str(spec["granularity"])
