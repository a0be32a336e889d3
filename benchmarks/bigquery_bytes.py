"""What the FOCUS and raw tables weigh in BigQuery, and what pipeline runs and dashboard queries scan.

Usage: python benchmarks/bigquery_bytes.py [--data-dir data] [--org acme] [--history-months 24]
Prints Markdown tables (docs/deploy-gcp.md shows them).

BigQuery bills on-demand queries by the *logical* bytes of every column they read, over every
partition they scan, whatever the rows' compression. This script reads an org's tables as the
embedded warehouse holds them (``make demo`` writes org ``acme`` under ``./data``), sizes every value
by BigQuery's data-size rules and derives from the measured bytes per row:

* per column and per table: logical bytes per row and per million rows;
* per pipeline run: the raw slice rewrite (DELETE + INSERT), then the statements of the procedure
  ``sp_cloud_1_convert_to_focus`` (focus_svc/bigquery.py): its counts of the raw and FOCUS slices, its
  INSERT ... SELECT (the raw columns the mapping reads, as DuckDB's own column pruning lists them in
  the conversion's plan) and its DELETE of the FOCUS slice, with and without partition pruning;
* per dashboard query: the columns a cost-by-service question reads over one month;
* a monthly estimate at 1M, 10M and 100M FOCUS rows a month.

Sizes (BigQuery's data size calculation): STRING 2 + UTF-8 bytes; INT64, FLOAT64, DATE, TIMESTAMP
8; NUMERIC 16; BIGNUMERIC 32; BOOL 1; a REPEATED field or RECORD the sum of its values; NULL 0. Our
schema types map as DECIMAL(p,s) -> NUMERIC when s <= 9 and p - s <= 29, else BIGNUMERIC; JSON ->
STRING (how the tables store it); MAP<K,V> -> REPEATED RECORD<key K, value V>; ARRAY<T> -> REPEATED T.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as pads
from deltalake import DeltaTable

from cloudact_providers.registry import PROVIDERS
from cloudact_shared.naming import FOCUS_TABLE, dataset_name, raw_table_name
from cloudact_shared.storage.schema import TableSchema, duckdb_type, load_schema, read_schema
from focus_svc import conversion

ROOT = Path(__file__).resolve().parent.parent
MIB = 2**20
GIB = 2**30
TIB = 2**40
PRICE_PER_TIB = 6.25
"""On-demand query price, US multi-region list price (issue 12; Google's list price since 2023-07-05)."""
FREE_TIB_PER_MONTH = 1.0
"""On-demand bytes free each month, per billing account."""
ACTIVE_STORAGE_PER_GIB = 0.02
"""Active logical storage, US multi-region, per GiB-month (long-term logical: half)."""
FREE_STORAGE_GIB = 10.0
SCENARIO_ROWS = (1_000_000, 10_000_000, 100_000_000)
SLICE_COLUMNS_RAW = ("x_credential_id", "billing_period", "x_run_id")
"""What focus_svc's slice predicate and its stale-run check read from the raw table."""
SLICE_COLUMNS_FOCUS = ("x_source_provider", "x_credential_id", "BillingPeriodStart")
"""The FOCUS slice key: a run's DELETE reads these."""
CHECK_COLUMNS_FOCUS = (*SLICE_COLUMNS_FOCUS, "x_run_id")
"""What the procedure's counts of the FOCUS slice read (rows outside the periods, rows written)."""
DASHBOARD_COLUMNS = (
    "ChargePeriodStart",
    "BilledCost",
    "EffectiveCost",
    "BillingCurrency",
    "x_source_provider",
    "ServiceName",
)
"""A cost-by-service-by-day question over a month."""
TAG_COLUMNS = (*DASHBOARD_COLUMNS, "Tags")
"""The same grouped by a tag."""


def value_bytes(array: pa.Array | pa.ChunkedArray) -> int:
    """Logical BigQuery bytes of every value of ``array`` (NULLs are 0)."""
    if isinstance(array, pa.ChunkedArray):
        return sum(value_bytes(chunk) for chunk in array.chunks)
    kind = array.type
    present = int(len(array) - array.null_count)
    if pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_binary(kind):
        lengths = pc.sum(pc.binary_length(array)).as_py() or 0
        return int(lengths) + 2 * present
    if pa.types.is_decimal(kind):
        numeric = int(kind.scale) <= 9 and int(kind.precision) - int(kind.scale) <= 29
        return (16 if numeric else 32) * present
    if pa.types.is_boolean(kind):
        return present
    if pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_temporal(kind):
        return 8 * present
    if pa.types.is_map(kind):
        # As a list of key/value structs, NULL maps dropped: flatten() keeps only this slice's entries.
        maps = array.drop_null()
        entries = pa.ListArray.from_arrays(maps.offsets, maps.values).flatten()
        return value_bytes(entries.field(0)) + value_bytes(entries.field(1))
    if pa.types.is_list(kind) or pa.types.is_large_list(kind):
        return value_bytes(array.flatten())
    if pa.types.is_struct(kind):
        return sum(value_bytes(array.field(i)) for i in range(kind.num_fields))
    raise ValueError(f"no BigQuery size rule for Arrow type {kind}")


def bigquery_type(schema_type: str) -> str:
    """The BigQuery type a schema type becomes (see the module docstring)."""
    name = schema_type.replace(" ", "").upper()
    if name.startswith("DECIMAL("):
        precision, scale = (int(part) for part in name[len("DECIMAL(") : -1].split(","))
        return "NUMERIC" if scale <= 9 and precision - scale <= 29 else "BIGNUMERIC"
    if name == "JSON":
        return "STRING"
    if name.startswith("MAP<"):
        return "REPEATED RECORD"
    if name.startswith("ARRAY<"):
        return "REPEATED"
    return name


@dataclass(frozen=True)
class TableBytes:
    """One table's measured rows and logical bytes per column."""

    table: str
    schema: TableSchema
    rows: int
    column_bytes: dict[str, int]
    column_present: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.column_bytes.values())

    def per_row(self, columns: Iterable[str] | None = None) -> float:
        """Mean logical bytes per row of ``columns`` (default: every column)."""
        names = self.column_bytes if columns is None else columns
        return sum(self.column_bytes[name] for name in names) / self.rows if self.rows else 0.0


def measure_table(path: Path, schema: TableSchema, max_rows: int | None) -> TableBytes:
    """Reads the Delta table at ``path`` (at most ``max_rows`` rows) and sizes every column."""
    dataset: pads.Dataset = DeltaTable(str(path)).to_pyarrow_dataset()
    sizes = dict.fromkeys(schema.column_names, 0)
    present = dict.fromkeys(schema.column_names, 0)
    rows = 0
    for batch in dataset.to_batches(columns=schema.column_names, batch_size=65_536):
        if max_rows is not None and rows + batch.num_rows > max_rows:
            batch = batch.slice(0, max_rows - rows)
        rows += batch.num_rows
        for name in schema.column_names:
            column = batch.column(name)
            sizes[name] += value_bytes(column)
            present[name] += len(column) - column.null_count
        if max_rows is not None and rows >= max_rows:
            break
    return TableBytes(schema.table, schema, rows, sizes, present)


def mapping_columns(provider: str) -> list[str]:
    """The raw columns the FOCUS conversion of ``provider`` reads, as DuckDB's optimizer prunes them.

    The mapping runs inside the FOCUS wrapper over an empty raw table; the plan's scans of it list
    the columns they project and filter on. Statistics propagation is off, so no branch is folded
    away because the table is empty.
    """
    schema = read_schema(PROVIDERS[provider].raw_schema_path)
    con = duckdb.connect()
    try:
        con.execute("SET disabled_optimizers = 'statistics_propagation'")
        conversion.prepare(con, [provider])
        columns = ", ".join(f'"{c.name}" {duckdb_type(c.type)}' for c in schema.columns)
        con.execute(f"CREATE TABLE raw_slice ({columns})")
        [(_, plan)] = con.execute(
            "EXPLAIN (FORMAT JSON) " + conversion.focus_select_sql(provider, "raw_slice")
        ).fetchall()
    finally:
        con.close()
    read: set[str] = set(SLICE_COLUMNS_RAW)
    for scan in _raw_scans(json.loads(plan)):
        projected = scan.get("Projections", [])
        read.update(
            [projected] if isinstance(projected, str) else map(str, projected if isinstance(projected, list) else [])
        )
        filters = json.dumps(scan.get("Filters", ""))
        read.update(name for name in schema.column_names if _names(filters, name))
    return [name for name in schema.column_names if name in read]


def _raw_scans(node: object) -> Iterable[dict[str, object]]:
    if isinstance(node, dict):
        extra = node.get("extra_info", {})
        if isinstance(extra, dict) and str(extra.get("Table", "")).endswith("raw_slice"):
            yield extra
        for value in node.values():
            yield from _raw_scans(value)
    elif isinstance(node, list):
        for value in node:
            yield from _raw_scans(value)


def _names(text: str, column: str) -> bool:
    """Whether ``column`` appears in ``text`` as a whole identifier."""
    return re.search(rf"(?<![A-Za-z0-9_]){re.escape(column)}(?![A-Za-z0-9_])", text) is not None


@dataclass(frozen=True)
class Profile:
    """Bytes per row the estimates use, measured on one org's tables."""

    raw_row: float
    """Raw bytes per raw row, every column (row-weighted over the providers measured)."""
    raw_mapping_row: float
    """Raw bytes per raw row of the columns the conversion reads."""
    raw_key_row: float
    """Raw bytes per raw row of the slice predicate's columns and x_run_id (the stale-run count)."""
    raw_per_focus_row: float
    """Raw rows per FOCUS row."""
    focus_row: float
    focus_key_row: float
    focus_check_row: float
    dashboard_row: float
    tag_row: float


def build_profile(raws: Sequence[tuple[TableBytes, list[str]]], focus: TableBytes) -> Profile:
    """Row-weighted means over the measured raw tables, and the FOCUS table's bytes per row."""
    raw_rows = sum(t.rows for t, _ in raws)
    if not raw_rows or not focus.rows:
        raise SystemExit("no rows to measure: run `make demo` (or point --data-dir/--org at a filled org)")
    return Profile(
        raw_row=sum(t.total for t, _ in raws) / raw_rows,
        raw_mapping_row=sum(t.per_row(cols) * t.rows for t, cols in raws) / raw_rows,
        raw_key_row=sum(t.per_row(SLICE_COLUMNS_RAW) * t.rows for t, _ in raws) / raw_rows,
        raw_per_focus_row=raw_rows / focus.rows,
        focus_row=focus.per_row(),
        focus_key_row=focus.per_row(SLICE_COLUMNS_FOCUS),
        focus_check_row=focus.per_row(CHECK_COLUMNS_FOCUS),
        dashboard_row=focus.per_row(DASHBOARD_COLUMNS),
        tag_row=focus.per_row(TAG_COLUMNS),
    )


@dataclass(frozen=True)
class RunBytes:
    """Bytes billed for one pipeline run replacing a month of ``rows`` FOCUS rows, per statement kind."""

    raw_replace: float
    """ingest_svc: DELETE of the old raw slice + INSERT of the new one from a loaded staging table."""
    checks: float
    """The procedure's counts: the raw slice (stale-run check), the FOCUS slice three times."""
    convert: float
    """The procedure's INSERT ... SELECT: the raw columns the mapping reads."""
    focus_delete: float
    """The procedure's DELETE of the old FOCUS slice."""

    @property
    def total(self) -> float:
        return self.raw_replace + self.checks + self.convert + self.focus_delete


@dataclass(frozen=True)
class Layout:
    """Which statements BigQuery prunes to the run's month, the others reading ``months`` of history."""

    name: str
    raw_pruned: bool
    """The raw slice found by its partition (the raw tables are partitioned by ingestion_date, which
    the slice predicate ``x_credential_id, billing_period`` does not name)."""
    focus_partitioned: bool
    """The FOCUS table has partitions: a DELETE is billed every column of those it changes only (a
    slice's rows sit in about one month), not of the whole table."""
    focus_slice_pruned: bool
    """The FOCUS slice's DELETE and count, by BillingPeriodStart, read only the month."""
    outside_pruned: bool
    """The procedure's two counts of the run's FOCUS rows outside its months read only the month."""
    dashboard_pruned: bool
    """A question's ChargePeriodStart range reads only its months."""


LAYOUTS = (
    Layout("every statement pruned to the month (a bound)", True, True, True, True, True),
    Layout("as built: FOCUS partitioned by month of ChargePeriodStart", False, True, False, False, True),
    Layout("FOCUS unpartitioned", False, False, False, False, False),
)


def run_bytes(p: Profile, rows: int, months: int, layout: Layout) -> RunBytes:
    """One run's on-demand bytes, statement by statement (focus_svc/bigquery.py's procedure).

    DML is billed as BigQuery states it: INSERT ... SELECT = the columns it reads; DELETE = the
    columns it references over the partitions it scans + every column of the partitions it changes.
    Loading the staging table is a free load job. A statement the ``layout`` does not prune reads
    ``months`` months of history.
    """
    raw_rows = rows * p.raw_per_focus_row
    raw = 1 if layout.raw_pruned else months
    focus_slice = 1 if layout.focus_slice_pruned else months
    outside = 1 if layout.outside_pruned else months
    return RunBytes(
        raw_replace=raw_rows * (p.raw_key_row * raw + 2 * p.raw_row),
        checks=raw_rows * p.raw_key_row * raw + rows * p.focus_check_row * (focus_slice + 2 * outside),
        convert=raw_rows * p.raw_mapping_row * raw,
        focus_delete=rows * (p.focus_key_row * focus_slice + p.focus_row * (1 if layout.focus_partitioned else months)),
    )


def _mib(value: float) -> str:
    return f"{value / MIB:,.1f}"


def _size(value: float) -> str:
    if value >= TIB:
        return f"{value / TIB:,.2f} TiB"
    if value >= GIB:
        return f"{value / GIB:,.1f} GiB"
    return f"{value / MIB:,.1f} MiB"


def render(raws: Sequence[tuple[TableBytes, list[str]]], focus: TableBytes, args: argparse.Namespace) -> Iterable[str]:
    """The report, as Markdown."""
    profile = build_profile(raws, focus)
    where = args.data_dir.resolve()
    shown = where.relative_to(ROOT) if where.is_relative_to(ROOT) else where
    yield f"Tables of org `{args.org}` under `{shown}`; history kept: {args.history_months} months; "
    yield f"{args.runs} pipeline runs and {args.queries} dashboard queries a month.\n"
    yield "| table | rows | bytes/row | MiB per 1M rows | columns the conversion reads | their bytes/row |"
    yield "|---|---:|---:|---:|---:|---:|"
    for table, columns in raws:
        if table.rows:
            yield (
                f"| {table.table} | {table.rows:,} | {table.per_row():,.0f} | {_mib(table.per_row() * 1e6)} "
                f"| {len(columns)} of {len(table.schema.columns)} | {table.per_row(columns):,.0f} |"
            )
    yield f"| {focus.table} | {focus.rows:,} | {focus.per_row():,.0f} | {_mib(focus.per_row() * 1e6)} | | |"
    yield ""
    yield "FOCUS columns, largest first:\n"
    yield "| column | BigQuery type | non-NULL | bytes/row | MiB per 1M rows |"
    yield "|---|---|---:|---:|---:|"
    types = {c.name: c.type for c in focus.schema.columns}
    for name in sorted(focus.column_bytes, key=lambda n: -focus.column_bytes[n]):
        per_row = focus.column_bytes[name] / focus.rows
        share = focus.column_present[name] / focus.rows
        yield f"| {name} | {bigquery_type(types[name])} | {share:.0%} | {per_row:,.1f} | {_mib(per_row * 1e6)} |"
    yield ""
    yield (
        f"Per FOCUS row: {profile.raw_per_focus_row:.3f} raw rows of {profile.raw_row:,.0f} B, of which the "
        f"conversion reads {profile.raw_mapping_row:,.0f} B; FOCUS {profile.focus_row:,.0f} B; a cost-by-service "
        f"question reads {profile.dashboard_row:,.0f} B ({profile.tag_row:,.0f} B grouped by a tag).\n"
    )
    yield from _scenarios(profile, args)


def _scenarios(p: Profile, args: argparse.Namespace) -> Iterable[str]:
    months: int = args.history_months
    yield "One pipeline run replacing a month's slice (on-demand bytes billed):\n"
    yield "| FOCUS rows/month | layout | raw DELETE + INSERT | slice counts | conversion | FOCUS DELETE | run total |"
    yield "|---:|---|---:|---:|---:|---:|---:|"
    for rows in SCENARIO_ROWS:
        for layout in LAYOUTS:
            r = run_bytes(p, rows, months, layout)
            cells = " | ".join(_size(v) for v in (r.raw_replace, r.checks, r.convert, r.focus_delete, r.total))
            yield f"| {rows:,} | {layout.name} | {cells} |"
    yield ""
    yield "A month's bill (query bytes after the free 1 TiB; storage of the history, all at the active price):\n"
    yield (
        "| FOCUS rows/month | one dashboard query (a month) | "
        + " | ".join(f"query $, {layout.name}" for layout in LAYOUTS)
        + " | stored (raw + FOCUS) | storage $ |"
    )
    yield "|---:|---:|" + "---:|" * len(LAYOUTS) + "---:|---:|"
    for rows in SCENARIO_ROWS:
        query = max(rows * p.dashboard_row, 10 * 10**6)  # BigQuery bills at least 10 MB per table read
        bills = []
        for layout in LAYOUTS:
            runs = args.runs * run_bytes(p, rows, months, layout).total
            queries = args.queries * query * (1 if layout.dashboard_pruned else months)
            bills.append(f"${_dollars(runs + queries):,.2f}")
        stored = rows * months * (p.focus_row + p.raw_per_focus_row * p.raw_row)
        storage = max(stored / GIB - FREE_STORAGE_GIB, 0.0) * ACTIVE_STORAGE_PER_GIB
        yield f"| {rows:,} | {_size(query)} | {' | '.join(bills)} | {_size(stored)} | ${storage:,.2f} |"
    yield ""
    yield (
        f"Prices: ${PRICE_PER_TIB}/TiB on-demand with the first {FREE_TIB_PER_MONTH:g} TiB of a month free; "
        f"${ACTIVE_STORAGE_PER_GIB}/GiB-month active logical storage, first {FREE_STORAGE_GIB:g} GiB free "
        "(US multi-region list prices)."
    )


def _dollars(billed_bytes: float) -> float:
    return max(billed_bytes / TIB - FREE_TIB_PER_MONTH, 0.0) * PRICE_PER_TIB


def _arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--data-dir", type=Path, default=ROOT / "data", help="the embedded data directory")
    parser.add_argument("--org", default="acme", help="the organisation whose tables are measured")
    parser.add_argument("--history-months", type=int, default=24, help="months kept (730-day expiration: 24)")
    parser.add_argument("--runs", type=int, default=30, help="pipeline runs a month (daily: 30)")
    parser.add_argument("--queries", type=int, default=3000, help="dashboard queries a month")
    parser.add_argument("--max-rows", type=int, default=None, help="measure at most this many rows a table")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = _arguments(argv)
    root = args.data_dir / dataset_name(args.org)
    focus_path = root / FOCUS_TABLE
    if not (focus_path / "_delta_log").is_dir():
        print(f"no FOCUS table at {focus_path}: run `make demo` first, or pass --data-dir/--org", file=sys.stderr)
        return 2
    raws: list[tuple[TableBytes, list[str]]] = []
    for provider in sorted(PROVIDERS):
        path = root / raw_table_name(provider)
        if (path / "_delta_log").is_dir():
            schema = read_schema(PROVIDERS[provider].raw_schema_path)
            raws.append((measure_table(path, schema, args.max_rows), mapping_columns(provider)))
    focus = measure_table(focus_path, load_schema(FOCUS_TABLE), args.max_rows)
    for line in render(raws, focus, args):
        print(line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
