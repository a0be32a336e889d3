"""Currency codes: BillingCurrency and PricingCurrency hold ISO 4217 codes only, one policy for every provider.

A provider's format names its raw currency columns (``Currencies``); the builder then applies:

- a code is trimmed and upper-cased (``usd`` is USD); one that is not a current ISO 4217 code
  (``sql/reference/iso4217_currencies.csv``) quarantines its row:
  ``invalid currency code in BillingCurrency: 'MC'``;
- a row without a billing currency takes its file's currency when the file's rows name exactly one
  (OCI leaves it out on zero-cost rows); otherwise the layout's ``Missing`` check quarantines it;
- a missing pricing currency stays missing (the FOCUS mapping falls back to the billing currency).

Finding a file's currency means reading the file once more, so it is done only when a row needs it:
the fill is a Python function DuckDB calls for rows without a code (``FileCurrency``), which runs
its query the first time and remembers the answer. A file whose rows all have a code is read once.
"""

from __future__ import annotations

import csv
import itertools
import threading
from dataclasses import dataclass
from functools import cache
from typing import Any, Final

import duckdb
from duckdb.func import FunctionNullHandling, PythonUDFType
from sqlglot import exp

from cloudact_providers.rawselect.reading import (
    FILE_CURRENCY_NEEDED,
    Field,
    SourceFile,
    lenient_scan_needed,
    scan_leniently,
)
from cloudact_providers.rawselect.sql import Expr, and_, fn, lit, not_, not_null, quoted, render, select
from cloudact_providers.rawselect.values import Row
from cloudact_providers.spec import SQL_ROOT

CODES_CSV: Final = SQL_ROOT / "reference" / "iso4217_currencies.csv"
"""The ISO 4217 codes in use (origin and licence in ``sql/reference/SOURCES.md``)."""

_FUNCTION_IDS = itertools.count()


@dataclass(frozen=True)
class Currencies:
    """The raw columns of a provider's files that hold currency codes (those a layout fills are checked)."""

    billing: tuple[str, ...] = ()
    """Billing-currency columns: a row without a code takes the file's single currency."""
    pricing: tuple[str, ...] = ()
    """Pricing-currency columns: may be missing."""


@cache
def iso_codes() -> frozenset[str]:
    """The current ISO 4217 alphabetic codes."""
    with CODES_CSV.open(newline="", encoding="utf-8") as handle:
        return frozenset(row["code"] for row in csv.DictReader(handle))


def is_iso_code(code: Expr) -> Expr:
    """``code`` (upper-case text) is a current ISO 4217 code."""
    return exp.In(this=code, expressions=[lit(c) for c in sorted(iso_codes())])


def apply(row: Row, currencies: Currencies, *, fill_from_file: bool = True) -> None:
    """Checks the currency columns ``row``'s layout fills, and fills a missing billing currency.

    Args:
        fill_from_file: fill a missing billing currency with the file's (``FileCurrency``). Without,
            a row without one fails the query with ``FILE_CURRENCY_NEEDED`` (an optimistic read,
            which then runs again with it).
    """
    for column in currencies.billing:
        if (found := row.field(column)) is not None:
            code = _checked(row, column, found)
            if fill_from_file:
                fill: Expr = fn(FileCurrency.register(row.con, row.file, found), code.copy())
            else:
                fill = fn("error", lit(FILE_CURRENCY_NEEDED))
            row.outputs[column] = row.keep(f"{column}#filled", fn("coalesce", code, fill))
    for column in currencies.pricing:
        if (found := row.field(column)) is not None:
            row.outputs[column] = _checked(row, column, found)


def _checked(row: Row, column: str, found: Field) -> exp.Column:
    """The column's code, upper case; its row quarantined when the code is not ISO 4217."""
    code = row.keep(f"{column}#code", _code(row.output(column)))
    invalid = and_(not_null(code.copy()), not_(is_iso_code(code.copy())))
    row.check(invalid, quoted(f"invalid currency code in {found.name}: ", found.text()))
    return code


def _code(text: Expr) -> Expr:
    return exp.Nullif(this=fn("upper", fn("trim", text)), expression=lit(""))


class FileCurrency:
    """A file's single currency, found the first time DuckDB asks for it (an Arrow UDF).

    Thread-safe: DuckDB may call the function from several threads at once; the file is read once.
    """

    def __init__(self, sql: str) -> None:
        self._sql = sql
        self._lock = threading.Lock()
        self._found: tuple[str | None] | None = None

    @classmethod
    def register(cls, con: duckdb.DuckDBPyConnection, file: SourceFile, found: Field) -> str:
        """Adds the function for ``file``'s currency column ``found`` to ``con``; returns its name."""
        name = f"cloudact_file_currency_{next(_FUNCTION_IDS)}"
        con.create_function(
            name,
            # Read padded: a strict read's ragged row must fail the caller's query, not this one's.
            cls(_distinct_codes_sql(file.padded(), found)),
            [duckdb.sqltype("VARCHAR")],
            duckdb.sqltype("VARCHAR"),
            type=PythonUDFType.ARROW,
            null_handling=FunctionNullHandling.SPECIAL,  # it is called for the NULLs: they are its work
            side_effects=True,  # never folded into a constant at planning, which would read the file always
        )
        return name

    # Any, not pa.Array: DuckDB evaluates a UDF's annotations, and pyarrow is imported only here
    # (DuckDB has loaded it to call this; `cloudact convert`'s start-up skips it).
    def __call__(self, missing: Any) -> Any:
        import pyarrow as pa

        return pa.array([self.single()] * len(missing), pa.string())

    def single(self) -> str | None:
        """The one ISO 4217 code the file's rows name, or None (none, or several)."""
        with self._lock:
            if self._found is None:
                # Its own database: the caller's connection is busy running the query that asked.
                with duckdb.connect() as con:
                    codes = self._codes(con)
                self._found = (codes[0] if len(codes) == 1 else None,)
            return self._found[0]

    def _codes(self, con: duckdb.DuckDBPyConnection) -> list[str]:
        try:
            return [str(r[0]) for r in con.execute(self._sql).fetchall()]
        except duckdb.Error as exc:
            if not lenient_scan_needed(exc):
                raise
            scan_leniently(con)  # a file DuckDB's fast scan refuses (see ``reading``)
            return [str(r[0]) for r in con.execute(self._sql).fetchall()]


def _distinct_codes_sql(file: SourceFile, found: Field) -> str:
    """The distinct valid codes of the column ``found`` in the well-formed rows of ``file`` (two at most)."""
    code = _code(found.text())
    rows = select(*file.renamed(), source=file.table())
    width = file.width_check()
    valid = and_(not_null(code.copy()), is_iso_code(code.copy()))
    if width is not None:
        valid = and_(not_(width[0]), valid)
    query = select(code, source=rows).distinct(copy=False).where(valid, copy=False)
    return render(query.limit(2, copy=False))
