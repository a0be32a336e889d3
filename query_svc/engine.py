"""Runs a QueryPlan over an Arrow dataset with Polars: pushdown first, exact decimal sums."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from types import MappingProxyType

import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as pads

from cloudact_shared.errors import FailedPrecondition
from query_svc.model import CostRow, Grain
from query_svc.plan import PERIOD_COLUMN, TAGS_COLUMN, Dimension, DimensionKind, Filter, QueryPlan, parse_instant

_DAY_FORMAT = "%Y-%m-%d"
_INSTANT_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
_PERIOD = "__period"
_ROWS = "__rows"


@dataclass(frozen=True)
class Computed:
    """What one pass over the table produced."""

    rows: tuple[CostRow, ...]
    rows_scanned: int


def compute(dataset: pads.Dataset, plan: QueryPlan) -> Computed:
    """Sums ``plan.metrics`` per period and dimensions over ``dataset`` (blocking; run in a thread).

    The date range and the filters on plain columns become one Arrow expression applied to the
    dataset (file pruning on statistics, row filtering in the scan); only ``plan.columns`` are read.
    User values never pass through Polars' pyarrow predicate translation (which uses ``eval``).

    Raises:
        FailedPrecondition: when the table lacks a column the plan needs.
    """
    missing = [c for c in plan.columns if c not in dataset.schema.names]
    if missing:
        raise FailedPrecondition(
            f"the FOCUS table has no column(s) {', '.join(missing)}", reason="FOCUS_SCHEMA_MISMATCH"
        )
    scoped = dataset.filter(_arrow_predicate(dataset.schema, plan))
    frame = pl.scan_pyarrow_dataset(scoped, allow_pyarrow_filter=False).select(plan.columns)
    return _aggregate(frame.with_columns(_tag_value(k) for k in _tag_keys(plan)), plan, pl.len())


def compute_rollup(rollup: pl.DataFrame, plan: QueryPlan, rows_column: str) -> Computed:
    """The same sums as ``compute``, from a daily rollup held in memory (blocking; run in a thread).

    ``rollup`` has the plan's columns (ChargePeriodStart at UTC midnight) with metrics already
    summed per row, and ``rows_column`` saying how many FOCUS rows each row sums; the answer is
    the one ``compute`` gives over those FOCUS rows, and so is ``rows_scanned``.
    """
    scoped = rollup.lazy().filter(_polars_predicate(rollup.schema, plan)).select(*plan.columns, rows_column)
    if keys := _tag_keys(plan):
        # Rollup rows share few Tags texts: each is parsed once and joined back, not once a row.
        lookup = scoped.select(pl.col(TAGS_COLUMN).unique()).with_columns(_tag_value(k) for k in keys)
        scoped = scoped.join(lookup, on=TAGS_COLUMN, how="left", nulls_equal=True)
    return _aggregate(scoped, plan, pl.col(rows_column).sum())


def _aggregate(frame: pl.LazyFrame, plan: QueryPlan, rows: pl.Expr) -> Computed:
    """Groups ``frame`` (already narrowed to the date range and column filters) the plan's way.

    ``frame`` has a ``__tag:KEY`` column (``_tag_value``) per tag key of the plan. ``rows`` counts
    the FOCUS rows of a group. Tag filters are applied here, in Polars: user values are only compared with.
    """
    for spec in plan.filters:
        if spec.dimension.kind is DimensionKind.TAG:
            frame = frame.filter(_group_key(spec.dimension).is_in(list(spec.values)))
    dims = [(d, f"__d{i}") for i, d in enumerate(plan.dimensions)]
    keys = [_period_key(plan.grain).alias(_PERIOD), *(_group_key(d).alias(n) for d, n in dims)]
    sums = [pl.col(m.column).sum().alias(m.column) for m in plan.metrics]
    table = (
        frame.group_by(keys)
        .agg(*sums, rows.alias(_ROWS))
        .sort([_PERIOD, *(n for _, n in dims)], nulls_last=False)
        .with_columns(_render(pl.col(_PERIOD), DimensionKind.DATE), *(_render(pl.col(n), d.kind) for d, n in dims))
        .collect()
    )
    answer = tuple(
        CostRow(
            period_start=record[_PERIOD],
            dimensions=MappingProxyType({d.name: record[n] for d, n in dims}),
            amounts=MappingProxyType({m.column: format_decimal(record[m.column]) for m in plan.metrics}),
        )
        for record in table.iter_rows(named=True)
    )
    return Computed(rows=answer, rows_scanned=int(table[_ROWS].sum()))


def format_decimal(value: Decimal | None) -> str:
    """An exact decimal string without trailing zeros: ``12.340000000000`` -> ``12.34``, 0 -> ``0``.

    Formatting by hand rather than ``Decimal.normalize()``, which rounds to the 28-digit context.
    """
    if value is None or value == 0:
        return "0"
    text = format(value, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def _period_key(grain: Grain) -> pl.Expr:
    utc = pl.col(PERIOD_COLUMN).dt.convert_time_zone("UTC")
    if grain is Grain.DAY:
        return utc.dt.date()
    if grain is Grain.MONTH:
        return utc.dt.truncate("1mo").dt.date()
    return pl.lit(None, dtype=pl.Date)


def _tag_keys(plan: QueryPlan) -> list[str]:
    dimensions = [*plan.dimensions, *(f.dimension for f in plan.filters)]
    return list(dict.fromkeys(d.tag_key for d in dimensions if d.kind is DimensionKind.TAG))


def _tag_value(key: str) -> pl.Expr:
    """The tag's value in the row's Tags JSON ("" when absent or null), as column ``__tag:KEY``."""
    # Bracket notation takes any key ("aws:createdBy", "a.b"); plan_query rejects quotes.
    return pl.col(TAGS_COLUMN).str.json_path_match(f"$['{key}']").fill_null("").alias(f"__tag:{key}")


def _group_key(dimension: Dimension) -> pl.Expr:
    """The value rows are grouped on; strings have null and "" merged (both render as "")."""
    column = pl.col(dimension.column)
    if dimension.kind is DimensionKind.TAG:
        return pl.col(f"__tag:{dimension.tag_key}")
    if dimension.kind is DimensionKind.STRING:
        return column.fill_null("")
    if dimension.kind is DimensionKind.TIMESTAMP:
        return column.dt.convert_time_zone("UTC")
    return column


def _render(expr: pl.Expr, kind: DimensionKind) -> pl.Expr:
    """Turns a group key into the string a caller sees ("" for null)."""
    if kind is DimensionKind.DATE:
        expr = expr.dt.strftime(_DAY_FORMAT)
    elif kind is DimensionKind.TIMESTAMP:
        expr = expr.dt.strftime(_INSTANT_FORMAT)
    return expr.fill_null("")


def _arrow_predicate(schema: pa.Schema, plan: QueryPlan) -> pc.Expression:
    period_type = schema.field(PERIOD_COLUMN).type
    start = datetime.combine(plan.start, time(), UTC)
    stop = datetime.combine(plan.end + timedelta(days=1), time(), UTC)
    period = pc.field(PERIOD_COLUMN)
    predicate = (period >= pa.scalar(start, period_type)) & (period < pa.scalar(stop, period_type))
    for spec in plan.filters:
        if spec.dimension.kind is not DimensionKind.TAG:
            predicate = predicate & _arrow_filter(spec, schema.field(spec.dimension.column).type)
    return predicate


def _arrow_filter(spec: Filter, arrow_type: pa.DataType) -> pc.Expression:
    field = pc.field(spec.dimension.column)
    given = [v for v in spec.values if v]
    typed = _typed_values(spec, given)
    clauses = [field.isin(pa.array(typed, type=arrow_type))] if typed else []
    if len(given) < len(spec.values):  # "" was asked for: it stands for null (and the empty string)
        clauses.append(field.is_null())
        if spec.dimension.kind is DimensionKind.STRING:
            clauses.append(field == "")
    predicate = clauses[0]
    for clause in clauses[1:]:
        predicate = predicate | clause
    return predicate


def _polars_predicate(schema: pl.Schema, plan: QueryPlan) -> pl.Expr:
    """``_arrow_predicate`` in Polars, for a frame in memory: the same rows pass."""
    start = datetime.combine(plan.start, time(), UTC)
    stop = datetime.combine(plan.end + timedelta(days=1), time(), UTC)
    period = pl.col(PERIOD_COLUMN)
    predicate = (period >= pl.lit(start, dtype=schema[PERIOD_COLUMN])) & (
        period < pl.lit(stop, dtype=schema[PERIOD_COLUMN])
    )
    for spec in plan.filters:
        if spec.dimension.kind is not DimensionKind.TAG:
            predicate = predicate & _polars_filter(spec, schema[spec.dimension.column])
    return predicate


def _polars_filter(spec: Filter, dtype: pl.DataType) -> pl.Expr:
    column = pl.col(spec.dimension.column)
    given = [v for v in spec.values if v]
    typed = _typed_values(spec, given)
    clauses = [column.is_in(pl.Series(typed, dtype=dtype).implode()).fill_null(False)] if typed else []
    if len(given) < len(spec.values):  # "" stands for null (and the empty string), as in _arrow_filter
        clauses.append(column.is_null())
        if spec.dimension.kind is DimensionKind.STRING:
            clauses.append(column == "")
    return pl.any_horizontal(clauses)


def _typed_values(spec: Filter, given: list[str]) -> list[object]:
    """Filter values as the column's Python type (validated by plan_query)."""
    if spec.dimension.kind is DimensionKind.TIMESTAMP:
        return [parse_instant(v) for v in given]
    if spec.dimension.kind is DimensionKind.DATE:
        return [date.fromisoformat(v) for v in given]
    return list(given)
