"""Raw provider rows -> FOCUS 1.3 rows: the SQL of sql/ assembled and run on DuckDB.

The conversion is SQL written once (sql/procedures/cloud/sp_cloud_1_convert_to_focus.sql plus one
``sql/mappings/<provider>.sql`` per provider); this module only loads reference data, picks the
mapping and substitutes the raw relation. Mappings and reference data are found through the
providers' registrations (``cloudact_providers.registry``: data, no connector code). The service and
the CLI both use it.

A mapping states only what is specific to its provider; ``focus_select_sql``'s wrapper, built from
the FOCUS schema, completes each of its top-level SELECTs to every FOCUS column in schema order:
the lineage columns of the raw rows (``LINEAGE_COLUMNS``), the defaults (``x_source_provider`` = the
slug, ``FOCUS_DEFAULTS`` for ``PricingCurrency*``) and a typed NULL for every other column the
SELECT does not yield; then it casts every column to its schema type. The full contract is at the
top of the procedure file.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import duckdb
from duckdb import ColumnExpression, ConstantExpression

from cloudact_providers.registry import PROVIDERS
from cloudact_shared import duck
from cloudact_shared.lineage import Lineage
from cloudact_shared.storage import load_schema

SQL_DIR = Path(__file__).resolve().parents[1] / "sql"
PROCEDURE = SQL_DIR / "procedures" / "cloud" / "sp_cloud_1_convert_to_focus.sql"
REFERENCE_DIR = SQL_DIR / "reference"
FOCUS_TABLE = "cost_data_standard_1_3"
RAW_PLACEHOLDER = "{{raw}}"
_PROVIDER = re.compile(r"^[a-z][a-z0-9_]{1,30}$")
_RELATION = re.compile(r'^("[^"]+"|[A-Za-z_][A-Za-z0-9_]*)(\.("[^"]+"|[A-Za-z_][A-Za-z0-9_]*))*$')
_PREPARED = "cloudact_focus_prepared"
_RAW_STANDIN = "__raw__"  # an identifier as long as RAW_PLACEHOLDER: offsets stay the mapping's
_SOURCE_PROVIDER = "x_source_provider"
_TYPE = re.compile(r"^[A-Z]+(\([0-9]+, ?[0-9]+\))?$")
_NAMES = frozenset({duckdb.token_type.identifier, duckdb.token_type.keyword})
_OPENING = frozenset("([{")
_CLOSING = frozenset(")]}")

# The run's lineage: every FOCUS row carries its raw row's values (the wrapper adds them).
LINEAGE_COLUMNS = ("x_pipeline_id", "x_credential_id", "x_run_id", "x_ingested_at", "x_pipeline_run_date")
# What a mapping may leave out besides the NULL columns: the value of another FOCUS column. Without a
# separate pricing currency the prices in it are the billing-currency ones (FOCUS 1.3 PricingCurrency).
FOCUS_DEFAULTS: dict[str, str] = {
    "PricingCurrency": "BillingCurrency",
    "PricingCurrencyContractedUnitPrice": "ContractedUnitPrice",
    "PricingCurrencyEffectiveCost": "EffectiveCost",
    "PricingCurrencyListUnitPrice": "ListUnitPrice",
}


def set_lineage(con: duckdb.DuckDBPyConnection, lineage: Lineage) -> None:
    """Exposes the run's lineage as DuckDB variables, read by the raw SELECTs (``getvariable``).

    Also pins the session time zone to UTC: CUR text timestamps without an offset and every
    date truncation are then UTC, as FOCUS requires.
    """
    con.execute("SET TimeZone = 'UTC'")
    duck.set_lineage(con, lineage)


def mappings() -> dict[str, Path]:
    """Every registered provider's mapping file (``sql/mappings/<slug>.sql``), by slug."""
    return {slug: PROVIDERS[slug].mapping_path for slug in sorted(PROVIDERS)}


def reference_tables(providers: Iterable[str] | None = None) -> dict[str, Path]:
    """The reference CSVs of ``providers`` (default: every registered one): ``ref_<file stem>`` -> its file."""
    slugs = sorted(PROVIDERS) if providers is None else sorted(set(providers))
    return {f"ref_{path.stem}": path for slug in slugs for path in PROVIDERS[slug].reference_paths}


def prepare(con: duckdb.DuckDBPyConnection, providers: Iterable[str] | None = None) -> None:
    """Loads the shared macros and the reference tables of ``providers`` (default: all) into ``con``.

    What is already loaded is not loaded again, so it may be called before every conversion. One
    provider's tables only is what ``cloudact convert`` needs: reading all of them is ~10% of
    converting a small file.
    """
    loaded = {str(row[0]) for row in con.execute("SELECT table_name FROM duckdb_tables() WHERE temporary").fetchall()}
    if _PREPARED not in loaded:
        con.execute("SET TimeZone = 'UTC'")
        for statement in _statements(PROCEDURE.read_text()):
            con.execute(statement)
        con.execute(f"CREATE TEMP TABLE {_PREPARED} AS SELECT 1 AS done")
    for table, csv in sorted(reference_tables(providers).items()):
        if table not in loaded:
            con.execute(
                f"CREATE TEMP TABLE {table} AS SELECT * FROM read_csv(?, all_varchar = true, header = true)",
                [str(csv)],
            )


def focus_select_sql(provider: str, raw_relation: str) -> str:
    """The SELECT that converts the raw rows in ``raw_relation`` to FOCUS 1.3 columns.

    Args:
        provider: the provider slug; its mapping is ``sql/mappings/<provider>.sql``.
        raw_relation: a table or view name (optionally qualified) holding raw-table rows.

    Returns:
        One SELECT yielding the columns of ``cost_data_standard_1_3`` in schema order and types
        (run ``prepare`` on the connection first).

    Raises:
        ValueError: unknown provider, a relation name that is not a plain identifier, or a mapping
            that breaks the mapping contract.
    """
    if not _PROVIDER.match(provider) or provider not in mappings():
        raise ValueError(f"no FOCUS mapping for provider {provider!r} (known: {', '.join(mappings())})")
    return wrap_mapping(provider, _mapping_text(provider), raw_relation)


def wrap_mapping(provider: str, mapping: str, raw_relation: str) -> str:
    """A provider's mapping SQL inside the FOCUS wrapper: the SELECT of every FOCUS column.

    The mapping states the provider's columns (the contract is at the top of
    sql/procedures/cloud/sp_cloud_1_convert_to_focus.sql). The wrapper completes each of its
    top-level SELECTs to every FOCUS column, in schema order, with what it leaves out: the raw
    rows' lineage columns, the defaults (``x_source_provider`` = ``provider``; ``FOCUS_DEFAULTS``:
    the SELECT's own expression of the source column) and a typed NULL for any other FOCUS column;
    then it casts every column to its schema type.

    Args:
        provider: the provider slug (the default of ``x_source_provider``).
        mapping: the mapping's SQL, reading the raw rows from the placeholder ``{{raw}}``.
        raw_relation: a table or view name (optionally qualified) holding raw-table rows.

    Raises:
        ValueError: a bad slug or relation name, or a mapping that breaks the contract.
    """
    if not _PROVIDER.match(provider):
        raise ValueError(f"provider {provider!r} is not a provider slug")
    if not _RELATION.match(raw_relation):
        raise ValueError(f"raw relation {raw_relation!r} is not a table or view name")
    body = _completed_mapping(provider, mapping).replace(RAW_PLACEHOLDER, raw_relation)
    # The outer projection pins order and types to the schema; DuckDB folds it into the mapping.
    return f"SELECT {_focus_projection()} FROM (\n{body}\n) AS focus"


@dataclass(frozen=True)
class _Token:
    kind: duckdb.token_type
    text: str
    start: int

    @property
    def end(self) -> int:
        return self.start + len(self.text)

    def keyword(self, *words: str) -> bool:
        return self.kind == duckdb.token_type.keyword and self.text.upper() in words


@dataclass(frozen=True)
class _Column:
    name: str
    sql: str  # the expression, as the mapping writes it


@dataclass(frozen=True)
class _Select:
    """A top-level SELECT of a mapping: its columns, written from ``start`` to ``end`` (its FROM)."""

    columns: tuple[_Column, ...]
    start: int
    end: int


@cache
def _completed_mapping(provider: str, mapping: str) -> str:
    """``mapping`` with each top-level SELECT's column list completed to every FOCUS column.

    Each SELECT's columns are rewritten in schema order: the mapping's expression where it states
    the column, else the lineage column (unqualified: it resolves to the one relation of the FROM
    clause that carries it), else the column's default. A default is stated per SELECT, as the
    mapping itself would have (PricingCurrency repeats the SELECT's BillingCurrency expression):
    the SQL DuckDB plans is then the one of a mapping that states every column. (Computing the
    defaults once, above OCI's UNION, made DuckDB materialize the CTE both branches read: 1.6x
    slower at 1M rows.) Every SELECT then yields the same columns in the same order, so a UNION of
    them may be positional or BY NAME.

    The mapping is read with DuckDB's own tokenizer: the top-level SELECTs are the ones outside
    every parenthesis; the text of each column's expression is kept as written.
    """
    where = f"the FOCUS mapping of {provider!r}"
    # Same length as the placeholder, so offsets in the scanned text are offsets in ``mapping``.
    scanned = mapping.replace(RAW_PLACEHOLDER, _RAW_STANDIN)
    schema = load_schema(FOCUS_TABLE)
    defaulted = {_SOURCE_PROVIDER, *FOCUS_DEFAULTS, *LINEAGE_COLUMNS}
    required = [c.name for c in schema.columns if not c.nullable and c.name not in defaulted]
    parts: list[str] = []
    written = 0
    for select in _top_level_selects(scanned, where):
        given = {c.name: c.sql for c in select.columns}
        _check_columns([c.name for c in select.columns], schema.column_names, required, where)
        columns = [_column_sql(c.name, c.type, given, provider) for c in schema.columns]
        parts += [mapping[written : select.start], "\n    ", ",\n    ".join(columns), "\n"]
        written = select.end
    return "".join([*parts, mapping[written:]])


def _tokens(text: str) -> list[_Token]:
    """DuckDB's tokens of ``text``, comments left out."""
    found = duckdb.tokenize(text)
    ends = [start for start, _ in found[1:]] + [len(text)]
    return [
        _Token(kind, text[start:end].rstrip(), start)
        for (start, kind), end in zip(found, ends, strict=True)
        if kind != duckdb.token_type.comment
    ]


def _top_level_selects(text: str, where: str) -> list[_Select]:
    """The SELECTs outside every parenthesis: their ``expression AS Name`` columns and where they are."""
    selects: list[_Select] = []
    items: list[list[_Token]] | None = None  # the current SELECT's columns, as tokens
    joined: list[_Token] = []  # the tokens between two SELECTs: UNION [ALL] [BY NAME]
    start = 0  # where the current SELECT's columns start
    depth = 0
    for token in _tokens(text):
        if token.kind == duckdb.token_type.operator and token.text in _CLOSING:
            depth -= 1
        level = depth
        if token.kind == duckdb.token_type.operator and token.text in _OPENING:
            depth += 1
        if level != 0:
            if items is not None:
                items[-1].append(token)
        elif token.keyword("SELECT"):
            if items is not None:
                raise ValueError(f"{where} has a top-level SELECT without FROM: each one reads the raw rows")
            if selects and not (joined and joined[0].keyword("UNION")):
                raise ValueError(f"{where} is not SELECTs, alone or joined by UNION [ALL] [BY NAME]")
            items, joined, start = [[]], [], token.end
        elif items is None:
            if joined or token.keyword("UNION", "EXCEPT", "INTERSECT"):
                joined.append(token)
        elif token.kind == duckdb.token_type.operator and token.text == ",":
            items.append([])
        # ``a IS [NOT] DISTINCT FROM b`` is an operator, not the clause.
        elif token.keyword("FROM") and not (items[-1] and items[-1][-1].keyword("DISTINCT")):
            columns = tuple(_named_column(text, item, where) for item in items)
            selects.append(_Select(columns, start, token.start))
            items = None
        else:
            items[-1].append(token)
    if items is not None or not selects:
        raise ValueError(f"{where} has a top-level SELECT without FROM: each one reads the raw rows")
    if joined:
        raise ValueError(f"{where} is not SELECTs, alone or joined by UNION [ALL] [BY NAME]")
    return selects


def _named_column(text: str, item: list[_Token], where: str) -> _Column:
    """A top-level column: ``expression AS Name``, or a column reference (``r.x_run_id``) named as its column."""
    if item and item[0].keyword("DISTINCT"):
        raise ValueError(f"{where} has a top-level SELECT DISTINCT: the wrapper completes plain SELECTs only")
    if len(item) >= 3 and item[-2].keyword("AS"):
        return _Column(_unquoted(item[-1].text), text[item[0].start : item[-3].end])
    names = item[0::2]
    dots = item[1::2]
    if item and all(t.kind in _NAMES for t in names) and all(t.text == "." for t in dots) and len(names) > len(dots):
        return _Column(_unquoted(item[-1].text), text[item[0].start : item[-1].end])
    written = text[item[0].start : item[-1].end] if item else ""
    raise ValueError(f"{where} yields {written!r}: every top-level column is written `expression AS Name`")


def _unquoted(name: str) -> str:
    return name[1:-1].replace('""', '"') if name.startswith('"') else name


def _check_columns(names: list[str], known: list[str], required: list[str], where: str) -> None:
    unknown = sorted({n for n in names if n not in known})
    if unknown:
        raise ValueError(f"{where} yields {', '.join(unknown)}: every column is named as a FOCUS column")
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ValueError(f"{where} yields {', '.join(twice)} twice in one SELECT")
    missing = [n for n in required if n not in names]
    if missing:
        raise ValueError(f"{where} has a SELECT without the required columns {', '.join(missing)}")


def _column_sql(name: str, schema_type: str, given: dict[str, str], provider: str) -> str:
    """A column of a completed SELECT: as the mapping states it, else lineage, slug, another column's value, NULL."""
    if name in given:
        return _as(given[name], name)
    if name in LINEAGE_COLUMNS:
        return _identifier(name)
    if name == _SOURCE_PROVIDER:
        return _as(str(ConstantExpression(provider)), name)
    source = FOCUS_DEFAULTS.get(name)
    while source is not None and source not in given:
        source = FOCUS_DEFAULTS.get(source)
    if source is not None:
        return _as(given[source], name)
    return _as(f"CAST(NULL AS {_sql_type(schema_type)})", name)


@cache
def _focus_projection() -> str:
    """Every FOCUS column of the completed mapping, cast to its schema type."""
    return ", ".join(
        _as(f"CAST({ColumnExpression('focus', c.name)} AS {_sql_type(c.type)})", c.name)
        for c in load_schema(FOCUS_TABLE).columns
    )


def _as(sql: str, name: str) -> str:
    """``sql AS "name"``: names and values are quoted by DuckDB's expression API, never by hand."""
    return f"{sql} AS {_identifier(name)}"


def _identifier(name: str) -> str:
    return str(ColumnExpression(name))


def _sql_type(schema_type: str) -> str:
    """The DuckDB type of a schema type, as SQL (a type name, optionally with its precision)."""
    sql_type = _duck_type(schema_type)
    if not _TYPE.match(sql_type):
        raise ValueError(f"schema type {schema_type!r} is not a plain type name")
    return sql_type


def _duck_type(type_name: str) -> str:
    upper = type_name.upper()
    return {"STRING": "VARCHAR", "JSON": "VARCHAR", "TIMESTAMP": "TIMESTAMPTZ", "INT64": "BIGINT"}.get(upper, upper)


@cache
def _mapping_text(provider: str) -> str:
    text = mappings()[provider].read_text()
    return "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("--")).strip().rstrip(";")


def _statements(script: str) -> list[str]:
    """Splits a SQL script into statements (comments removed; no ';' inside our literals)."""
    code = "\n".join(line.split("--", 1)[0] for line in script.splitlines())
    return [s.strip() for s in code.split(";") if s.strip()]
