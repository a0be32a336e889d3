"""The declaration of a provider's export files: what each provider's ``formats.py`` writes down.

A ``FileFormat`` is the raw table, how files are read (``Reading``), how to tell one layout from
another (``detect``, from the file's columns and the connector's hint), the layouts it accepts
(named when a file is none of them) and its currency columns. A ``Layout`` is one kind of
file: the routes from its headers to raw columns, the columns it must have, the raw columns read
another way than by their type (``values``), the text parsers it needs, what is derived, and the
row checks after the value checks. ``build_raw_select`` turns the declaration into the SELECT.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
from sqlglot import exp

from cloudact_providers.rawselect.build import build_raw_select
from cloudact_providers.rawselect.currency import Currencies
from cloudact_providers.rawselect.reading import Reading, SourceFile
from cloudact_providers.rawselect.routes import Route, Routed
from cloudact_providers.rawselect.sql import Check, Expr, and_, cast, fn, is_null, lit, quoted
from cloudact_providers.rawselect.values import Row, TextParser, ValueRule

Derive = Callable[[Row], Expr]
"""A raw column computed from the row's other outputs (``billing_period``, Azure's ``dataset``)."""

RowCheck = Callable[[Row], Check]
"""A row check over the outputs (a missing key value, a period that ends before it starts)."""

Required = str | tuple[str, ...]
"""A raw column a file must fill, or a tuple of columns of which it must fill one."""


@dataclass(frozen=True)
class Layout:
    """One kind of export file: how its headers fill raw columns, what it must have and how rows are checked."""

    name: str
    """What the file is, in ``<object>: not <name>, required columns missing: ...`` (``a CUR export``)."""
    source_format: str | Callable[[Routed], str]
    """The ``source_format`` of its rows before ``_<container>`` (``cur2`` -> ``cur2_parquet``)."""
    routes: tuple[Route, ...]
    required: tuple[Required, ...]
    refusal_reason: str
    """The error reason of a file missing a required column (``NOT_A_CUR_EXPORT``)."""
    derived: Mapping[str, Derive]
    """Raw columns computed from other outputs, in order (always ``billing_period``, the slice key)."""
    checks: tuple[RowCheck, ...] = ()
    """Row checks after the value checks, in order: the first that holds names the row's reason."""
    values: Mapping[str, ValueRule] = field(default_factory=dict)
    """Raw columns read another way than by their type."""
    parsers: Mapping[str, TextParser] = field(default_factory=dict)
    """Text parsers by type family (``DATE``, ``DECIMAL``), where ``TRY_CAST`` is not enough."""
    shown_as: Mapping[str, str] = field(default_factory=dict)
    """How the required-columns message names a raw column (default: its name)."""


@dataclass(frozen=True)
class FileFormat:
    """A provider's export files: the raw table they load, how they are read, and their layouts.

    A format is its provider's ``RawSelectBuilder``: calling it builds the SELECT of one file.
    """

    raw_table: str
    reading: Reading
    detect: Callable[[SourceFile], Layout]
    """The layout of a file, from its columns and hint (raises FailedPrecondition on a contradiction)."""
    layouts: tuple[Layout, ...] = ()
    """Every layout ``detect`` may return: a file that is none of them is refused naming them all."""
    currencies: Currencies = field(default_factory=Currencies)
    """The raw columns holding currency codes (ISO 4217 only; see ``rawselect.currency``)."""

    @property
    def accepts(self) -> str:
        """What the provider reads, for a refusal: ``an OCI cost report or an OCI FOCUS report``."""
        names = list(dict.fromkeys(layout.name for layout in self.layouts)) or [self.reading.what]
        return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"

    def __call__(
        self,
        con: duckdb.DuckDBPyConnection,
        path: Path,
        *,
        source_object: str,
        row_numbers: bool = True,
        reasons: bool = True,
        read_columns: Collection[str] | None = None,
        optimistic: bool = False,
    ) -> str:
        """The SELECT of raw rows of ``path`` (see ``rawselect.build.build_raw_select``)."""
        return build_raw_select(
            self,
            con,
            path,
            source_object=source_object,
            row_numbers=row_numbers,
            reasons=reasons,
            read_columns=read_columns,
            optimistic=optimistic,
        )


@dataclass(frozen=True)
class Missing:
    """The row check ``missing <label> (<header>)``: the raw column's value is NULL."""

    column: str
    label: str

    def __call__(self, row: Row) -> Check:
        found = row.field(self.column)
        label = self.label if found is None else f"{self.label} ({found.name})"
        return is_null(row.output(self.column)), lit(f"missing {label}")


@dataclass(frozen=True)
class MissingAll:
    """The row check ``reason``: every one of ``columns`` is NULL."""

    columns: tuple[str, ...]
    reason: str

    def __call__(self, row: Row) -> Check:
        return and_(*(is_null(row.output(c)) for c in self.columns)), lit(self.reason)


@dataclass(frozen=True)
class Within:
    """The row check ``<label> outside the billing period: '<value>'``: a date before the period's start
    or past its end (``end_inclusive``: the end is the period's last day, else the next period's first)."""

    column: str
    start: str
    end: str
    label: str
    end_inclusive: bool = False

    def __call__(self, row: Row) -> Check:
        value = row.output(self.column)
        past: Expr = (exp.GT if self.end_inclusive else exp.GTE)(this=value.copy(), expression=row.output(self.end))
        outside = exp.or_(exp.LT(this=value, expression=row.output(self.start)), past, copy=False)
        return outside, quoted(f"{self.label} outside the billing period: ", cast(value.copy(), "VARCHAR"))


def month_of(column: str) -> Derive:
    """The first day of the month of the DATE column ``column``."""
    return lambda row: cast(fn("date_trunc", lit("month"), row.output(column)), "DATE")


def utc_month_of(timestamp: Expr) -> Expr:
    """The first day of the UTC month of ``timestamp``, whatever the session time zone."""
    return cast(fn("date_trunc", lit("month"), fn("timezone", lit("UTC"), timestamp)), "DATE")


def utc_month(column: str) -> Derive:
    """The first day of the UTC month of the timestamp column ``column``."""
    return lambda row: utc_month_of(row.output(column))


def constant(text: str) -> Derive:
    """The same text on every row."""
    return lambda _row: lit(text)
