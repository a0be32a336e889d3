"""Reading one export file: its table function, its columns and first row in one query, and its errors.

Every provider's files are read here, the same way: the file name's ending picks the container (CSV,
Parquet or newline-delimited JSON, gzip allowed); CSV is read with every value as text
(``all_varchar``), so a bad value quarantines its row when it is parsed instead of making DuckDB's
type sniffer fail or mis-type the whole file. One ``SELECT * ... LIMIT 1`` gives the columns and
proves there is a row (two queries would sniff the CSV twice, which is most of the builder's time).

Errors name the file by its source object (``shown``), never the local path it was downloaded to,
and repeat only the short reason DuckDB gives (``fileerrors``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import duckdb
from sqlglot import exp

from cloudact_providers.fileerrors import read_error
from cloudact_providers.rawselect.sql import Expr, cast, col, fn, lit, not_null, param, render, select, star
from cloudact_shared.errors import FailedPrecondition

Container = Literal["csv", "parquet", "jsonl"]
"""How an export file stores its rows."""

_NESTED = ("STRUCT", "MAP", "JSON")


@dataclass(frozen=True)
class Reading:
    """How a provider's export files are read, and how a file that is not one is refused."""

    what: str
    """What the file should be, in ``<object>: cannot be read as <what>: <reason>`` (``a CUR export``)."""
    refusal: str
    """Why a file of another kind is refused (``not a CUR export file (expected .parquet, .csv or .csv.gz)``)."""
    suffixes: Mapping[Container, tuple[str, ...]]
    """The file name endings of each container (lower case), tried in order."""
    refusal_reason: str | None = None
    """The error reason of that refusal (default: FAILED_PRECONDITION)."""
    delimiter: str = ","
    trim: bool = False
    """Strip surrounding blanks from text values (Azure pads some CSV cells)."""
    hint: str | None = None
    """The marker of a parser hint the connector appends to the object name (Azure's ``#dataset=``):
    rows record, and errors name, the object without it; the layout detection reads the hint."""


@dataclass(frozen=True)
class Source:
    """One column of the file: its header, its DuckDB type, and its alias ``s#<position>`` in the SELECT."""

    position: int
    name: str
    type: str
    trim: bool = False

    @property
    def alias(self) -> str:
        return f"s#{self.position}"

    @property
    def is_text(self) -> bool:
        return self.type == "VARCHAR"

    @property
    def is_nested(self) -> bool:
        return is_nested(self.type)

    def ref(self) -> exp.Column:
        """The column, by its alias."""
        return col(self.alias)

    def text(self) -> Expr:
        """The value as text (see ``as_text``)."""
        return as_text(self.ref(), self.type, trim=self.trim)


def is_nested(duck_type: str) -> bool:
    """Whether values of ``duck_type`` are records, maps, lists or JSON."""
    return duck_type.startswith(_NESTED) or duck_type.endswith("]")


def as_text(value: Expr, duck_type: str, *, trim: bool = False) -> Expr:
    """A column's value as text: '' (or blanks, when trimmed) as NULL, a typed value rendered, a nested
    one as its JSON text."""
    if duck_type == "VARCHAR":
        return exp.Nullif(this=fn("trim", value) if trim else value, expression=lit(""))
    if is_nested(duck_type):
        return cast(fn("to_json", value), "VARCHAR")
    return cast(value, "VARCHAR")


@dataclass(frozen=True)
class Field:
    """A value of the file: a whole column, or the field ``path`` inside a STRUCT or JSON column."""

    source: Source
    path: str | None = None

    @property
    def name(self) -> str:
        """How messages name it: the header, or the dotted path of the field (``service.id``)."""
        return self.source.name if self.path is None else f"{self.source.name}.{self.path}"

    @property
    def is_text(self) -> bool:
        """A whole text column (CSV, or text in Parquet / JSON)."""
        return self.path is None and self.source.is_text

    @property
    def is_typed(self) -> bool:
        """A whole column of a typed scalar (Parquet / JSON numbers, timestamps ...)."""
        return self.path is None and not self.source.is_text and not self.source.is_nested

    def value(self) -> Expr:
        """The column itself (whole columns only)."""
        return self.source.ref()

    def text(self) -> Expr:
        """The value as text; a nested field's records and lists as their JSON text, scalars unquoted."""
        if self.path is None:
            return self.source.text()
        document = fn("to_json", self.source.ref())
        where = lit("$." + self.path)
        kind = exp.In(this=fn("json_type", document, where), expressions=[lit("OBJECT"), lit("ARRAY")])
        whole = cast(fn("json_extract", document.copy(), where.copy()), "VARCHAR")
        return exp.Case(
            ifs=[exp.If(this=kind, true=whole)], default=fn("json_extract_string", document.copy(), where.copy())
        )

    def present(self) -> Expr:
        """Whether the row has a value here."""
        return not_null(self.value() if self.is_typed else self.text())


@dataclass(frozen=True)
class SourceFile:
    """One export file as read: its local path, its name for people, its container and its columns."""

    path: Path
    shown: str
    """The source object without the parser hint: what rows record and errors name."""
    hint: str
    """The parser hint the connector gave (``actual`` for ``...#dataset=actual``), or ''."""
    container: Container
    columns: tuple[Source, ...]
    delimiter: str = ","

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    def table(self) -> Expr:
        """The table function that reads the file (Parquet with its row numbers as ``file_row_number``)."""
        path = lit(str(self.path))
        if self.container == "parquet":
            return exp.Table(this=fn("read_parquet", path, param("file_row_number", exp.true())))
        if self.container == "jsonl":
            json = (param("format", lit("newline_delimited")), param("records", exp.true()))
            return exp.Table(this=fn("read_json", path, *json, param("union_by_name", exp.true())))
        options = [param("header", exp.true()), param("delim", lit(self.delimiter)), param("quote", lit('"'))]
        if not self.columns:  # the probe (``read_file``): DuckDB's sniffer finds the columns
            return exp.Table(this=fn("read_csv", path, param("all_varchar", exp.true()), *options))
        # The columns found by the probe, stated: DuckDB then does not sniff the file again each
        # time a query is bound (~50 ms a file; most of converting a small one).
        names = [exp.PropertyEQ(this=lit(c.name), expression=lit("VARCHAR")) for c in self.columns]
        stated = (param("columns", exp.Struct(expressions=names)), param("auto_detect", exp.false()))
        return exp.Table(this=fn("read_csv", path, *stated, *options))


def read_file(con: duckdb.DuckDBPyConnection, path: Path, source_object: str, reading: Reading) -> SourceFile:
    """Opens ``path``: its container by name, its columns and the proof it has a row.

    Raises:
        FailedPrecondition: the file is of an unsupported kind, empty, unreadable, or has no rows;
            the message names ``source_object`` (without its hint), never ``path``.
    """
    shown, hint = source_object, ""
    if reading.hint is not None and reading.hint in source_object:
        shown, _, hint = source_object.partition(reading.hint)
    container = _container(path, shown, reading)
    if path.stat().st_size == 0:
        raise FailedPrecondition(f"{shown}: the file is empty")
    unread = SourceFile(path, shown, hint, container, (), reading.delimiter)
    try:
        cursor = con.execute(render(select(star(), source=unread.table()).limit(1, copy=False)))
        described = [(str(d[0]), str(d[1])) for d in cursor.description or []]
        first = cursor.fetchall()
    except duckdb.Error as exc:
        # Not chained: DuckDB's message names the local path.
        raise FailedPrecondition(f"{shown}: cannot be read as {reading.what}: {read_error(exc, path, shown)}") from None
    if not first:
        raise FailedPrecondition(f"{shown}: the file has a header but no data rows")
    named = [(name, kind) for name, kind in described if name != "file_row_number"]
    columns = tuple(Source(i, name, kind, reading.trim) for i, (name, kind) in enumerate(named))
    return SourceFile(path, shown, hint, container, columns, reading.delimiter)


def _container(path: Path, shown: str, reading: Reading) -> Container:
    name = path.name.lower()
    for container, suffixes in reading.suffixes.items():
        if name.endswith(suffixes):
            return container
    raise FailedPrecondition(f"{shown}: {reading.refusal}", reason=reading.refusal_reason)
