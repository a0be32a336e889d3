"""SQL as sqlglot expressions: the vocabulary the raw SELECT is built from, rendered once as DuckDB SQL.

Nothing is pasted into SQL text by hand: a value (a file path, an object name, a map key, a message)
becomes a sqlglot string literal, a name (a header, an alias) a quoted identifier, and sqlglot writes
the SQL. Fixed fragments are written once as DuckDB SQL with ``:name`` placeholders (``template``),
parsed once and filled with expressions. DuckDB functions are called by name (``fn``), so sqlglot
writes them as they are instead of translating them to another dialect's spelling.

Every helper returns a new tree: an expression is never shared between two places of a statement.
"""

from __future__ import annotations

from functools import cache

import sqlglot
from sqlglot import exp

DIALECT = "duckdb"

Expr = exp.Expr
"""Any sqlglot expression."""

Check = tuple[Expr, Expr]
"""A row check: the condition that quarantines a row, and the reason (a text expression) it gives."""

# Operands that must be parenthesised before an operator binds them (``a || b IS NULL`` is ambiguous).
_COMPOUND = (exp.Binary, exp.Not, exp.Predicate, exp.Connector)


def lit(value: str) -> exp.Literal:
    """A string literal."""
    return exp.Literal.string(value)


def ident(name: str) -> exp.Identifier:
    """A quoted identifier (any text: a header, an alias such as ``s#3``)."""
    return exp.Identifier(this=name, quoted=True)


def col(name: str) -> exp.Column:
    """A reference to the column (or alias) ``name``."""
    return exp.Column(this=ident(name))


def fn(name: str, *args: Expr) -> exp.Anonymous:
    """A call of the DuckDB function ``name``, written as is."""
    return exp.Anonymous(this=name, expressions=list(args))


def param(name: str, value: Expr) -> exp.EQ:
    """A named argument of a table function (``header = true``)."""
    return exp.EQ(this=exp.Column(this=exp.Identifier(this=name)), expression=value)


@cache
def _data_type(name: str) -> exp.DataType:
    return exp.DataType.build(name, dialect=DIALECT)


def data_type(name: str) -> exp.DataType:
    """The DuckDB type ``name`` (``DECIMAL(38,12)``, ``MAP(VARCHAR, VARCHAR)``) as an expression."""
    return _data_type(name).copy()


def cast(value: Expr, type_name: str) -> exp.Cast:
    """``CAST(value AS type_name)``."""
    return exp.Cast(this=value, to=data_type(type_name))


def try_cast(value: Expr, type_name: str) -> exp.TryCast:
    """``TRY_CAST(value AS type_name)``: NULL where the value does not convert."""
    return exp.TryCast(this=value, to=data_type(type_name))


def null(type_name: str) -> exp.Cast:
    """A typed NULL."""
    return cast(exp.Null(), type_name)


def paren(value: Expr) -> Expr:
    """``value``, parenthesised when an operator applied to it could bind differently."""
    return exp.Paren(this=value) if isinstance(value, _COMPOUND) and not isinstance(value, exp.Dot) else value


def is_null(value: Expr) -> exp.Is:
    """``value IS NULL``."""
    return exp.Is(this=paren(value), expression=exp.Null())


def not_(condition: Expr) -> exp.Not:
    """``NOT condition`` (NOT binds looser than comparisons and IS, tighter than AND and OR)."""
    return exp.Not(this=exp.Paren(this=condition) if isinstance(condition, exp.Connector) else condition)


def not_null(value: Expr) -> exp.Not:
    """``value IS NOT NULL``."""
    return not_(is_null(value))


def and_(*conditions: Expr) -> Expr:
    """The conditions joined with AND (an OR among them parenthesised)."""
    return exp.and_(*conditions, copy=False)


def concat(*parts: Expr) -> Expr:
    """``a || b || ...`` (text concatenation; NULL if a part is NULL)."""
    result = parts[0]
    for part in parts[1:]:
        result = exp.DPipe(this=result, expression=paren(part))
    return result


def case(*branches: Check, default: Expr | None = None) -> exp.Case:
    """``CASE WHEN c1 THEN v1 ... [ELSE default] END``."""
    return exp.Case(ifs=[exp.If(this=c, true=v) for c, v in branches], default=default)


def quoted(prefix: str, value: Expr) -> Expr:
    """The text ``prefix'value'``: how a quarantine reason shows the offending value."""
    return concat(lit(prefix + "'"), value, lit("'"))


def alias(value: Expr, name: str) -> exp.Alias:
    """``value AS "name"``."""
    return exp.Alias(this=value, alias=ident(name))


def select(*columns: Expr, source: Expr) -> exp.Select:
    """``SELECT columns FROM source`` (a table function, or a SELECT taken as a subquery)."""
    table = exp.Subquery(this=source) if isinstance(source, exp.Select) else source
    return exp.Select(expressions=list(columns)).from_(table, copy=False)


def star() -> exp.Star:
    """``*``."""
    return exp.Star()


@cache
def _parsed(sql: str) -> Expr:
    return sqlglot.parse_one(sql, dialect=DIALECT)


def template(sql: str, **values: Expr) -> Expr:
    """The DuckDB SQL fragment ``sql`` with each ``:name`` placeholder replaced by ``values[name]``.

    The fragment is parsed once; each call fills a copy (a value used twice is copied).
    """

    def fill(node: Expr) -> Expr:
        if isinstance(node, exp.Placeholder) and node.this in values:
            return values[node.this].copy()
        return node

    return _parsed(sql).copy().transform(fill, copy=False)


def render(expression: Expr) -> str:
    """The DuckDB SQL text of ``expression`` (rendered as it is: sqlglot's defensive copy of the whole
    tree would cost more than building it)."""
    return expression.sql(dialect=DIALECT, copy=False)
