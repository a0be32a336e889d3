"""The FOCUS conversion's SQL in BigQuery's dialect, derived from the DuckDB source of truth.

Nothing here is a second copy of the conversion: ``focus_select(provider)`` takes the SELECT the
embedded path runs (``conversion.focus_select_sql``), inlines the macros of
sql/procedures/cloud/sp_cloud_1_convert_to_focus.sql into it (their bodies as DuckDB itself stores
them, so the unit map compiled into ``focus_unit`` is the very same), and transpiles the tree with
sqlglot. Three things are not mechanical, and each is listed with its reason in
sql/procedures/cloud/bigquery/README.md:

- a macro with a hand-written BigQuery body (``sql/procedures/cloud/bigquery/<macro>.sql``, one
  ``CREATE TEMP FUNCTION`` each, used only as the text to inline): DuckDB's MAP literals, lambdas
  and MAP-typed tag columns have no BigQuery counterpart sqlglot could derive;
- the rewrites of ``_REWRITES`` below: DuckDB functions sqlglot does not translate, or translates to
  something BigQuery would compute differently (a DECIMAL(38, 12) is a BIGNUMERIC there);
- the reference tables, inlined as ``UNNEST`` of literal structs (so a changed CSV changes the
  procedure's text, and with it its hash: nothing else to keep in step).

Why inline rather than create the macros as persistent functions: BigQuery wants a persistent
function qualified by its dataset and typed (bqemulator parses no ``ANY TYPE``), while an inlined
body needs neither, and the procedure then depends on nothing but the tables it reads and writes.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import duckdb
import sqlglot
from sqlglot import exp

from focus_svc import conversion

HANDWRITTEN_DIR = conversion.SQL_DIR / "procedures" / "cloud" / "bigquery"
RAW_STANDIN = "cloudact_raw_slice"
"""The relation name the DuckDB SELECT reads; replaced by the raw slice's subquery."""


@dataclass(frozen=True)
class Macro:
    """A scalar macro: its parameters and body (a sqlglot tree, in either dialect)."""

    name: str
    params: tuple[str, ...]
    body: exp.Expr
    handwritten: bool


@cache
def macros() -> dict[str, Macro]:
    """Every ``focus_*`` macro of the embedded path, with the hand-written BigQuery bodies in place.

    The DuckDB bodies come from ``duckdb_functions()`` after ``conversion.prepare``: exactly what
    the embedded path runs, including ``focus_unit`` compiled from the unit map.
    """
    con = duckdb.connect()
    try:
        conversion.prepare(con, [])
        rows = con.execute(
            "SELECT function_name, parameters, macro_definition FROM duckdb_functions() "
            "WHERE function_type = 'macro' AND function_name LIKE 'focus\\_%' ESCAPE '\\' ORDER BY 1"
        ).fetchall()
    finally:
        con.close()
    duck_params = {str(name): tuple(str(p) for p in params) for name, params, _ in rows}
    found: dict[str, Macro] = {}
    for path in sorted(HANDWRITTEN_DIR.glob("*.sql")):
        macro = _handwritten(path)
        if macro.name not in duck_params:
            raise ValueError(f"{path} rewrites {macro.name!r}, which is no macro of the DuckDB conversion")
        if macro.params != duck_params[macro.name]:
            raise ValueError(f"{path} takes {macro.params}, the DuckDB macro {duck_params[macro.name]}")
        found[macro.name] = macro
    # DuckDB renders lambdas as `(lambda d: ...)`, which sqlglot does not read: a macro holding one
    # has a hand-written body, so only the others are parsed.
    for name, _, body in rows:
        if str(name) not in found:
            found[str(name)] = Macro(
                str(name), duck_params[str(name)], sqlglot.parse_one(str(body), read="duckdb"), False
            )
    return found


def _handwritten(path: Path) -> Macro:
    """A ``CREATE TEMP FUNCTION name(p ANY TYPE, ...) AS (body)`` file as a Macro."""
    tree = sqlglot.parse_one(path.read_text(), read="bigquery")
    function = tree.this if isinstance(tree, exp.Create) else None
    if not isinstance(function, exp.UserDefinedFunction) or not isinstance(tree.expression, exp.Expr):
        raise ValueError(f"{path} is not one CREATE TEMP FUNCTION name(...) AS (...)")
    params = tuple(param.name for param in function.expressions)
    return Macro(function.this.name, params, tree.expression, True)


def inline_macros(tree: exp.Expr, known: Mapping[str, Macro]) -> exp.Expr:
    """``tree`` with every call of a macro replaced by its body over the call's arguments, to any depth."""

    def expand(node: exp.Expr) -> exp.Expr:
        if not isinstance(node, exp.Anonymous) or node.name.lower() not in known:
            return node
        macro = known[node.name.lower()]
        args = node.expressions
        if len(args) != len(macro.params):
            raise ValueError(f"{macro.name} takes {len(macro.params)} arguments, called with {len(args)}")
        bound = dict(zip(macro.params, args, strict=True))

        def substitute(inner: exp.Expr) -> exp.Expr:
            if isinstance(inner, exp.Column) and not inner.table and inner.name in bound:
                return exp.paren(bound[inner.name].copy(), copy=False)
            return inner

        body = macro.body.copy().transform(substitute)
        # The body may call other macros (focus_unit -> focus_unit_by_rule -> ...).
        return inline_macros(exp.paren(body, copy=False), known)

    return tree.transform(expand)


# ---- DuckDB functions sqlglot leaves as they are, rewritten to BigQuery's -------------------------


def _literal_text(node: exp.Expr) -> str | None:
    """The text of a string literal, or of a concatenation of them (the macros build long patterns so)."""
    if isinstance(node, exp.Literal) and node.is_string:
        return str(node.this)
    if isinstance(node, exp.Paren):
        return _literal_text(node.this)
    if isinstance(node, exp.DPipe):
        left, right = _literal_text(node.this), _literal_text(node.expression)
        return None if left is None or right is None else left + right
    return None


def _full_match(node: exp.Expr) -> exp.Expr:
    """``regexp_full_match(s, p)`` -> ``REGEXP_CONTAINS(s, '^(?:p)$')`` (RE2 has no full-match call)."""
    subject, pattern = node.expressions if isinstance(node, exp.Anonymous) else (node.this, node.expression)
    text = _literal_text(pattern)
    anchored = (
        exp.Literal.string(f"^(?:{text})$")
        if text is not None
        else exp.DPipe(
            this=exp.DPipe(this=exp.Literal.string("^(?:"), expression=pattern), expression=exp.Literal.string(")$")
        )
    )
    return exp.RegexpLike(this=subject, expression=anchored)


def _regexp_replace(node: exp.RegexpReplace) -> exp.Expr:
    """BigQuery replaces every match, DuckDB the first one unless ``'g'``: a first-match replace
    becomes an every-match one of the shortest prefix and the pattern (``^(.*?)(?:p)``, the groups
    of the replacement shifted by one), which matches once, where DuckDB's first match is."""
    modifiers = node.args.get("modifiers")
    flags = _literal_text(modifiers) if modifiers is not None else ""
    if flags is None or set(flags) - {"g"}:
        raise ValueError(f"regexp_replace modifiers {modifiers.sql() if modifiers else ''!r} have no BigQuery form")
    node.set("modifiers", None)
    if "g" in flags:
        return node
    pattern, replacement = _literal_text(node.expression), _literal_text(node.args["replacement"])
    if pattern is None or replacement is None:
        raise ValueError("regexp_replace of the first match with a computed pattern has no BigQuery form")
    if pattern.startswith("^"):  # matches once already
        return node
    shifted = re.sub(r"\\\\|\\([0-9])", lambda m: m[0] if m[1] is None else f"\\{int(m[1]) + 1}", replacement)
    node.set("expression", exp.Literal.string(f"^(?s:(.*?))(?:{pattern})"))
    node.set("replacement", exp.Literal.string(f"\\1{shifted}"))
    return node


def _timezone(node: exp.Anonymous) -> exp.Expr:
    """DuckDB ``timezone(zone, naive timestamp)``: the instant that wall time is in ``zone``,
    BigQuery's ``TIMESTAMP(datetime, zone)``."""
    zone, naive = node.expressions
    return exp.Anonymous(this="TIMESTAMP", expressions=[exp.cast(naive, exp.DataType.build("DATETIME")), zone])


def _numeric(node: exp.DataType) -> tuple[str, int] | None:
    """BigQuery's type for a DECIMAL(p, s) (NUMERIC holds 29 integer and 9 fraction digits, else
    BIGNUMERIC) and its scale; None for any other type."""
    if node.this != exp.DataType.Type.DECIMAL or len(node.expressions) != 2:
        return None
    precision, scale = (int(e.this.this if isinstance(e, exp.DataTypeParam) else e.this) for e in node.expressions)
    return ("NUMERIC" if scale <= 9 and precision - scale <= 29 else "BIGNUMERIC"), scale


def _decimal_cast(node: exp.Cast) -> exp.Expr:
    """``CAST(x AS DECIMAL(p, s))`` rounds to s digits in DuckDB. BigQuery takes no precision or
    scale in a CAST (only in a column's type): ``ROUND(CAST(x AS BIGNUMERIC), s)``."""
    numeric = _numeric(node.to)
    if numeric is None:
        return node
    kind, scale = numeric
    cast = node.copy()
    cast.set("to", exp.DataType.build(kind, dialect="bigquery"))
    return exp.Round(this=cast, decimals=exp.Literal.number(scale))


def _data_type(node: exp.DataType) -> exp.Expr:
    """A DECIMAL(p, s) outside a CAST is a NUMERIC or BIGNUMERIC; a MAP(K, V) is an
    ARRAY<STRUCT<key K, value V>>, as the BigQuery store holds MAP columns."""
    if node.this == exp.DataType.Type.MAP and len(node.expressions) == 2:
        key, value = (e.copy() for e in node.expressions)
        entry = exp.DataType(
            this=exp.DataType.Type.STRUCT,
            expressions=[
                exp.ColumnDef(this=exp.to_identifier("key"), kind=key),
                exp.ColumnDef(this=exp.to_identifier("value"), kind=value),
            ],
            nested=True,
        )
        return exp.DataType(this=exp.DataType.Type.ARRAY, expressions=[entry], nested=True)
    numeric = _numeric(node)
    return node if numeric is None else exp.DataType.build(numeric[0], dialect="bigquery")


def _concat_ws(node: exp.ConcatWs) -> exp.Expr:
    """DuckDB's ``concat_ws(sep, a, b, ...)`` skips NULL arguments; BigQuery has no CONCAT_WS (and
    sqlglot writes one with every NULL as ''): ``ARRAY_TO_STRING([a, b, ...], sep)`` skips them."""
    separator, *parts = node.expressions
    return exp.Anonymous(this="ARRAY_TO_STRING", expressions=[exp.Array(expressions=parts), separator])


_ANONYMOUS: dict[str, Callable[[exp.Anonymous], exp.Expr]] = {
    "regexp_full_match": _full_match,
    "timezone": _timezone,
}


def _rewrite(node: exp.Expr) -> exp.Expr:
    if isinstance(node, exp.Anonymous) and node.name.lower() in _ANONYMOUS:
        return _ANONYMOUS[node.name.lower()](node)
    if type(node).__name__ == "RegexpFullMatch":
        return _full_match(node)
    if isinstance(node, exp.RegexpReplace):
        return _regexp_replace(node)
    if isinstance(node, exp.ConcatWs):
        return _concat_ws(node)
    if isinstance(node, exp.Cast):  # TryCast too
        return _decimal_cast(node)
    if isinstance(node, exp.DataType):
        return _data_type(node)
    return node


# ---- Reference tables, inlined ----------------------------------------------------------------------


def reference_relation(path: Path) -> exp.Expr:
    """A CSV of sql/reference as ``(SELECT 'v' AS col, ... UNION ALL SELECT ...)``, every column STRING.

    SELECTs of literals rather than an UNNEST of structs: bqemulator loses the struct's fields.
    """
    with path.open(newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader)
        rows = [row for row in reader if row]
    if not rows:
        raise ValueError(f"{path} has no rows")
    selects = " UNION ALL ".join(
        "SELECT "
        + ", ".join(f"{_bq_string(value)} AS {_bq_identifier(name)}" for name, value in zip(header, row, strict=True))
        for row in rows
    )
    return sqlglot.parse_one(f"({selects})", read="bigquery")


def _bq_string(value: str) -> str:
    # All-VARCHAR as DuckDB's read_csv(all_varchar) loads them: an empty field is NULL there too.
    return "CAST(NULL AS STRING)" if value == "" else exp.Literal.string(value).sql(dialect="bigquery")


def _bq_identifier(name: str) -> str:
    return exp.to_identifier(name).sql(dialect="bigquery")


# ---- The provider's SELECT --------------------------------------------------------------------------


def focus_select(provider: str, raw_slice: exp.Expr) -> str:
    """The BigQuery SELECT of every FOCUS column of ``provider``'s rows in ``raw_slice`` (a subquery).

    Raises:
        ValueError: unknown provider, or SQL with no BigQuery form (see the README of HANDWRITTEN_DIR).
    """
    tree = sqlglot.parse_one(conversion.focus_select_sql(provider, RAW_STANDIN), read="duckdb")
    tree = inline_macros(tree, macros())
    tree = tree.transform(_rewrite)
    references = {table: path for table, path in conversion.reference_tables([provider]).items()}
    references[conversion.UNIT_TABLE] = conversion.UNIT_MAP

    def relations(node: exp.Expr) -> exp.Expr:
        if isinstance(node, exp.Table) and not node.db and node.name in (*references, RAW_STANDIN):
            source = raw_slice.copy() if node.name == RAW_STANDIN else reference_relation(references[node.name])
            alias = node.args.get("alias") or exp.TableAlias(this=exp.to_identifier(node.name))
            return exp.Subquery(this=source.unnest() if isinstance(source, exp.Subquery) else source, alias=alias)
        return node

    tree = tree.transform(relations)
    sql = tree.sql(dialect="bigquery", unsupported_level=sqlglot.ErrorLevel.RAISE)
    _check_bigquery(sql)
    return sql


# Functions sqlglot does not model that the rewrites above write on purpose: BigQuery's own.
_BIGQUERY_FUNCTIONS = frozenset({"ARRAY_TO_STRING", "TIMESTAMP"})


def _check_bigquery(sql: str) -> None:
    """Refuses SQL that is not BigQuery's: sqlglot passes a function it does not know through as it
    is, and bqemulator (DuckDB underneath) would run a DuckDB one that BigQuery lacks.

    Raises:
        ValueError: the SQL does not parse as BigQuery, or calls a function BigQuery lacks.
    """
    try:
        tree = sqlglot.parse_one(sql, read="bigquery")
    except sqlglot.errors.ParseError as error:
        raise ValueError(f"the translated SQL is no BigQuery SQL: {str(error).splitlines()[0]}") from None
    unknown = sorted({f.name for f in tree.find_all(exp.Anonymous) if f.name.upper() not in _BIGQUERY_FUNCTIONS})
    if unknown:
        raise ValueError(f"DuckDB functions without a BigQuery form: {', '.join(unknown)}")
