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
from sqlglot.optimizer.annotate_types import annotate_types
from sqlglot.optimizer.qualify import qualify

from cloudact_shared.naming import raw_table_name
from cloudact_shared.storage import load_schema
from cloudact_shared.storage.schema import duckdb_type
from focus_svc import bigquery_nested, conversion

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


def _only_group(pattern: str, group: int) -> str:
    """``pattern`` with every capturing group but the ``group``-th made non-capturing (all of them
    for group 0, the whole match): BigQuery's REGEXP_EXTRACT returns the one capturing group."""
    out, index, in_class, groups = [], 0, False, 0
    while index < len(pattern):
        char = pattern[index]
        if char == "\\":
            out.append(pattern[index : index + 2])
            index += 2
            continue
        if in_class:
            # a ']' right after '[' or '[^' is a literal one
            in_class = char != "]" or pattern[index - 1] == "[" or pattern[index - 2 : index] == "[^"
        elif char == "[":
            in_class = True
        elif char == "(" and pattern[index + 1 : index + 2] == "?":
            if re.match(r"\(\?P?<[A-Za-z]", pattern[index:]):
                raise ValueError(f"regexp_extract with a named group has no BigQuery form: {pattern!r}")
        elif char == "(":
            groups += 1
            if groups != group:
                char = "(?:"
        out.append(char)
        index += 1
    if group > groups:
        raise ValueError(f"regexp_extract of group {group} of {pattern!r}, which has {groups}")
    return "".join(out)


def _regexp_extract(node: exp.RegexpExtract) -> exp.Expr:
    """DuckDB's ``regexp_extract(s, p, g)`` returns group g (0: the match) and '' when nothing
    matches; BigQuery's takes no group (it returns the pattern's one capturing group, and refuses a
    pattern with more) and returns NULL when nothing matches. sqlglot drops the group silently:
    ``CASE WHEN s IS NULL THEN NULL ELSE COALESCE(REGEXP_EXTRACT(s, p'), '') END``, p' having only
    group g capturing."""
    pattern = _literal_text(node.expression)
    if pattern is None:
        raise ValueError("regexp_extract with a computed pattern has no BigQuery form")
    group = node.args.get("group")
    number = int(group.this) if isinstance(group, exp.Literal) and group.is_int else 0 if group is None else -1
    if number < 0:
        raise ValueError("regexp_extract of a computed group has no BigQuery form")
    subject = node.this.transform(_rewrite)
    extract = exp.RegexpExtract(this=subject, expression=exp.Literal.string(_only_group(pattern, number)))
    matched = exp.Coalesce(this=extract, expressions=[exp.Literal.string("")])
    return exp.If(this=exp.Is(this=subject.copy(), expression=exp.Null()), true=exp.Null(), false=matched)


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


# The DuckDB type of what a CAST to DECIMAL casts, recorded by ``annotate_decimal_operands``.
_OPERAND = "cloudact_decimal_operand"
_EXACT_TYPES = frozenset({exp.DataType.Type.DECIMAL, *exp.DataType.INTEGER_TYPES})


def annotate_decimal_operands(
    tree: exp.Expr,
    schema: Mapping[str, Mapping[str, str]],
    relations: Mapping[str, Mapping[str, str] | None] | None = None,
) -> None:
    """Records on every ``CAST(x AS DECIMAL(p, s))`` of ``tree`` whether DuckDB types ``x`` as an
    exact number (a DECIMAL or an integer), from sqlglot's type inference over the tables' columns
    (``schema``: relation -> column -> DuckDB type). Where sqlglot cannot tell (it does not type
    lambdas or json_transform), an operand made of columns of the query's own derived tables and
    CTEs is judged by their types as DuckDB binds them (``relations``: alias -> column -> type,
    from ``relation_types``).

    Why it matters: the BigQuery form of the cast depends on it (``_decimal_cast``). The inference
    runs on a qualified copy (qualifying rewrites identifiers); the casts are matched back by a mark.
    A tree sqlglot cannot qualify keeps no record, and every cast then takes the general form.
    """
    casts = [cast for cast in tree.find_all(exp.Cast) if _numeric(cast.to) is not None]
    for index, cast in enumerate(casts):
        cast.meta[_OPERAND] = index
    try:
        typed = annotate_types(
            qualify(tree.copy(), schema=dict(schema), dialect="duckdb", validate_qualify_columns=False),
            schema=dict(schema),
            dialect="duckdb",
        )
    except (sqlglot.errors.SqlglotError, ValueError, KeyError):
        # (a type sqlglot cannot read in the schema, a construct it cannot scope)
        typed = None
    exact: set[int] = set()
    for cast in typed.find_all(exp.Cast) if typed is not None else ():
        mark = cast.meta.get(_OPERAND)
        if isinstance(mark, int) and _exact(cast.this, relations or {}) is True:
            exact.add(mark)
    for index, cast in enumerate(casts):
        cast.meta[_OPERAND] = index in exact


_EXACT_DUCKDB = re.compile(r"(DECIMAL|NUMERIC|TINYINT|SMALLINT|INTEGER|BIGINT|HUGEINT|U(TINY|SMALL|BIG|HUGE)?INT)\b")


def _exact(node: exp.Expr, relations: Mapping[str, Mapping[str, str] | None]) -> bool | None:
    """True when ``node`` is an exact number in DuckDB, False when it is not or nobody can tell,
    None for a NULL (which takes the others' type)."""
    known = node.type
    if known is not None and known.this not in (exp.DataType.Type.UNKNOWN, exp.DataType.Type.NULL):
        return known.this in _EXACT_TYPES
    if isinstance(node, exp.Null):
        return None
    if isinstance(node, (exp.Paren, exp.Neg)):
        return _exact(node.this, relations)
    if isinstance(node, exp.Column):
        columns = relations.get(node.table.lower()) or {}
        column_type = columns.get(node.name.lower())
        return column_type is not None and _EXACT_DUCKDB.match(column_type.upper()) is not None
    if isinstance(node, exp.Dot) and isinstance(node.this, exp.Column):  # a struct column's field
        struct_type = (relations.get(node.this.table.lower()) or {}).get(node.this.name.lower())
        if struct_type is None:
            return False
        fields = exp.DataType.build(struct_type, dialect="duckdb").expressions
        field = next((f for f in fields if isinstance(f, exp.ColumnDef) and f.name.lower() == node.name.lower()), None)
        return field is not None and field.kind is not None and field.kind.this in _EXACT_TYPES
    if isinstance(node, (exp.Add, exp.Sub, exp.Mul)):
        return _exact(node.this, relations) is True and _exact(node.expression, relations) is True
    branches: list[exp.Expr] = []
    if isinstance(node, exp.Case):
        branches = [when.args["true"] for when in node.args.get("ifs") or []] + [node.args.get("default") or exp.Null()]
    elif isinstance(node, exp.Coalesce):
        branches = [node.this, *node.expressions]
    verdicts = [_exact(branch, relations) for branch in branches]
    return bool(verdicts) and True in verdicts and all(v is not False for v in verdicts)


def relation_types(duckdb_sql: str, provider: str) -> dict[str, dict[str, str] | None]:
    """The column types DuckDB binds for every CTE and derived table of the provider's SELECT, by
    alias (None for an alias used twice with different columns), over an empty raw table.

    sqlglot's inference stops at what it cannot type; DuckDB's binder types everything, so this
    fills in ``annotate_decimal_operands``. A relation DuckDB cannot describe on its own is left out.
    """
    tree = sqlglot.parse_one(duckdb_sql, read="duckdb")
    relations: list[tuple[str, str]] = [
        (cte.alias, f"{_enclosing_ctes(cte)} SELECT * FROM {_duckdb(exp.to_identifier(cte.alias))}")
        for cte in tree.find_all(exp.CTE)
    ]
    relations += [
        (sub.alias, f"{_enclosing_ctes(sub)} SELECT * FROM ({_duckdb(sub.this)}) AS cloudact_described")
        for sub in tree.find_all(exp.Subquery)
        if sub.alias and isinstance(sub.parent, (exp.From, exp.Join))
    ]
    raw = load_schema(raw_table_name(provider))
    con = duckdb.connect()
    found: dict[str, dict[str, str] | None] = {}
    try:
        conversion.prepare(con, [provider])
        columns = ", ".join(
            f"{exp.to_identifier(c.name).sql(dialect='duckdb')} {duckdb_type(c.type)}" for c in raw.columns
        )
        con.execute(f"CREATE TEMP TABLE {RAW_STANDIN} ({columns})")
        for alias, sql in relations:
            try:
                described = {str(row[0]).lower(): str(row[1]) for row in con.execute(f"DESCRIBE {sql}").fetchall()}
            except duckdb.Error:
                continue
            key = alias.lower()
            found[key] = described if found.get(key, described) == described else None
    finally:
        con.close()
    return found


def _enclosing_ctes(node: exp.Expr) -> str:
    """``WITH ...`` of every CTE in scope at ``node`` (those of the queries around it, outermost
    first, an inner one replacing an outer one of its name), for describing ``node`` on its own."""
    in_scope: dict[str, exp.CTE] = {}
    for ancestor in reversed(_ancestors(node)):
        with_ = ancestor.args.get("with_")
        for cte in with_.expressions if isinstance(with_, exp.With) else ():
            in_scope.pop(cte.alias, None)
            in_scope[cte.alias] = cte
    if not in_scope:
        return ""
    return "WITH " + ", ".join(_duckdb(cte) for cte in in_scope.values())


def _ancestors(node: exp.Expr) -> list[exp.Expr]:
    found, parent = [], node.parent
    while parent is not None:
        found.append(parent)
        parent = parent.parent
    return found


def _duckdb(node: exp.Expr) -> str:
    # sqlglot writes DuckDB's empty MAP literal back as "MAP MAP()", which DuckDB does not parse.
    return node.sql(dialect="duckdb").replace("MAP MAP()", "MAP {}")


def _decimal_literal(node: exp.Expr) -> tuple[exp.Expr, int] | None:
    """A DuckDB decimal literal (``0.000001``: an exact DECIMAL there, a FLOAT64 in BigQuery) as
    BigQuery's exact ``PARSE_NUMERIC('0.000001')`` (``PARSE_BIGNUMERIC`` past NUMERIC's 9 fraction
    or 29 integer digits), and its scale; None for anything else (scientific notation is a DOUBLE
    in DuckDB too)."""
    negative = isinstance(node, exp.Neg)
    literal = node.this if negative else node
    if not isinstance(literal, exp.Literal) or not literal.is_number:
        return None
    text = str(literal.this)
    if not re.fullmatch(r"[0-9]*\.[0-9]+|[0-9]+\.[0-9]*", text):
        return None
    whole, fraction = text.split(".")
    parse = exp.ParseNumeric if len(fraction) <= 9 and len(whole.lstrip("0")) <= 29 else exp.ParseBignumeric
    return parse(this=exp.Literal.string(("-" if negative else "") + text)), len(fraction)


def _decimal_cast(node: exp.Cast) -> exp.Expr:
    """``CAST(x AS DECIMAL(p, s))`` rounds to s digits in DuckDB. BigQuery takes no precision or
    scale in a CAST (only in a column's type), so by what ``x`` is (``annotate_decimal_operands``):

    - a decimal literal: ``PARSE_NUMERIC('x')`` (a bare one would be a FLOAT64), rounded to s if
      it has more digits;
    - an exact number (a DECIMAL or an integer; sqlglot's inference does not tell a DuckDB
      HUGEINT sum from a DECIMAL one): ``ROUND(x + BIGNUMERIC '0', s)`` (NUMERIC for a small
      scale), exact in BigQuery for an INT64, NUMERIC or BIGNUMERIC ``x`` alike, no CAST of ``x``;
    - anything else (text, a DOUBLE, a type sqlglot could not infer): ``ROUND(CAST(x AS BIGNUMERIC), s)``.

    The first two keep every digit on bqemulator too, which runs a CAST to BIGNUMERIC as DuckDB's
    DECIMAL(38, 5) and to NUMERIC as DECIMAL(18, 3) (and its sum with a DECIMAL(38, 12) as the
    latter).
    """
    numeric = _numeric(node.to)
    if numeric is None:
        return node
    kind, scale = numeric
    # The transform does not descend into a node it replaced: the operand is rewritten here.
    operand = node.this.transform(_rewrite)
    literal = _decimal_literal(node.this)
    if literal is not None:
        parsed, digits = literal
        return parsed if digits <= scale else exp.Round(this=parsed, decimals=exp.Literal.number(scale))
    bigquery_type = exp.DataType.build(kind, dialect="bigquery")
    if node.meta.get(_OPERAND) is True:
        zero = exp.cast(exp.Literal.string("0"), bigquery_type)
        exact = exp.Add(this=exp.paren(operand, copy=False), expression=zero)
        return exp.Round(this=exact, decimals=exp.Literal.number(scale))
    cast = node.copy()
    cast.set("this", operand)
    cast.set("to", bigquery_type)
    if isinstance(node.this, exp.Null):
        return cast
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
    if (nested := bigquery_nested.rewrite(node, _rewrite)) is not None:  # lists, MAPs, JSON to them
        return nested
    if isinstance(node, exp.Anonymous) and node.name.lower() in _ANONYMOUS:
        return _ANONYMOUS[node.name.lower()](node)
    if type(node).__name__ == "RegexpFullMatch":
        return _full_match(node)
    if isinstance(node, exp.RegexpReplace):
        return _regexp_replace(node)
    if isinstance(node, exp.RegexpExtract):
        return _regexp_extract(node)
    if isinstance(node, exp.ConcatWs):
        return _concat_ws(node)
    if isinstance(node, exp.Cast):  # TryCast too
        return _decimal_cast(node)
    literal = _decimal_literal(node)
    if literal is not None:
        return literal[0]
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


def _duckdb_schema(provider: str, references: Mapping[str, Path]) -> dict[str, dict[str, str]]:
    """The relations the provider's DuckDB SELECT reads, with their DuckDB column types: the raw
    table (as ``RAW_STANDIN``) and the reference CSVs (all VARCHAR, as DuckDB loads them)."""
    schema = {RAW_STANDIN: {column.name: column.type for column in load_schema(raw_table_name(provider)).columns}}
    for table, path in references.items():
        with path.open(newline="") as handle:
            schema[table] = dict.fromkeys(next(csv.reader(handle)), "VARCHAR")
    return schema


def focus_select(provider: str, raw_slice: exp.Expr) -> str:
    """The BigQuery SELECT of every FOCUS column of ``provider``'s rows in ``raw_slice`` (a subquery).

    Raises:
        ValueError: unknown provider, or SQL with no BigQuery form (see the README of HANDWRITTEN_DIR).
    """
    references = {table: path for table, path in conversion.reference_tables([provider]).items()}
    references[conversion.UNIT_TABLE] = conversion.UNIT_MAP
    duckdb_sql = conversion.focus_select_sql(provider, RAW_STANDIN)
    tree = translate(duckdb_sql, _duckdb_schema(provider, references), relation_types(duckdb_sql, provider))

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


def translate(
    duckdb_sql: str,
    schema: Mapping[str, Mapping[str, str]],
    relations: Mapping[str, Mapping[str, str] | None] | None = None,
) -> exp.Expr:
    """A DuckDB query of the conversion as a BigQuery tree: macros inlined, the decimal casts'
    operands typed from ``schema`` (relation -> column -> DuckDB type) and ``relations`` (see
    ``annotate_decimal_operands``), the rewrites applied."""
    tree = inline_macros(sqlglot.parse_one(duckdb_sql, read="duckdb"), macros())
    annotate_decimal_operands(tree, schema, relations)
    return tree.transform(_rewrite)


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
