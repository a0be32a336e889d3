"""DuckDB's lists, MAPs and JSON-to-nested parsing in BigQuery's SQL, for ``bigquery_sql._rewrite``.

BigQuery has no lambdas and no MAP type. The conventions, those of the BigQuery store:

- a MAP is an ``ARRAY<STRUCT<key, value>>`` (a REPEATED RECORD, what DuckDB's ``map_entries``
  yields), so ``map_entries`` and ``map_from_entries`` are the identity; a missing map is an empty
  array (a REPEATED column is never NULL), so where DuckDB yields a NULL list or map, these forms
  yield an empty one;
- a lambda over a list is an ``ARRAY`` subquery over ``UNNEST(list) WITH OFFSET``, ordered by the
  offset: BigQuery keeps no order in a subquery unless told, DuckDB keeps the list's.

Every function takes a node of the DuckDB tree (as sqlglot read it) and the rewrite of the whole
conversion (applied to the node's operands first: a replaced node's children are not visited by
``transform`` again), and returns the node's BigQuery form. sql/procedures/cloud/bigquery/README.md
lists each with its reason.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable

import sqlglot
from sqlglot import exp

Rewrite = Callable[[exp.Expr], exp.Expr]

# Names of the range variables the forms introduce (a lambda's own parameter keeps its name, so its
# body reads as written); long enough not to shadow a column of the conversion.
_ELEMENT = "cloudact_element"
_ENTRY = "cloudact_entry"
_KEY = "cloudact_key"
_JSON = "cloudact_json"
_PARSE = "PARSE_JSON({text}, wide_number_mode => 'round')"
"""JSON text as a JSON value; 'round' as DuckDB reads a number too long for a DOUBLE (the default,
'exact', fails the query)."""
_MAP_TYPE = re.compile(r"^MAP\(\s*VARCHAR\s*,\s*(.+)\)$", re.IGNORECASE)


def _fill(template: str, **parts: exp.Expr) -> exp.Expr:
    """The BigQuery ``template`` with each placeholder column (``_NAME_``) replaced by its part.

    A part in a function's or UNNEST's argument goes in without parentheses (bqemulator misreads a
    parenthesised UNNEST argument), one among operators in parentheses.
    """
    tree = sqlglot.parse_one(template, read="bigquery")

    def fill(node: exp.Expr) -> exp.Expr:
        if isinstance(node, exp.Table) and not node.db and node.name in parts:  # a derived table
            return exp.Subquery(this=parts[node.name].unnest().copy(), alias=node.args.get("alias"))
        if not isinstance(node, exp.Column) or node.table or node.name not in parts:
            return node
        part = parts[node.name].copy()
        if isinstance(node.parent, (exp.Func, exp.Unnest, exp.Tuple, exp.Select, exp.Alias, exp.Paren)):
            return part.unnest() if isinstance(part, exp.Paren) else part
        operator = isinstance(part, (exp.Binary, exp.Unary, exp.Predicate, exp.Connector))
        return exp.paren(part, copy=False) if operator and not isinstance(part, exp.Paren) else part

    return tree.transform(fill)


def _json_field(value: exp.Expr, field: exp.Expr) -> exp.Expr:
    """BigQuery's JSON subscript ``value[field]``, marked so that the rewrite of DuckDB's subscripts
    (``subscript`` below) leaves it alone."""
    return exp.Bracket(this=value, expressions=[field], json_access=True)


def _name(identifier: exp.Expr | str) -> str:
    return exp.to_identifier(identifier if isinstance(identifier, str) else identifier.name).sql(dialect="bigquery")


def _lambda(node: exp.Expr, inner: Rewrite) -> tuple[str, exp.Expr]:
    """A one-parameter lambda's parameter name and its rewritten body."""
    function = node.args.get("expression")
    if not isinstance(function, exp.Lambda) or len(function.expressions) != 1:
        raise ValueError(f"{node.sql(dialect='duckdb')[:80]}: only a lambda of one parameter has a BigQuery form")
    return _name(function.expressions[0]), function.this.transform(inner)


# ---- Lists ------------------------------------------------------------------------------------------


def list_transform(node: exp.Transform, inner: Rewrite) -> exp.Expr:
    """``list_transform(l, lambda x: f(x))`` -> ``ARRAY(SELECT f(x) FROM UNNEST(l) AS x ...)``, in the list's order."""
    param, body = _lambda(node, inner)
    return _fill(
        f"ARRAY(SELECT _BODY_ FROM UNNEST(_LIST_) AS {param} WITH OFFSET AS {_ELEMENT}_at ORDER BY {_ELEMENT}_at)",
        _BODY_=body,
        _LIST_=node.this.transform(inner),
    )


def list_filter(node: exp.ArrayFilter, inner: Rewrite) -> exp.Expr:
    """``list_filter(l, lambda x: p(x))`` -> the elements where ``p`` is true, in the list's order."""
    param, condition = _lambda(node, inner)
    return _fill(
        f"ARRAY(SELECT {param} FROM UNNEST(_LIST_) AS {param} WITH OFFSET AS {_ELEMENT}_at "
        f"WHERE _CONDITION_ ORDER BY {_ELEMENT}_at)",
        _CONDITION_=condition,
        _LIST_=node.this.transform(inner),
    )


def list_distinct(node: exp.ArrayDistinct, inner: Rewrite) -> exp.Expr:
    """``list_distinct(l)``: its distinct non-NULL elements (DuckDB drops NULLs too). DuckDB
    guarantees no order; this keeps each element's first position, so the result is deterministic."""
    return _fill(
        f"ARRAY(SELECT {_ELEMENT} FROM UNNEST(_LIST_) AS {_ELEMENT} WITH OFFSET AS {_ELEMENT}_at "
        f"WHERE {_ELEMENT} IS NOT NULL GROUP BY {_ELEMENT} ORDER BY MIN({_ELEMENT}_at))",
        _LIST_=node.this.transform(inner),
    )


def list_sum(node: exp.Anonymous, inner: Rewrite) -> exp.Expr:
    """``list_sum(l)`` -> ``(SELECT SUM(e) FROM UNNEST(l) AS e)`` (NULL for an empty list, as DuckDB's)."""
    (values,) = node.expressions
    return _fill(
        f"(SELECT SUM({_ELEMENT}) FROM UNNEST(_LIST_) AS {_ELEMENT})",
        _LIST_=values.transform(inner),
    )


def _duckdb_index(index: exp.Expr) -> int | None:
    """The index as written in DuckDB, for a literal one. sqlglot's DuckDB reader stores a literal
    subscript 0-based (``l[1]`` as 0, ``l[-1]`` as -2); a computed one it keeps as written."""
    if isinstance(index, exp.Literal) and not index.is_string:
        return int(index.this) + 1
    if isinstance(index, exp.Neg) and isinstance(index.this, exp.Literal) and not index.this.is_string:
        return -int(index.this.this) + 1
    return None


def subscript(node: exp.Bracket, inner: Rewrite) -> exp.Expr | None:
    """DuckDB ``l[i]`` (1-based, negative from the end, NULL out of range) and ``m['key']`` (a MAP's
    value, NULL when absent); None for any other subscript."""
    if len(node.expressions) != 1 or node.args.get("json_access"):
        return None
    (index,) = node.expressions
    container = node.this.transform(inner)
    if isinstance(index, exp.Literal) and index.is_string:
        return _fill(
            f"(SELECT {_ENTRY}.value FROM UNNEST(_MAP_) AS {_ENTRY} WHERE {_ENTRY}.key = _KEY_)",
            _MAP_=container,
            _KEY_=index,
        )
    position = _duckdb_index(index)
    if position is None:  # a computed index, taken 1-based from the start (DuckDB: negative from the end)
        return _fill("_LIST_[SAFE_ORDINAL(_INDEX_)]", _LIST_=container, _INDEX_=index.transform(inner))
    if position > 0:
        return _fill(f"_LIST_[SAFE_ORDINAL({position})]", _LIST_=container)
    if position < 0:  # the list once, not again in ARRAY_LENGTH(l)
        return _fill(
            f"(SELECT {_ELEMENT} FROM UNNEST(_LIST_) AS {_ELEMENT} WITH OFFSET AS {_ELEMENT}_at "
            f"ORDER BY {_ELEMENT}_at DESC LIMIT 1 OFFSET {-position - 1})",
            _LIST_=container,
        )
    return exp.null()  # DuckDB's l[0]


# ---- MAPs -------------------------------------------------------------------------------------------


def map_identity(node: exp.Expr, inner: Rewrite) -> exp.Expr:
    """``map_entries(m)`` and ``map_from_entries(l)``: a MAP already is its list of entries."""
    value: exp.Expr = node.expressions[0] if isinstance(node, exp.Anonymous) else node.this
    return value.transform(inner)


def map_concat(node: exp.Anonymous, inner: Rewrite) -> exp.Expr:
    """``map_concat(a, b, ...)``: every key once, at its first position, with the value of the last
    map holding it (DuckDB's result, order included); a NULL map counts as empty, as in DuckDB."""
    if not node.expressions:
        raise ValueError("map_concat() without arguments has no BigQuery form")
    maps = {f"_MAP{i}_": m.transform(inner) for i, m in enumerate(node.expressions)}
    concat = ", ".join(f"IFNULL({name}, [])" for name in maps)
    return _fill(
        f"""ARRAY(SELECT AS STRUCT {_ENTRY}.key, {_ENTRY}.value FROM (
            SELECT e.key,
                FIRST_VALUE(e.value) OVER (PARTITION BY e.key ORDER BY e_at DESC) AS value,
                ROW_NUMBER() OVER (PARTITION BY e.key ORDER BY e_at) AS key_rank,
                e_at AS entry_at
            FROM UNNEST(ARRAY_CONCAT({concat})) AS e WITH OFFSET AS e_at
        ) AS {_ENTRY} WHERE {_ENTRY}.key_rank = 1 ORDER BY {_ENTRY}.entry_at)""",
        **maps,
    )


def map_literal(node: exp.ToMap, inner: Rewrite) -> exp.Expr:
    """``MAP {k: v, ...}`` -> ``[STRUCT(k AS key, v AS value), ...]`` (``MAP {}``: ``[]``)."""
    if not isinstance(node.this, exp.Struct):  # sqlglot reads MAP {...}[k] as MAP of a subscript
        raise ValueError(f"{node.sql(dialect='duckdb')[:80]}: a MAP literal of key: value pairs only")
    structs: list[exp.Expr] = []
    for entry in node.this.expressions:
        if not isinstance(entry, exp.PropertyEQ):
            raise ValueError(f"{node.sql(dialect='duckdb')[:80]}: a MAP literal of key: value pairs only")
        key = entry.this if isinstance(entry.this, exp.Literal) else exp.Literal.string(entry.this.name)
        structs.append(_fill("STRUCT(_KEY_ AS key, _VALUE_ AS value)", _KEY_=key, _VALUE_=entry.expression))
    return exp.Array(expressions=[s.transform(inner) for s in structs])


def map_cast(node: exp.Cast, inner: Rewrite) -> exp.Expr | None:
    """``CAST(MAP {...} AS MAP(K, V))`` -> a typed array literal ``ARRAY<STRUCT<key K, value V>>[...]``
    (an untyped ``[]`` has no element type); None for any other CAST."""
    if not isinstance(node.this, exp.ToMap) or not node.to.is_type(exp.DataType.Type.MAP):
        return None
    literal = map_literal(node.this, inner)
    return exp.Cast(this=literal, to=node.to.transform(inner))


def _is_map(node: exp.Expr) -> bool:
    """Whether ``node`` (DuckDB) is a MAP built by one of the functions above (to_json needs to know)."""
    node = node.unnest()
    if isinstance(node, (exp.MapFromEntries, exp.ToMap)):
        return True
    if isinstance(node, exp.Cast):
        return node.to.is_type(exp.DataType.Type.MAP)
    if isinstance(node, exp.Anonymous):
        name = node.name.lower()
        return name == "map_concat" or (name == "json_transform" and _json_map_value(node) is not None)
    if isinstance(node, exp.Coalesce):
        return any(_is_map(e) for e in [node.this, *node.expressions])
    return False


def to_json(node: exp.Anonymous, inner: Rewrite) -> exp.Expr:
    """``to_json(map)``: one JSON object written from the entries, in their order (a JSON value is
    written as it is, a string quoted). A NULL map gives ``'{}'``: BigQuery does not tell it from an
    empty one."""
    (value,) = node.expressions
    if not _is_map(value):
        raise ValueError(f"{node.sql(dialect='duckdb')[:80]}: to_json has a BigQuery form for a MAP only")
    return _fill(
        f"""CONCAT('{{', ARRAY_TO_STRING(ARRAY(
            SELECT CONCAT(TO_JSON_STRING({_ENTRY}.key), ':', TO_JSON_STRING({_ENTRY}.value))
            FROM UNNEST(_MAP_) AS {_ENTRY} WITH OFFSET AS {_ENTRY}_at ORDER BY {_ENTRY}_at), ','), '}}')""",
        _MAP_=value.transform(inner),
    )


def cardinality(node: exp.Anonymous, inner: Rewrite) -> exp.Expr:
    """``cardinality(m)`` (a MAP's entries) -> ``ARRAY_LENGTH(m)``."""
    (value,) = node.expressions
    return exp.ArraySize(this=value.transform(inner))


# ---- JSON text ----------------------------------------------------------------------------------------


def json_valid(node: exp.Anonymous, inner: Rewrite) -> exp.Expr:
    """``json_valid(s)`` -> whether ``SAFE.PARSE_JSON`` parses it (NULL for NULL, as DuckDB's)."""
    (text,) = node.expressions
    return _fill(
        f"IF(_TEXT_ IS NULL, NULL, SAFE.{_PARSE.format(text='_TEXT_')} IS NOT NULL)",
        _TEXT_=text.transform(inner),
    )


def _json_map_value(node: exp.Anonymous) -> object | None:
    """The value structure of ``json_transform(s, '"MAP(VARCHAR, T)"')`` (T), else None."""
    structure = _structure(node)
    match = _MAP_TYPE.match(structure) if isinstance(structure, str) else None
    return None if match is None else match[1].strip()


def _structure(node: exp.Anonymous) -> object:
    if len(node.expressions) != 2 or not isinstance(node.expressions[1], exp.Literal):
        raise ValueError("json_transform has a BigQuery form with a literal structure only")
    try:
        return json.loads(str(node.expressions[1].this))
    except json.JSONDecodeError:
        raise ValueError(f"json_transform structure {node.expressions[1].this!r} is no JSON") from None


def _json_as(value: exp.Expr, structure: object, inner: Rewrite, depth: int = 0) -> exp.Expr:
    """The JSON value ``value`` (BigQuery JSON) as DuckDB's ``json_transform`` reads it into ``structure``."""
    if isinstance(structure, dict):
        fields = [
            exp.alias_(_json_as(_json_field(value, exp.Literal.string(str(name))), sub, inner, depth), str(name))
            for name, sub in structure.items()
        ]
        return exp.Struct(expressions=fields)
    if isinstance(structure, list) and len(structure) == 1:
        element = f"{_ELEMENT}{depth}"
        return _fill(
            f"ARRAY(SELECT _VALUE_ FROM UNNEST(JSON_QUERY_ARRAY(IF(JSON_TYPE(_JSON_) = 'array', _JSON_, NULL))) "
            f"AS {element} WITH OFFSET AS {element}_at ORDER BY {element}_at)",
            _VALUE_=_json_as(exp.column(element), structure[0], inner, depth + 1),
            _JSON_=value,
        )
    if not isinstance(structure, str):
        raise ValueError(f"json_transform structure {structure!r} has no BigQuery form")
    kind = structure.strip().upper()
    if kind == "JSON":
        return value
    if kind == "VARCHAR":
        return _fill("JSON_VALUE(_JSON_)", _JSON_=value)
    if kind == "VARCHAR[]":
        # JSON_VALUE_ARRAY answers NULL for a value that is no array (bqemulator fails the query: the
        # guard keeps both to DuckDB's NULL).
        return _fill("JSON_VALUE_ARRAY(IF(JSON_TYPE(_JSON_) = 'array', _JSON_, NULL))", _JSON_=value)
    try:
        to = exp.DataType.build(kind, dialect="duckdb")
    except sqlglot.errors.ParseError:
        raise ValueError(f"json_transform type {structure!r} has no BigQuery form") from None
    if to.is_type(exp.DataType.Type.MAP, exp.DataType.Type.ARRAY, exp.DataType.Type.STRUCT, exp.DataType.Type.LIST):
        raise ValueError(f"json_transform type {structure!r} has no BigQuery form (write it as a JSON structure)")
    if to.is_type(exp.DataType.Type.DECIMAL) and len(to.expressions) == 2:
        # The number's text parsed exactly (a CAST of text to BIGNUMERIC keeps 5 places on
        # bqemulator), rounded to the scale as DuckDB reads it.
        scale = to.expressions[1].this
        digits = int(scale.this if isinstance(scale, exp.Literal) else scale)
        return _fill(f"ROUND(PARSE_BIGNUMERIC(JSON_VALUE(_JSON_)), {digits})", _JSON_=value)
    # The CAST itself through the rewrite, not its operand: the JSON subscripts above are BigQuery's.
    return inner(exp.cast(_fill("JSON_VALUE(_JSON_)", _JSON_=value), to))


def json_transform(node: exp.Anonymous, inner: Rewrite) -> exp.Expr:
    """``json_transform(s, structure)``: the JSON text parsed once (a one-row derived table) and
    read into BigQuery values: ``"MAP(VARCHAR, T)"`` into entries over ``JSON_KEYS(j, 1)``, a list
    structure into an array, an object structure into a STRUCT, a scalar type by ``JSON_VALUE``."""
    text = node.expressions[0].transform(inner)
    structure = _structure(node)
    parsed = _fill(f"(SELECT {_PARSE.format(text='_TEXT_')} AS {_JSON})", _TEXT_=text)
    map_value = _json_map_value(node)
    if map_value is not None:
        value = _json_as(_json_field(exp.column(_JSON, _JSON), exp.column(_KEY)), map_value, inner)
        return _fill(
            f"ARRAY(SELECT AS STRUCT {_KEY} AS key, _VALUE_ AS value FROM _PARSED_ AS {_JSON}, "
            f"UNNEST(JSON_KEYS({_JSON}.{_JSON}, 1)) AS {_KEY} WITH OFFSET AS {_KEY}_at ORDER BY {_KEY}_at)",
            _VALUE_=value,
            _PARSED_=parsed,
        )
    return _fill(
        f"(SELECT _VALUE_ FROM _PARSED_ AS {_JSON})",
        _VALUE_=_json_as(_fill(f"{_JSON}.{_JSON}"), structure, inner),
        _PARSED_=parsed,
    )


# ---- Dispatch ---------------------------------------------------------------------------------------

_ANONYMOUS: dict[str, Callable[[exp.Anonymous, Rewrite], exp.Expr]] = {
    "cardinality": cardinality,
    "json_transform": json_transform,
    "json_valid": json_valid,
    "list_sum": list_sum,
    "map_concat": map_concat,
    "map_entries": map_identity,
    "to_json": to_json,
}


def rewrite(node: exp.Expr, inner: Rewrite) -> exp.Expr | None:
    """The BigQuery form of a DuckDB list, MAP or JSON construct; None when ``node`` is none of them."""
    if isinstance(node, exp.Anonymous) and node.name.lower() in _ANONYMOUS:
        return _ANONYMOUS[node.name.lower()](node, inner)
    if isinstance(node, exp.Transform):
        return list_transform(node, inner)
    if isinstance(node, exp.ArrayFilter):
        return list_filter(node, inner)
    if isinstance(node, exp.ArrayDistinct):
        return list_distinct(node, inner)
    if isinstance(node, exp.MapFromEntries):
        return map_identity(node, inner)
    if isinstance(node, exp.ToMap):
        return map_literal(node, inner)
    if isinstance(node, exp.Cast):
        return map_cast(node, inner)
    if isinstance(node, exp.Bracket):
        return subscript(node, inner)
    return None
