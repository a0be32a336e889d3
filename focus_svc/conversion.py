"""Raw provider rows -> FOCUS 1.3 rows: the SQL of sql/ assembled and run on DuckDB.

The conversion is SQL written once (sql/procedures/cloud/sp_cloud_1_convert_to_focus.sql plus one
``sql/mappings/<provider>.sql`` per provider); this module only loads reference data, picks the
mapping and substitutes the raw relation. Mappings and reference data are found through the
providers' registrations (``cloudact_providers.registry``: data, no connector code). The service and
the CLI both use it.

A mapping states only what is specific to its provider; ``focus_select_sql``'s wrapper, built from
the FOCUS schema, completes each of its top-level SELECTs to every FOCUS column in schema order:
the lineage columns of the raw rows (``LINEAGE_COLUMNS``), the defaults (``x_source_provider`` = the
slug, ``FOCUS_DEFAULTS`` for ``PricingCurrency*`` and the raw units) and a typed NULL for every other
column the SELECT does not yield. Over the completed SELECTs, the shared projection applies FOCUS's
conditional null rules (``NULL_RULES``), maps the unit columns to FOCUS Unit Format (``UNIT_COLUMNS``,
the unit map ``UNIT_MAP`` and the rule macros of the procedure file) and casts every column to its
schema type: no mapping can forget a rule. The full contract is at the top of the procedure file.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import duckdb
from duckdb import ColumnExpression, ConstantExpression

from cloudact_providers.registry import PROVIDERS
from cloudact_shared import duck
from cloudact_shared.lineage import Lineage
from cloudact_shared.storage import load_schema, read_schema
from cloudact_shared.storage.schema import duckdb_type

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
_RAW_SHAPE = "cloudact_raw_shape"
# While planning over an empty table: statistics would tell DuckDB that every column is empty, and it
# would fold the expressions reading them away (AWS's mapping then seems to read 43 of its 57 columns).
_PLANNED_AS_WRITTEN = "statistics_propagation,empty_result_pullup"
_TYPE = re.compile(r"^[A-Z]+(\([0-9]+, ?[0-9]+\))?$")
_NAMES = frozenset({duckdb.token_type.identifier, duckdb.token_type.keyword})
_OPENING = frozenset("([{")
_CLOSING = frozenset(")]}")

UNIT_MAP = REFERENCE_DIR / "focus_units.csv"
"""Provider units -> FOCUS Unit Format (provider_unit, focus_unit, seen_in), loaded for every provider."""
UNIT_TABLE = "ref_focus_units"
SHARED_REFERENCE = (UNIT_MAP,)
"""The reference CSVs the wrapper itself reads, whatever the provider (no registration names them)."""

# The run's lineage: every FOCUS row carries its raw row's values (the wrapper adds them).
LINEAGE_COLUMNS = ("x_pipeline_id", "x_credential_id", "x_run_id", "x_ingested_at", "x_pipeline_run_date")
# The FOCUS columns in Unit Format, each with the custom column that keeps the unit as the mapping
# stated it (the provider's own, e.g. 'Lambda-GB-Second' beside ConsumedUnit 'GB-Seconds').
UNIT_COLUMNS: dict[str, str] = {
    "CommitmentDiscountUnit": "x_commitment_discount_unit_raw",
    "ConsumedUnit": "x_consumed_unit_raw",
    "PricingUnit": "x_pricing_unit_raw",
}
# What a mapping may leave out besides the NULL columns: the value of another FOCUS column. Without a
# separate pricing currency the prices in it are the billing-currency ones (FOCUS 1.3 PricingCurrency);
# the raw unit columns are the units the mapping states, before the wrapper maps them.
FOCUS_DEFAULTS: dict[str, str] = {
    "PricingCurrency": "BillingCurrency",
    "PricingCurrencyContractedUnitPrice": "ContractedUnitPrice",
    "PricingCurrencyEffectiveCost": "EffectiveCost",
    "PricingCurrencyListUnitPrice": "ListUnitPrice",
    **{raw: unit for unit, raw in UNIT_COLUMNS.items()},
}


@dataclass(frozen=True)
class When:
    """A condition on one of a row's own FOCUS columns: it is null, it is one of ``values``, or not."""

    column: str
    values: tuple[str, ...] = ()
    """Empty: the column is null."""
    negated: bool = False
    """The column is none of ``values`` (a null column is not: SQL's NOT IN)."""

    def sql(self) -> str:
        """The condition on the mapping's column (``focus``), true or false, never NULL."""
        column = ColumnExpression("focus", self.column)
        if not self.values:
            return f"{column} IS NULL"
        listed = ", ".join(str(ConstantExpression(value)) for value in self.values)
        return f"coalesce({column} {'NOT IN' if self.negated else 'IN'} ({listed}), false)"


def _is_null(column: str) -> When:
    return When(column)


def _equals(column: str, value: str) -> When:
    return When(column, (value,))


def _not_in(column: str, *values: str) -> When:
    return When(column, values, negated=True)


@dataclass(frozen=True)
class NullRule:
    """FOCUS 1.3: ``column`` MUST be null when any of ``when`` holds (rules model ids ``ids``)."""

    column: str
    when: tuple[When, ...]
    ids: tuple[str, ...]


_TAX = _equals("ChargeCategory", "Tax")
_UNPRICED = _is_null("SkuPriceId")
_UNCOMMITTED = _is_null("CommitmentDiscountId")
# Every rule of the FOCUS 1.3 rules model "<column> MUST be null when ..." whose condition is on the
# row's own columns (tests/focus_svc/test_focus_null_rules.py lists the others and why no projection
# can decide them). The projection applies them over every mapping, in dependency order: a condition
# reads the columns as earlier rules left them (a Tax row loses SkuPriceId, so its prices go too).
NULL_RULES: tuple[NullRule, ...] = (
    NullRule("SkuId", (_TAX,), ("CAU-SkuId-C-004-C",)),
    NullRule("SkuPriceId", (_TAX,), ("CAU-SkuPriceId-C-004-C",)),
    NullRule("SkuMeter", (_is_null("SkuId"),), ("CAU-SkuMeter-C-004-C",)),
    NullRule("SkuPriceDetails", (_UNPRICED,), ("CAU-SkuPriceDetails-C-004-C",)),
    NullRule("ListUnitPrice", (_TAX, _UNPRICED), ("CAU-ListUnitPrice-C-004-C", "CAU-ListUnitPrice-C-012-C")),
    NullRule(
        "ContractedUnitPrice", (_TAX, _UNPRICED), ("CAU-ContractedUnitPrice-C-005-C", "CAU-ContractedUnitPrice-C-014-C")
    ),
    NullRule(
        "PricingCurrencyListUnitPrice",
        (_TAX, _UNPRICED),
        ("CAU-PricingCurrencyListUnitPrice-C-004-C", "CAU-PricingCurrencyListUnitPrice-C-011-C"),
    ),
    NullRule(
        "PricingCurrencyContractedUnitPrice",
        (_TAX, _UNPRICED),
        ("CAU-PricingCurrencyContractedUnitPrice-C-004-C", "CAU-PricingCurrencyContractedUnitPrice-C-011-C"),
    ),
    NullRule("PricingQuantity", (_TAX, _UNPRICED), ("CAU-PricingQuantity-C-004-C", "CAU-PricingQuantity-C-011-C")),
    NullRule("PricingCategory", (_TAX, _UNPRICED), ("CAU-PricingCategory-C-003-C", "CAU-PricingCategory-C-012-C")),
    NullRule("PricingUnit", (_is_null("PricingQuantity"),), ("CAU-PricingUnit-C-005-C",)),
    NullRule(
        "ConsumedQuantity",
        (_not_in("ChargeCategory", "Usage"), _equals("CommitmentDiscountStatus", "Unused"), _UNPRICED),
        ("CAU-ConsumedQuantity-C-004-C", "CAU-ConsumedQuantity-C-009-C"),
    ),
    NullRule("ConsumedUnit", (_is_null("ConsumedQuantity"),), ("CAU-ConsumedUnit-C-005-C",)),
    NullRule("CommitmentDiscountCategory", (_UNCOMMITTED,), ("CAU-CommitmentDiscountCategory-C-003-C",)),
    NullRule("CommitmentDiscountName", (_UNCOMMITTED,), ("CAU-CommitmentDiscountName-C-004-C",)),
    NullRule("CommitmentDiscountType", (_UNCOMMITTED,), ("CAU-CommitmentDiscountType-C-004-C",)),
    NullRule("CommitmentDiscountStatus", (_UNCOMMITTED,), ("CAU-CommitmentDiscountStatus-C-003-C",)),
    # C-007 "in all other cases" than C-004 (Usage or Purchase with a CommitmentDiscountId). The model's
    # condition also names ChargeClass = Correction, against C-006 "MAY be null when ChargeClass is
    # Correction": a correction keeps the quantity its mapping states.
    NullRule(
        "CommitmentDiscountQuantity",
        (_not_in("ChargeCategory", "Usage", "Purchase"), _UNCOMMITTED, _UNPRICED),
        ("CAU-CommitmentDiscountQuantity-C-007-C", "CAU-CommitmentDiscountQuantity-C-016-C"),
    ),
    NullRule(
        "CommitmentDiscountUnit", (_is_null("CommitmentDiscountQuantity"),), ("CAU-CommitmentDiscountUnit-C-005-C",)
    ),
    NullRule(
        "CapacityReservationStatus", (_is_null("CapacityReservationId"),), ("CAU-CapacityReservationStatus-C-003-C",)
    ),
    NullRule("RegionName", (_is_null("RegionId"),), ("CAU-RegionName-C-004-C",)),
    NullRule("ResourceName", (_is_null("ResourceId"),), ("CAU-ResourceName-C-004-C",)),
    NullRule("ResourceType", (_is_null("ResourceId"),), ("CAU-ResourceType-C-004-C",)),
    NullRule("SubAccountName", (_is_null("SubAccountId"),), ("CAU-SubAccountName-C-004-C",)),
    NullRule("SubAccountType", (_is_null("SubAccountId"),), ("CAU-SubAccountType-C-004-C",)),
    NullRule("BillingAccountType", (_is_null("BillingAccountId"),), ("CAU-BillingAccountType-C-004-C",)),
    NullRule("AllocatedResourceName", (_is_null("AllocatedResourceId"),), ("CAU-AllocatedResourceName-C-004-C",)),
)


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
    """Loads the shared macros, the unit map and the reference tables of ``providers`` (default: all) into ``con``.

    What is already loaded is not loaded again, so it may be called before every conversion. One
    provider's tables only is what ``cloudact convert`` needs: reading all of them is ~10% of
    converting a small file. The unit map is the wrapper's, so it is loaded whatever the provider.

    Raises:
        ValueError: the unit map maps a provider unit twice, or to nothing.
    """
    loaded = {str(row[0]) for row in con.execute("SELECT table_name FROM duckdb_tables() WHERE temporary").fetchall()}
    if _PREPARED not in loaded:
        con.execute("SET TimeZone = 'UTC'")
        for statement in _statements(PROCEDURE.read_text()):
            con.execute(statement)
        con.execute(f"CREATE TEMP TABLE {_PREPARED} AS SELECT 1 AS done")
    if UNIT_TABLE not in loaded:
        _load_unit_map(con)
    for table, csv in sorted(reference_tables(providers).items()):
        if table not in loaded and table != UNIT_TABLE:  # a registration naming the unit map: loaded above
            _load_csv(con, table, csv)


def _load_csv(con: duckdb.DuckDBPyConnection, table: str, csv: Path) -> None:
    con.execute(
        f"CREATE TEMP TABLE {table} AS SELECT * FROM read_csv(?, all_varchar = true, header = true)", [str(csv)]
    )


def _load_unit_map(con: duckdb.DuckDBPyConnection) -> None:
    """``UNIT_MAP`` as table ``UNIT_TABLE`` and as the macro ``focus_unit(u)`` the wrapper calls.

    ``focus_unit(u)`` is one ``CASE u WHEN <provider unit> THEN <FOCUS unit> ... ELSE
    focus_unit_by_rule(u) END``: a lookup evaluated in the projection, so the rules' regular
    expressions run only for units absent from the map. (Joining the table instead let DuckDB
    build its hash table on the converted rows when it misjudged their number: out of memory on
    OCI's mapping at 300,000 rows. CASE stops at the first match: ~0.2 s per million rows.)

    Raises:
        ValueError: a provider unit mapped twice (which would be ambiguous) or to nothing.
    """
    _load_csv(con, UNIT_TABLE, UNIT_MAP)
    entries = con.execute(f"SELECT provider_unit, focus_unit FROM {UNIT_TABLE} ORDER BY provider_unit").fetchall()
    stated = Counter(unit for unit, _ in entries)
    wrong = sorted(
        {str(unit) for unit, focus in entries if unit is None or stated[unit] > 1 or not (focus or "").strip()}
    )
    if wrong:
        con.execute(f"DROP TABLE {UNIT_TABLE}")
        units = ", ".join(repr(unit) for unit in wrong)
        raise ValueError(f"{UNIT_MAP} maps {units} twice or to nothing: map each provider unit to one FOCUS unit")
    cases = " ".join(f"WHEN {ConstantExpression(unit)} THEN {ConstantExpression(focus)}" for unit, focus in entries)
    # NULL first: most rows of a unit column are null (no quantity), and they need no comparison.
    con.execute(
        f"CREATE OR REPLACE MACRO focus_unit(u) AS CASE WHEN u IS NULL THEN NULL ELSE CASE u {cases} "
        "ELSE focus_unit_by_rule(u) END END"
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


def raw_columns_read(con: duckdb.DuckDBPyConnection, provider: str) -> frozenset[str]:
    """The raw columns that ``provider``'s FOCUS SELECT reads, as DuckDB plans it (run ``prepare`` first).

    DuckDB plans the SELECT over an empty table of the raw schema, and its projection pushdown names
    the columns each scan of that table needs: whatever the mapping's stars, ``COLUMNS(...)`` or
    macros, no column the conversion reads is missed. A converter that keeps no raw table parses
    and checks only these (``RawSelectBuilder``'s ``read_columns``).
    """
    schema = read_schema(PROVIDERS[provider].raw_schema_path)
    columns = ", ".join(f"{_identifier(c.name)} {duckdb_type(c.type)}" for c in schema.columns)
    disabled = str(con.execute("SELECT current_setting('disabled_optimizers')").fetchall()[0][0])
    con.execute(f"CREATE OR REPLACE TEMP TABLE {_RAW_SHAPE} ({columns})")
    try:
        con.execute("SET disabled_optimizers = ?", [",".join(filter(None, (disabled, _PLANNED_AS_WRITTEN)))])
        rows = con.execute(f"EXPLAIN (FORMAT json) {focus_select_sql(provider, _RAW_SHAPE)}").fetchall()
    finally:
        con.execute("SET disabled_optimizers = ?", [disabled])
        con.execute(f"DROP TABLE {_RAW_SHAPE}")
    read: set[str] = set()
    for node in _plan_nodes(json.loads(rows[0][1])):
        info = node.get("extra_info", {})
        if node.get("name") == "SEQ_SCAN" and _RAW_SHAPE in str(info.get("Table", "")):
            projected = info.get("Projections", schema.column_names)
            read.update([projected] if isinstance(projected, str) else projected)
    return frozenset(read)


def _plan_nodes(nodes: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for node in nodes:
        yield node
        yield from _plan_nodes(node.get("children", []))


def wrap_mapping(provider: str, mapping: str, raw_relation: str) -> str:
    """A provider's mapping SQL inside the FOCUS wrapper: the SELECT of every FOCUS column.

    The mapping states the provider's columns (the contract is at the top of
    sql/procedures/cloud/sp_cloud_1_convert_to_focus.sql). The wrapper completes each of its
    top-level SELECTs to every FOCUS column, in schema order, with what it leaves out: the raw
    rows' lineage columns, the defaults (``x_source_provider`` = ``provider``; ``FOCUS_DEFAULTS``:
    the SELECT's own expression of the source column) and a typed NULL for any other FOCUS column.
    Over them the shared projection applies ``NULL_RULES``, maps the ``UNIT_COLUMNS`` to FOCUS Unit
    Format and casts every column to its schema type.

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
    completed = _completed_mapping(provider, mapping)
    return _shared_projection(completed.sql.replace(RAW_PLACEHOLDER, raw_relation), completed.stated)


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


@dataclass(frozen=True)
class _Completed:
    """A mapping completed to every FOCUS column, and the columns some SELECT of it gives a value."""

    sql: str
    stated: frozenset[str]
    """Stated by the mapping, or defaulted from a column it states (the others are typed NULLs)."""


@cache
def _completed_mapping(provider: str, mapping: str) -> _Completed:
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
    stated: set[str] = set()
    written = 0
    for select in _top_level_selects(scanned, where):
        given = {c.name: c.sql for c in select.columns}
        _check_columns([c.name for c in select.columns], schema.column_names, required, where)
        columns = [_column_sql(c.name, c.type, given, provider) for c in schema.columns]
        stated |= {c.name for c in schema.columns if _default_source(c.name, given) is not None}
        parts += [mapping[written : select.start], "\n    ", ",\n    ".join(columns), "\n"]
        written = select.end
    return _Completed("".join([*parts, mapping[written:]]), frozenset(stated | {_SOURCE_PROVIDER, *LINEAGE_COLUMNS}))


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
    source = _default_source(name, given)
    if source is not None:
        return _as(given[source], name)
    return _as(f"CAST(NULL AS {_sql_type(schema_type)})", name)


def _default_source(name: str, given: dict[str, str]) -> str | None:
    """The column a SELECT states that gives ``name`` its value (``name`` itself, or its default's source)."""
    source: str | None = name
    while source is not None and source not in given:
        source = FOCUS_DEFAULTS.get(source)
    return source


def _shared_projection(body: str, stated: frozenset[str]) -> str:
    """The completed mapping ``body`` with the null rules applied, units mapped, every column cast.

    One projection over the mapping: a column a rule nulls is a CASE on the mapping's columns
    (``_null_conditions``), written only where the mapping gives the column a value (``stated``):
    a typed NULL needs no rule. (A projection per level of rules instead, or nested conditions,
    made DuckDB stack more projections, each holding the wide row: 10-25 MB more at 300,000 rows,
    enough to push a mapping near ``cloudact convert``'s 640 MB limit over it.)
    """
    return f"SELECT {_focus_projection(stated)} FROM (\n{body}\n) AS focus"


@cache
def _null_conditions() -> dict[str, str]:
    """Each column a rule nulls -> when, as SQL over the mapping's own columns (``focus``).

    A rule's condition reads the columns as the other rules leave them (a Tax row loses SkuPriceId,
    so its prices go too): a condition on a ruled column is rewritten over that column's own
    condition, so one projection applies every rule. Each condition is one flat OR of distinct
    tests, in one order, so the tests several columns share are the only repeated expressions
    (DuckDB computes them once, in one projection of its own).

    Raises:
        ValueError: two rules for one column, or rules that read each other in a cycle.
    """
    rules = {rule.column: rule for rule in NULL_RULES}
    if len(rules) != len(NULL_RULES):
        raise ValueError("NULL_RULES states a column twice: give it one rule with every condition")
    tests: dict[str, frozenset[str]] = {}

    def nulled(column: str, seen: tuple[str, ...]) -> frozenset[str]:
        if column in seen:
            raise ValueError(f"NULL_RULES read each other in a cycle: {' -> '.join((*seen, column))}")
        if column not in tests:
            tests[column] = frozenset().union(*(holds(when, (*seen, column)) for when in rules[column].when))
        return tests[column]

    def holds(when: When, seen: tuple[str, ...]) -> frozenset[str]:
        if when.column not in rules:
            return frozenset({when.sql()})
        if not when.values:  # null as stated, or nulled by its own rule
            return frozenset({when.sql()}) | nulled(when.column, seen)
        # A value only if no rule nulls the column.
        return frozenset({f"{when.sql()} AND NOT ({' OR '.join(sorted(nulled(when.column, seen)))})"})

    for column in rules:
        nulled(column, ())
    return {column: " OR ".join(f"({test})" for test in sorted(found)) for column, found in tests.items()}


@cache
def _focus_projection(stated: frozenset[str]) -> str:
    """Every FOCUS column of the mapping, units mapped, null rules applied, cast to its schema type.

    A unit column goes through ``focus_unit`` (the unit map, else the rules); its raw column keeps
    the stated unit wherever the unit is not null. The macro gets the bare column, and the rules
    wrap its result (a null unit maps to null), so no expression repeats but the rules' tests.
    """
    raw_units = {raw: unit for unit, raw in UNIT_COLUMNS.items()}
    nulls = _null_conditions()
    columns = []
    for column in load_schema(FOCUS_TABLE).columns:
        name = raw_units.get(column.name, column.name)  # a raw unit goes with its unit
        value = str(ColumnExpression("focus", column.name))
        if column.name in UNIT_COLUMNS:
            value = f"focus_unit({value})"
        elif column.name in raw_units:
            value = f"CASE WHEN {ColumnExpression('focus', name)} IS NOT NULL THEN {value} END"
        if name in nulls and column.name in stated:
            value = f"CASE WHEN {nulls[name]} THEN NULL ELSE {value} END"
        columns.append(_as(f"CAST({value} AS {_sql_type(column.type)})", column.name))
    return ", ".join(columns)


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
