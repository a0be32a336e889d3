"""The one raw-SELECT builder: a declared file format and a local file -> the DuckDB SELECT of raw rows.

The SELECT has five layers, innermost first:

1. the file's columns renamed to aliases ``s#<position>`` (Parquet adds its row number ``_frn``,
   CSV the extra field ``s#overflow`` of a row longer than the header);
2. every parse, once (``t#<column>``), so checks and outputs read the same value;
3. the raw columns and ``_quarantine_reason`` (a CASE over the checks: the first that holds wins;
   a CSV row of the wrong width first, as its other values are misplaced);
4. ``_source_row_number``, taken last: a window is a barrier, so a caller's WHERE on
   ``_quarantine_reason`` is not pushed below it (which would make DuckDB parse every value twice);
5. empty maps as NULL, and ``_record`` (the source row as JSON text) for quarantined rows only.

Lineage comes from the connection's variables (``cloudact_shared.duck.set_lineage``): only the
pipeline side sets them.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Final

import duckdb
from sqlglot import exp

from cloudact_providers.rawselect import currency
from cloudact_providers.rawselect.reading import OVERFLOW, SourceFile, read_file
from cloudact_providers.rawselect.routes import Routed, Targets, header_for, route
from cloudact_providers.rawselect.sql import (
    Check,
    Expr,
    alias,
    case,
    cast,
    col,
    fn,
    lit,
    not_null,
    null,
    render,
    select,
    star,
)
from cloudact_providers.rawselect.values import Row, family
from cloudact_shared.errors import FailedPrecondition
from cloudact_shared.storage import load_schema
from cloudact_shared.storage.schema import TableSchema

if TYPE_CHECKING:
    from cloudact_providers.rawselect.model import FileFormat, Layout

PIPELINE_COLUMNS: Final = {
    "ingestion_date": "DATE",
    "x_pipeline_id": "VARCHAR",
    "x_credential_id": "VARCHAR",
    "x_run_id": "VARCHAR",
    "x_ingested_at": "TIMESTAMPTZ",
    "x_pipeline_run_date": "DATE",
}
"""The columns the pipeline sets on every raw row, and their DuckDB types."""

VERDICT_ONLY: Final = "set aside"
"""The reason of every quarantined row when the SELECT is built without reasons (``reasons=False``)."""
_FROM_BUILDER = {*PIPELINE_COLUMNS, "source_object", "source_format", "extra_columns"}
_FILE_ROW = "_frn"
# How a quarantined CSV row's record names the fields past the header's.
_PAST_THE_HEADER = "(fields past the header)"
# How many of a file's columns a refusal shows.
_SHOWN_COLUMNS = 8


def build_raw_select(
    fmt: FileFormat,
    con: duckdb.DuckDBPyConnection,
    path: Path,
    *,
    source_object: str,
    row_numbers: bool = True,
    reasons: bool = True,
    read_columns: Collection[str] | None = None,
    optimistic: bool = False,
) -> str:
    """The SELECT that turns ``path``, a file of format ``fmt``, into raw-table rows (``RawSelectBuilder``).

    Args:
        fmt: the provider's declared file format.
        con: the connection the SELECT will run on (used here to read the file's columns and first row,
            and by a layout that looks at the rows).
        path: the local file.
        source_object: the object name recorded on every row and named by errors (never ``path``,
            a server temp file); a parser hint (``fmt.reading.hint``) is stripped from it.
        row_numbers: number CSV / JSON rows (``_source_row_number``; one ordered pass, so DuckDB scans
            on one thread). Without it the column is NULL; Parquet rows are always numbered.
        reasons: give a quarantined row its reason and ``_record``. Without them its reason is
            ``VERDICT_ONLY`` and its record NULL: the checks' conditions are all the SELECT reads
            (a ragged CSV row's reason alone reads every field of the row).
        read_columns: the raw columns the caller reads (None: all). A typed value is then parsed and
            checked only when one of them, or another check, uses it: a row is not set aside for a
            value nobody reads (``cloudact convert``, which keeps no raw table). The other columns
            of such a row are NULL when their value does not parse.
        optimistic: read the file as if it were clean: a CSV file as if no row were ragged
            (``SourceFile.strict_width``), and as if every row named its billing currency
            (``currency.apply``). A row that is not fails the SELECT with an error
            ``optimism_refused`` recognises, instead of being set aside or filled.

    Returns:
        A SELECT yielding the raw schema's columns in order, then ``_quarantine_reason`` (NULL for
        good rows), ``_source_row_number`` and ``_record`` (JSON text, quarantined rows only).

    Raises:
        FailedPrecondition: the file is of an unsupported kind, empty (not even a header), cannot be
            read, is not an export of the format, or lacks a required column. A header-only file
            is an export with no rows: its SELECT yields none.
    """
    file = read_file(con, path, source_object, fmt.reading, accepts=fmt.accepts)
    layout = fmt.detect(file)  # before a strict read: a layout may read the rows (Azure's does)
    if optimistic:
        file = file.strict()
    schema = load_schema(fmt.raw_table)
    targets = _targets(schema, layout)
    routed = route(file.columns, layout.routes, targets)
    _require(file, fmt, layout, routed)
    row = Row(con, file, routed, layout.parsers)
    if (width := file.width_check()) is not None:
        row.check(*width)  # first: a ragged row's values are misplaced, their own reasons would mislead
    for column in schema.columns:
        if column.name in targets.fillable or column.name == "extra_columns":
            rule = layout.values.get(column.name)
            row.outputs[column.name] = row.value(column) if rule is None else rule(row, column)
    currency.apply(row, fmt.currencies, fill_from_file=not optimistic)
    for name, derive in layout.derived.items():
        row.outputs[name] = derive(row)
    label = layout.source_format if isinstance(layout.source_format, str) else layout.source_format(routed)
    row.outputs["source_format"] = lit(f"{label}_{file.container}")
    row.outputs["source_object"] = lit(file.shown)
    row.outputs.update(pipeline_columns())
    checks = [*row.checks, *(check(row) for check in layout.checks)]
    if read_columns is not None:
        checks = _checks_of_values_read(row, checks, read_columns)
    return render(_layers(file, row, schema, checks, row_numbers=row_numbers, reasons=reasons))


def _checks_of_values_read(row: Row, checks: list[Check], read_columns: Collection[str]) -> list[Check]:
    """``checks`` without the parse checks of values that neither ``read_columns`` nor another check use.

    A value left unchecked is left unread too: DuckDB then neither parses it nor reads its field.
    """
    checked_value = {id(check): name for name, check in row.parse_checks.items()}
    uses = [row.outputs[name] for name in read_columns if name in row.outputs]
    uses += [check[0] for check in checks if id(check) not in checked_value]
    used = {column.name for expression in uses for column in expression.find_all(exp.Column)}
    kept = []
    for check in checks:
        value = checked_value.get(id(check))
        if value is None or value in used:
            kept.append(check)
    return kept


def pipeline_columns() -> dict[str, Expr]:
    """``ingestion_date`` and the ``x_*`` lineage columns, read from the run's DuckDB variables."""
    return {name: cast(fn("getvariable", lit(name)), kind) for name, kind in PIPELINE_COLUMNS.items()}


def _targets(schema: TableSchema, layout: Layout) -> Targets:
    fillable = tuple(c.name for c in schema.columns if c.name not in _FROM_BUILDER and c.name not in layout.derived)
    maps = frozenset(c.name for c in schema.columns if family(c.type) == "MAP")
    return Targets(fillable, maps)


def _require(file: SourceFile, fmt: FileFormat, layout: Layout, routed: Routed) -> None:
    """Refuses a file lacking a column ``layout`` requires, naming the columns as its headers spell them.

    A file with none of them is not an export at all: the refusal names every layout the format
    accepts and the columns the file has.
    """
    missing, found = [], 0
    for required in layout.required:
        options = (required,) if isinstance(required, str) else required
        if any(option in routed.columns for option in options):
            found += 1
        else:
            missing.append(" or ".join(_spelling(layout, option) for option in options))
    if not missing:
        return
    what = f"not {layout.name}"
    if not found:
        what = f"not {fmt.accepts} (found {_columns_shown(file)})"
    raise FailedPrecondition(
        f"{file.shown}: {what}, required columns missing: {', '.join(missing)}", reason=layout.refusal_reason
    )


def _spelling(layout: Layout, raw: str) -> str:
    """How the layout's files spell the header of raw column ``raw``."""
    return layout.shown_as.get(raw) or header_for(layout.routes, raw) or raw


def _columns_shown(file: SourceFile) -> str:
    names = file.names
    if not names:
        return "no columns"
    shown = ", ".join(names[:_SHOWN_COLUMNS])
    more = f" and {len(names) - _SHOWN_COLUMNS} more" if len(names) > _SHOWN_COLUMNS else ""
    return f"the column{'s' if len(names) > 1 else ''} {shown}{more}"


def _layers(
    file: SourceFile, row: Row, schema: TableSchema, checks: Sequence[Check], *, row_numbers: bool, reasons: bool
) -> Expr:
    renamed = file.renamed()
    if file.container == "parquet":
        renamed.append(alias(col("file_row_number"), _FILE_ROW))
        number: Expr = exp.Add(this=col(_FILE_ROW), expression=exp.Literal.number(1))
    elif row_numbers:
        number = exp.Window(this=exp.RowNumber())
    else:
        number = null("BIGINT")
    parsed = select(star(), *row.parsed, source=select(*renamed, source=file.table()))
    return finish(
        parsed,
        row.outputs,
        schema.column_names,
        maps={c.name for c in schema.columns if family(c.type) == "MAP"},
        reason=_reason(checks, verdict_only=not reasons),
        sources=[(s.name, s.alias, s.text()) for s in file.columns],
        with_record=reasons,
        row_number=number,
        passthrough=[_FILE_ROW] if file.container == "parquet" else [],
        past_the_header=OVERFLOW if file.pads_rows else None,
    )


def _reason(checks: Sequence[Check], *, verdict_only: bool) -> Expr:
    """The quarantine reason: the first failing check's, or only ``VERDICT_ONLY`` when one fails."""
    if not checks:
        return null("VARCHAR")
    if verdict_only:
        return case((exp.or_(*(condition for condition, _ in checks), copy=False), lit(VERDICT_ONLY)))
    return case(*checks)


def finish(
    parsed: Expr,
    outputs: Mapping[str, Expr],
    columns: Sequence[str],
    *,
    maps: Collection[str],
    reason: Expr,
    sources: Sequence[tuple[str, str, Expr]],
    row_number: Expr,
    passthrough: Sequence[str] = (),
    past_the_header: str | None = None,
    with_record: bool = True,
) -> exp.Select:
    """The last layers every raw SELECT shares (the ``RawSelectBuilder`` contract).

    Args:
        parsed: the SELECT holding the file's columns (by alias) and their parsed values.
        outputs: raw column -> its expression over ``parsed``.
        columns: the raw table's columns, in schema order.
        maps: the MAP columns, returned as NULL when empty (raw maps are NULL, never empty).
        reason: the quarantine reason (NULL for a good row).
        sources: (header, alias, value as text) of every file column, for ``_record``.
        row_number: the ``_source_row_number`` expression.
        passthrough: columns of ``parsed`` the row number reads (Parquet's file row).
        past_the_header: the column of ``parsed`` holding a CSV row's fields past the header's:
            ``_record`` names them ``(fields past the header)`` when there are any.
        with_record: build ``_record``; without it the column is NULL (and reads no source column).
    """
    if not with_record:
        sources, past_the_header = [], None
    carried = [a for _, a, _ in sources] + ([past_the_header] if past_the_header else [])
    typed = select(
        *(alias(outputs[c], c) for c in columns),
        alias(reason, "_quarantine_reason"),
        *(col(p) for p in passthrough),
        *(col(a) for a in carried),
        source=parsed,
    )
    numbered = select(star(), alias(row_number, "_source_row_number"), source=typed)
    pairs = [part for name, _, text in sources for part in (lit(name.replace("\ufeff", "")), text)]
    record: Expr = cast(fn("json_object", *pairs), "VARCHAR") if with_record else null("VARCHAR")
    if past_the_header:
        longer = cast(
            fn("json_object", *[p.copy() for p in pairs], lit(_PAST_THE_HEADER), col(past_the_header)), "VARCHAR"
        )
        record = case((not_null(col(past_the_header)), longer), default=record)
    final = [_empty_as_null(c) if c in maps else col(c) for c in columns]
    return select(
        *final,
        col("_quarantine_reason"),
        col("_source_row_number"),
        alias(case((not_null(col("_quarantine_reason")), record)), "_record"),
        source=numbered,
    )


def _empty_as_null(column: str) -> Expr:
    size = exp.GT(this=fn("cardinality", col(column)), expression=exp.Literal.number(0))
    return alias(case((size, col(column))), column)
