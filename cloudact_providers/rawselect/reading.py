"""Reading one export file: its table function, its columns in one query, and its errors.

Every provider's files are read here, the same way: the file name's ending picks the container (CSV,
Parquet or newline-delimited JSON, gzip allowed); CSV is read with every value as text
(``all_varchar``), so a bad value quarantines its row when it is parsed instead of making DuckDB's
type sniffer fail or mis-type the whole file. One ``SELECT * ... LIMIT 1`` gives the columns (two
queries would sniff the CSV twice, which is most of the builder's time). A header-only file is an
export with no rows: its columns are read and its SELECT yields nothing.

A CSV row is never allowed to fail its file. Every row comes out, in order, so row numbers stay
those of the file: a short row is padded with NULLs, and one more column than the header
(``overflow``) catches the fields of a long row. Empty cells are read as '' (``nullstr`` is a text
no cell holds), so a NULL can only be padding; ``SourceFile.width_check`` turns both into the row's
quarantine reason; a UTF-8 BOM is dropped.

A caller that expects no ragged row may ask for a strict read instead (``SourceFile.strict``):
the header's columns only, no padding, empty cells NULL (DuckDB's default, ~7% faster to scan than
a ``nullstr`` every cell is compared with). A row of another width then fails the read with DuckDB's
CSV error (``optimism_refused`` knows it), and the caller reads the file again the padded way.

Two ways to scan, the same rows: fast (DuckDB's parallel scanner, ``strict_mode`` on) and lenient
(one thread, ``strict_mode`` off: mixed CRLF / LF line endings read, and padding works beside a
quoted line break, which the parallel scanner refuses; with ``strict_mode`` off the parallel
scanner also gives up on some files of escaped quotes, as Azure tags ``""env"": ""prod""``). A file that quotes a
line break in its first megabytes is read leniently from the start (``SourceFile.lenient``); any
other is scanned fast, and when DuckDB refuses that scan it runs again leniently
(``lenient_scan_needed`` / ``scan_leniently``: a variable of the connection, so the same SQL serves
both). Scanning every file on one thread would halve a 1M-row conversion's speed on two cores.

Errors name the file by its source object (``shown``), never the local path it was downloaded to;
a file that cannot be read at all is refused with what was found (``fileerrors.what_was_found``),
never DuckDB's own text.
"""

from __future__ import annotations

import gzip
from collections.abc import Mapping
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path
from typing import Literal

import duckdb
from duckdb.sqltypes import DuckDBPyType
from sqlglot import exp

from cloudact_providers.fileerrors import not_text, what_was_found
from cloudact_providers.rawselect.sql import (
    Check,
    Expr,
    alias,
    case,
    cast,
    col,
    concat,
    fn,
    is_null,
    lit,
    not_null,
    param,
    quoted,
    render,
    select,
    star,
    template,
)
from cloudact_shared.errors import FailedPrecondition

Container = Literal["csv", "parquet", "jsonl"]
"""How an export file stores its rows."""

OVERFLOW = "s#overflow"
"""The alias of a CSV file's extra column: the first field past the header's, if a row has one."""

FILE_CURRENCY_NEEDED = "cloudact: a row needs its file's currency"
"""The error of an optimistic read at a row without a billing currency (``currency.apply``)."""

_NESTED = ("STRUCT", "MAP", "JSON")
# JSON strings DuckDB's sampling may type as dates, times or UUIDs: read as the text they are, so a
# later line whose value is not one is quarantined by the checks instead of failing the whole file.
_JSON_TEXT_GUESSES = ("DATE", "TIME", "TIMESTAMP", "TIMESTAMP WITH TIME ZONE", "TIMESTAMP_NS", "UUID", "INTERVAL")
_GZIP_MAGIC = b"\x1f\x8b"
# DuckDB type ids of numbers (``DuckDBPyType.id``).
_NUMBER_TYPES = frozenset(
    {"tinyint", "smallint", "integer", "bigint", "hugeint", "utinyint", "usmallint", "uinteger", "ubigint"}
    | {"float", "double", "decimal"}
)
# No CSV cell is this text, so DuckDB reads empty cells as '' and only padding as NULL.
_NO_NULL_TEXT = "\x01cloudact:padding\x01"
# Bytes DuckDB reads into one CSV buffer for a strict read: 32 MB read a 1M-row legacy CUR 4% faster
# than its default (64 MB no faster, 128 MB slower), for ~50 MB more memory.
_CSV_BUFFER_BYTES = 32 << 20
# How much of a ragged row's text its quarantine reason shows.
_SHOWN_TEXT = 200
_PRESENT_FIELDS = "len(list_filter(:fields, lambda v: v IS NOT NULL))"
# The connection variable that makes CSV reads lenient (unset: fast), and the flag it gives
# both ``parallel`` and ``strict_mode``.
_LENIENT_CSV = "cloudact_lenient_csv"
_FAST = f"NOT coalesce(getvariable('{_LENIENT_CSV}'), false)"
# How DuckDB refuses a fast scan that a lenient one reads: a quoted line break in a padded read,
# a file whose rows the parallel scanner cannot split, a strict parse (mixed line endings).
_FAST_SCAN_REFUSALS = (
    "parallel scanner does not support null_padding",
    "Parallel CSV Reader currently does not support a full read",
    "CSV Parser state machine reached an invalid state",
    "CSV Error on Line",
)


def lenient_scan_needed(error: BaseException) -> bool:
    """Whether ``error`` is DuckDB refusing a fast CSV scan: run it again after ``scan_leniently``.

    It reaches callers as DuckDB's error or, from a streamed result, as the Arrow stream's error. A
    file the lenient scan cannot read either then fails with the lenient scan's error.
    """
    text = str(error)
    return any(refusal in text for refusal in _FAST_SCAN_REFUSALS)


def optimism_refused(error: BaseException) -> bool:
    """Whether ``error`` ends an optimistic read (``RawSelectBuilder``'s ``optimistic``): a ragged CSV
    row, a file DuckDB's fast scan refuses, or a row that needs its file's currency. Read again without."""
    return lenient_scan_needed(error) or FILE_CURRENCY_NEEDED in str(error)


def scan_leniently(con: duckdb.DuckDBPyConnection) -> None:
    """Makes every CSV read of this connection's raw SELECTs (built before or after) lenient."""
    con.execute(f"SET VARIABLE {_LENIENT_CSV} = true")


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
    empty_is_null: bool = False
    """Its empty cells are read as NULL (a ``strict_width`` CSV read), so its text needs no NULLIF."""

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
        if self.empty_is_null and self.is_text and not self.trim:
            return self.ref()  # NULLIF(value, '') on every value read cost ~2% of a 1M-row conversion
        return as_text(self.ref(), self.type, trim=self.trim)


@cache
def field_type(duck_type: str, path: str | None) -> DuckDBPyType | None:
    """The type of the field ``path`` (``a`` or ``a.b``; None: the value itself) of values of
    ``duck_type``, when records (STRUCTs) lead to it; None when they do not (JSON, lists on the way)."""
    try:
        kind = duckdb.sqltype(duck_type)
    except duckdb.Error:
        return None
    for name in path.split(".") if path else []:
        child = dict(kind.children).get(name) if kind.id == "struct" else None
        if not isinstance(child, DuckDBPyType):
            return None
        kind = child
    return kind


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
        """A typed scalar: a whole column of one (Parquet / JSON numbers, timestamps ...), or a number
        field of records (``usage.amount``), converted as a number column is instead of from its JSON
        text (rendering the record as JSON for each such field was most of a GCP conversion's time)."""
        if self.path is None:
            return not self.source.is_text and not self.source.is_nested
        kind = self.typed()
        return kind is not None and kind.id in _NUMBER_TYPES

    def value(self) -> Expr:
        """The typed value (``is_typed`` fields only): the column, or the record's field."""
        return self.typed_value()

    def text(self) -> Expr:
        """The value as text; a nested field's records and lists as their JSON text, scalars unquoted."""
        if self.path is None:
            return self.source.text()
        if (typed := self.typed()) is not None and typed.id == "varchar":
            # The same text as the JSON route below, read straight from the record: rendering the
            # whole record as JSON for each of its fields was most of a GCP conversion's time.
            return self.typed_value()
        document = fn("to_json", self.source.ref())
        where = lit("$." + self.path)
        kind = exp.In(this=fn("json_type", document, where), expressions=[lit("OBJECT"), lit("ARRAY")])
        whole = cast(fn("json_extract", document.copy(), where.copy()), "VARCHAR")
        return exp.Case(
            ifs=[exp.If(this=kind, true=whole)], default=fn("json_extract_string", document.copy(), where.copy())
        )

    def typed(self) -> DuckDBPyType | None:
        """The DuckDB type of the value when it is read typed (a column, or fields of records), else None."""
        return None if self.source.is_text else field_type(self.source.type, self.path)

    def typed_value(self) -> Expr:
        """The value as typed (see ``typed``): the column, or its record fields' ``struct_extract``."""
        value: Expr = self.source.ref()
        for name in self.path.split(".") if self.path else []:
            value = fn("struct_extract", value, lit(name))
        return value

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
    lenient: bool = False
    """A CSV file to scan leniently from the start: it quotes a line break early on (``quotes_line_break``)."""
    strict_width: bool = False
    """Read a CSV file as if every row had the header's width: no padding, no overflow column, empty
    cells NULL (and no width check: a ragged row fails the read instead). Set by ``strict``."""

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def is_stated_csv(self) -> bool:
        """A CSV file whose columns are known (stated to DuckDB, not sniffed again)."""
        return self.container == "csv" and bool(self.columns)

    def strict(self) -> SourceFile:
        """This file read ``strict_width`` (a CSV file not read ``lenient``; any other file unchanged)."""
        if not self.is_stated_csv or self.lenient:
            return self
        columns = tuple(replace(c, empty_is_null=True) for c in self.columns)
        return replace(self, columns=columns, strict_width=True)

    def padded(self) -> SourceFile:
        """This file read with its rows padded (not ``strict_width``)."""
        columns = tuple(replace(c, empty_is_null=False) for c in self.columns)
        return replace(self, columns=columns, strict_width=False)

    @property
    def pads_rows(self) -> bool:
        """A stated CSV file read with its rows padded and the extra ``OVERFLOW`` column (not ``strict_width``)."""
        return self.is_stated_csv and not self.strict_width

    def _overflow_name(self) -> str:
        name = "cloudact#overflow"
        while name in self.names:
            name += "#"
        return name

    def renamed(self) -> list[Expr]:
        """The file's columns under their aliases (``s#<position>``, and ``OVERFLOW`` for CSV)."""
        renamed: list[Expr] = [alias(col(s.name), s.alias) for s in self.columns]
        if self.pads_rows:
            renamed.append(alias(col(self._overflow_name()), OVERFLOW))
        return renamed

    def table(self, *, lenient: bool = False) -> Expr:
        """The table function that reads the file (Parquet with its row numbers as ``file_row_number``).

        Args:
            lenient: for the probe of a CSV file whose first rows are ragged, or whose line endings
                are mixed: DuckDB's sniffer skips the rows it cannot read (they are read, and
                quarantined, by the stated read).
        """
        path = lit(str(self.path))
        if self.container == "parquet":
            return exp.Table(this=fn("read_parquet", path, param("file_row_number", exp.true())))
        if self.container == "jsonl":
            json = (param("format", lit("newline_delimited")), param("records", exp.true()))
            if not self.columns:  # the probe (``read_file``): DuckDB's sampling finds the columns
                return exp.Table(this=fn("read_json", path, *json, param("union_by_name", exp.true())))
            # The columns found by the probe, stated: DuckDB types the first 20,480 lines only, and a
            # later line its guess does not fit would fail the file rather than one row.
            names = [exp.PropertyEQ(this=lit(c.name), expression=lit(c.type)) for c in self.columns]
            stated = (param("columns", exp.Struct(expressions=names)), param("auto_detect", exp.false()))
            return exp.Table(this=fn("read_json", path, *json, *stated))
        # The dialect stated but for the line ending: left free, DuckDB's sniffer guesses skipped
        # lines or no escape for a file whose rows it cannot parse, and misreads the header.
        options = [
            param("header", exp.true()),
            param("delim", lit(self.delimiter)),
            param("quote", lit('"')),
            param("escape", lit('"')),
            param("skip", exp.Literal.number(0)),
            param("comment", lit("")),
        ]
        if not self.columns:  # the probe (``read_file``): DuckDB's sniffer finds the columns
            skip = [param("strict_mode", exp.false()), param("ignore_errors", exp.true())] if lenient else []
            return exp.Table(this=fn("read_csv", path, param("all_varchar", exp.true()), *options, *skip))
        # The columns found by the probe, stated: DuckDB then does not sniff the file again each
        # time a query is bound (~50 ms a file; most of converting a small one).
        names = [exp.PropertyEQ(this=lit(c.name), expression=lit("VARCHAR")) for c in self.columns]
        rows = [
            param("strict_mode", exp.false() if self.lenient else template(_FAST)),
            param("parallel", exp.false() if self.lenient else template(_FAST)),
        ]
        if self.pads_rows:
            names.append(exp.PropertyEQ(this=lit(self._overflow_name()), expression=lit("VARCHAR")))
            rows += [param("null_padding", exp.true()), param("nullstr", lit(_NO_NULL_TEXT))]
        else:  # ``cloudact convert``'s read: the pipeline's memory budget keeps DuckDB's buffers
            rows.append(param("buffer_size", exp.Literal.number(_CSV_BUFFER_BYTES)))
        stated = (param("columns", exp.Struct(expressions=names)), param("auto_detect", exp.false()))
        return exp.Table(this=fn("read_csv", path, *stated, *options, *rows))

    def width_check(self) -> Check | None:
        """The quarantine check of a CSV row with fewer or more fields than the header (None: not CSV).

        Over ``renamed()``. The reason shows the row's fields as read (its quotes are gone), cut to
        200 characters: ``the row has 3 of the header's 5 fields: 'a,b,c'``. None as well for a
        ``strict_width`` read, whose every row has the header's width.
        """
        if not self.pads_rows:
            return None
        fields = [col(s.alias) for s in self.columns]
        longer = not_null(col(OVERFLOW))
        ragged = exp.or_(is_null(fields[-1].copy()), longer.copy(), copy=False)
        width = len(fields)
        present = template(_PRESENT_FIELDS, fields=exp.Array(expressions=[f.copy() for f in fields]))
        short = concat(lit("the row has "), cast(present, "VARCHAR"), lit(f" of the header's {width} fields"))
        what = case((longer, lit(f"the row has more fields than the header's {width}")), default=short)
        text = fn("left", fn("concat_ws", lit(self.delimiter), *fields, col(OVERFLOW)), exp.Literal.number(_SHOWN_TEXT))
        return ragged, concat(what, quoted(": ", text))


def read_file(
    con: duckdb.DuckDBPyConnection, path: Path, source_object: str, reading: Reading, *, accepts: str | None = None
) -> SourceFile:
    """Opens ``path``: its container by name and its columns (a header-only file has no rows).

    Args:
        accepts: what the provider reads, in the refusal of a file that cannot be read
            (``a CUR 2.0 export or a legacy CUR export``; default ``reading.what``).

    Raises:
        FailedPrecondition: the file is of an unsupported kind, empty (no header either), or cannot
            be read; the message names ``source_object`` (without its hint), never ``path``, and
            says what was found instead of an export, never DuckDB's text.
    """
    shown, hint = source_object, ""
    if reading.hint is not None and reading.hint in source_object:
        shown, _, hint = source_object.partition(reading.hint)
    container = _container(path, shown, reading)
    if path.stat().st_size == 0:
        raise FailedPrecondition(f"{shown}: the file is empty")
    unread = SourceFile(path, shown, hint, container, (), reading.delimiter)
    try:
        described = _probe(con, unread)
    except duckdb.Error as exc:
        # Not chained: DuckDB's message names the local path.
        found = what_was_found(exc, path, container)
        raise FailedPrecondition(
            f"{shown}: not {accepts or reading.what}: {found}", reason=reading.refusal_reason
        ) from None
    named = [(name, kind) for name, kind in described if name != "file_row_number"]
    if container == "jsonl":
        named = [(name, "VARCHAR" if kind in _JSON_TEXT_GUESSES else kind) for name, kind in named]
    columns = tuple(Source(i, name, kind, reading.trim) for i, (name, kind) in enumerate(named))
    lenient = container == "csv" and quotes_line_break(path)
    return SourceFile(path, shown, hint, container, columns, reading.delimiter, lenient)


def quotes_line_break(path: Path, prefix_bytes: int = 4 << 20) -> bool:
    """Whether a quoted value in the first ``prefix_bytes`` of a CSV file (gzip: decompressed) holds a
    line break: a line with an odd number of quote characters (an escaped quote counts two)."""
    with path.open("rb") as handle:
        head = handle.read(prefix_bytes)
    if head.startswith(_GZIP_MAGIC):
        with gzip.open(path, "rb") as unzipped:
            head = unzipped.read(prefix_bytes)
    lines = head.split(b"\n")[:-1]  # the last may be cut short by the prefix
    return any(line.count(b'"') % 2 for line in lines)


def _probe(con: duckdb.DuckDBPyConnection, unread: SourceFile) -> list[tuple[str, str]]:
    """The file's columns and types, from one ``LIMIT 1`` query (DuckDB's sniffer on a CSV file).

    A CSV whose first rows are ragged defeats the sniffer: it is probed again skipping those rows,
    unless its bytes are not UTF-8 text (then the sniffer's guess would be garbage for a header).
    """
    try:
        return _columns(con, unread.table())
    except duckdb.InvalidInputException:
        if unread.container != "csv" or not_text(unread.path) is not None:
            raise
        return _columns(con, unread.table(lenient=True))


def _columns(con: duckdb.DuckDBPyConnection, table: Expr) -> list[tuple[str, str]]:
    cursor = con.execute(render(select(star(), source=table).limit(1, copy=False)))
    cursor.fetchall()
    return [(str(d[0]), str(d[1])) for d in cursor.description or []]


def _container(path: Path, shown: str, reading: Reading) -> Container:
    name = path.name.lower()
    for container, suffixes in reading.suffixes.items():
        if name.endswith(suffixes):
            return container
    raise FailedPrecondition(f"{shown}: {reading.refusal}", reason=reading.refusal_reason)
