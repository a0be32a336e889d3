"""How raw columns get their values: typed parsing with row checks, MAP columns, and the row being built.

Each raw column's value comes from the file column routed to it, read by its type in the raw
schema (``Row.value``), unless the layout declares another rule for it (``ValueRule``):

- text (STRING, JSON): the text, '' as NULL;
- DECIMAL, TIMESTAMP, DATE, BOOL: parsed from text by the layout's parser for the type (default
  ``TRY_CAST``), or converted from a typed Parquet / JSON value (zone-less timestamps are UTC); a
  value that does not parse quarantines its row with ``unparsable <what> in <header>: '<value>'``;
- MAP: a JSON object in a text column (``JsonMap``), a typed MAP column, or entries folded from
  ``prefix/key`` headers (``Fold``); ``extra_columns`` holds every file column no route took.

Parsed values are computed once, in a middle layer of the SELECT (``Row.keep``), so the checks and
the output read the same parse.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Final

import duckdb
from sqlglot import exp

from cloudact_providers.rawselect.reading import Field, SourceFile
from cloudact_providers.rawselect.routes import Routed
from cloudact_providers.rawselect.sql import (
    Check,
    Expr,
    and_,
    case,
    cast,
    col,
    concat,
    fn,
    is_null,
    lit,
    not_,
    not_null,
    null,
    quoted,
    template,
    try_cast,
)
from cloudact_shared.storage.schema import Column, duckdb_type

TextParser = Callable[[Expr, str], Expr]
"""Text (NULL for an empty cell) and the DuckDB type -> the typed value, NULL where it does not parse."""

ValueRule = Callable[["Row", Column], Expr]
"""How one raw column gets its value (a layout's rule for a column read another way than by its type)."""

WHAT: Final = {"DECIMAL": "decimal", "TIMESTAMP": "timestamp", "DATE": "date", "BOOL": "boolean"}
"""How a quarantine reason names a value of each type family that does not parse."""

_DECIMAL_TYPE = re.compile(r"^DECIMAL\((\d+),\s*(\d+)\)$")
# The widest decimal DuckDB keeps in a 64-bit integer.
_NARROW_PRECISION = 18
_MAP_TYPE = re.compile(r"^MAP<\s*STRING\s*,\s*(.+)>$", re.IGNORECASE)
_ENTRIES = "map_from_entries(list_filter(:entries, lambda e: e.value IS NOT NULL))"


def family(schema_type: str) -> str:
    """``DECIMAL(38,12)`` -> ``DECIMAL``, ``MAP<STRING,STRING>`` -> ``MAP``; others as they are."""
    return re.split(r"[(<]", schema_type.strip().upper(), maxsplit=1)[0]


def try_cast_text(text: Expr, duck_type: str) -> Expr:
    """The default parser: ``TRY_CAST(text AS type)`` (decimals by ``parse_decimal``)."""
    if _DECIMAL_TYPE.match(duck_type):
        return parse_decimal(text, duck_type)
    return try_cast(text, duck_type)


def parse_decimal(text: Expr, duck_type: str) -> Expr:
    """``TRY_CAST(text AS DECIMAL(p,s))``, the same value, computed through 64-bit integers first.

    DuckDB parses text into a wide decimal (precision > 18) in 128-bit arithmetic, ~3.5x slower than
    into DECIMAL(18,s): at 1M CUR rows, 25 cost columns took 3.5 CPU seconds, most of a conversion.
    Most amounts fit 18 digits, so they are parsed narrow and widened; the rest (18 - s integer digits
    exceeded) fall back to the wide parse on their rows only (COALESCE evaluates its second argument
    only where the first is NULL). Both parses round to the same scale, so a value is identical
    whichever parse gives it (tests/providers/test_decimal_parse.py compares them).
    """
    match = _DECIMAL_TYPE.match(duck_type)
    if match is None or int(match[1]) <= _NARROW_PRECISION or int(match[2]) >= _NARROW_PRECISION:
        return try_cast(text, duck_type)
    narrow = try_cast(text.copy(), f"DECIMAL({_NARROW_PRECISION},{match[2]})")
    return fn("coalesce", cast(narrow, duck_type), try_cast(text, duck_type))


class Row:
    """The SELECT being built for one file: routed fields, outputs, the middle layer's parses, checks."""

    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        file: SourceFile,
        routed: Routed,
        parsers: Mapping[str, TextParser],
    ) -> None:
        self.con = con
        self.file = file
        self.routed = routed
        self.parsers = parsers
        self.outputs: dict[str, Expr] = {}
        self.parsed: list[exp.Alias] = []
        self.checks: list[Check] = []
        self.parse_checks: dict[str, Check] = {}
        """Each typed value's check that it parsed, by the name of the value (``t#<column>``)."""

    def field(self, raw: str) -> Field | None:
        """The file value routed to ``raw``, if any."""
        return self.routed.columns.get(raw)

    def output(self, raw: str) -> Expr:
        """The value of raw column ``raw`` (already computed), to use in another expression."""
        return self.outputs[raw].copy()

    def keep(self, name: str, value: Expr) -> exp.Column:
        """Computes ``value`` once in the middle layer, as ``t#<name>``, and returns a reference to it."""
        self.parsed.append(exp.Alias(this=value, alias=exp.Identifier(this=f"t#{name}", quoted=True)))
        return col(f"t#{name}")

    def check(self, condition: Expr, reason: Expr) -> None:
        """Quarantines the rows where ``condition`` holds, with ``reason`` (unless an earlier check did)."""
        self.checks.append((condition, reason))

    def parse(self, text: Expr, schema_type: str) -> Expr:
        """``text`` parsed as ``schema_type`` by the layout's parser for its family (default TRY_CAST)."""
        parser = self.parsers.get(family(schema_type), try_cast_text)
        return parser(text, duckdb_type(schema_type))

    def value(self, column: Column) -> Expr:
        """The default value of ``column``: by its type, from the file column routed to it."""
        kind = family(column.type)
        if column.name == "extra_columns":
            return folded(self, column, [(s.name, Field(s)) for s in self.routed.extras(self.file.columns)])
        if kind == "MAP":
            return JsonMap()(self, column)
        if kind in ("STRING", "JSON"):
            found = self.field(column.name)
            return null("VARCHAR") if found is None else found.text()
        return self.scalar(column)

    def scalar(self, column: Column) -> Expr:
        """A typed scalar column, parsed in the middle layer, its row quarantined when it does not parse."""
        found = self.field(column.name)
        duck_type = duckdb_type(column.type)
        if found is None:
            return null(duck_type)
        kind = family(column.type)
        if found.is_typed and kind == "TIMESTAMP" and _zoneless(found.source.type):
            # Zone-less Parquet timestamps (CUR, BigQuery) are UTC instants.
            return self.keep(column.name, fn("timezone", lit("UTC"), found.value()))
        value = try_cast(found.value(), duck_type) if found.is_typed else self.parse(found.text(), column.type)
        parsed = self.keep(column.name, value)
        what = WHAT.get(kind, kind.lower())
        self.check(
            and_(found.present(), is_null(parsed.copy())), quoted(f"unparsable {what} in {found.name}: ", found.text())
        )
        self.parse_checks[parsed.name] = self.checks[-1]
        return parsed


def _zoneless(duck_type: str) -> bool:
    return duck_type.startswith("TIMESTAMP") and "TIME ZONE" not in duck_type


def entry(key: str, value: Expr) -> exp.Struct:
    """A MAP entry ``{'key': key, 'value': value}``."""
    return exp.Struct(
        expressions=[
            exp.PropertyEQ(this=exp.Identifier(this="key"), expression=lit(key)),
            exp.PropertyEQ(this=exp.Identifier(this="value"), expression=value),
        ]
    )


def folded(row: Row, column: Column, parts: Sequence[tuple[str, Field]] | None = None) -> Expr:
    """A MAP column of entries (key, file value): the folded headers of ``column`` by default.

    Entries without a value are left out (an empty cell means "not set"), and a map without entries
    is NULL. Values of a typed map (AWS ``discount``: decimals) are parsed, a bad one quarantining its row.
    """
    items = row.routed.folds.get(column.name, []) if parts is None else parts
    if not items:
        return null(duckdb_type(column.type))
    match = _MAP_TYPE.match(column.type.strip())
    value_type = match[1] if match else "STRING"
    entries = []
    for key, part in items:
        if family(value_type) == "STRING":
            entries.append(entry(key, part.text()))
            continue
        value = row.parse(part.text(), value_type)
        reason = quoted(f"unparsable {WHAT.get(family(value_type), 'value')} in {part.name}: ", part.text())
        row.check(and_(part.present(), is_null(value.copy())), reason)
        entries.append(entry(key, value))
    return template(_ENTRIES, entries=exp.Array(expressions=entries))


@dataclass(frozen=True)
class JsonMap:
    """A MAP column read from a JSON object in a text column (a typed MAP column is cast as it is);
    without a file column, the entries folded from headers."""

    reason: str = "unparsable JSON map in {name}"
    """The quarantine reason of a value that is not JSON (``{name}``: the header), before ``: '<value>'``."""
    braces: bool = False
    """The object may come without its outer braces (Azure EA CSVs: ``"k": "v","k2": "v2"``)."""
    objects_only: bool = False
    """Quarantine a JSON value that is not an object (else it gives NULL)."""

    def __call__(self, row: Row, column: Column) -> Expr:
        found = row.field(column.name)
        if found is None:
            return folded(row, column)
        duck_type = duckdb_type(column.type)
        if not found.is_text:
            return try_cast(found.value(), duck_type)
        document: Expr = found.text()
        if self.braces:
            text = found.text()
            wrapped = concat(lit("{"), text.copy(), lit("}"))
            document = row.keep(
                column.name, case((exp.Like(this=text, expression=lit("{%")), text.copy()), default=wrapped)
            )
        valid: Expr = fn("json_valid", document)
        if self.objects_only:
            # CASE, not AND: DuckDB evaluates both sides of an AND, and json_type fails on invalid JSON.
            is_object = exp.EQ(this=fn("json_type", document.copy()), expression=lit("OBJECT"))
            valid = case((valid, is_object), default=exp.false())
        reason = quoted(self.reason.format(name=found.name) + ": ", found.text())
        row.check(and_(not_null(found.text()), not_(fn("coalesce", valid.copy(), exp.false()))), reason)
        return case((valid, fn("json_transform", document.copy(), lit(f'"{duck_type}"'))))
