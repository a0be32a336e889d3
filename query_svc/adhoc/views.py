"""The seed's query tables as views over one org's FOCUS table, read from ``sql/views``.

``sql/views/<name>.sql`` is one SELECT per view (DuckDB SQL, kept transpilable to BigQuery by
sqlglot); a file whose name starts with ``_`` is a helper view the others read, which callers cannot
name. The views join two reference tables, so a provider slug or a GenAI rule changes in a CSV and
nowhere else: ``seed_views.csv`` (which providers' rows each provider view shows, as
``ref_seed_views``) and ``genai_rules.csv`` (what makes a FOCUS row GenAI spend, as
``ref_genai_rules``). ``install`` creates them, then the views, on a connection that already holds
the org's FOCUS table.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.csv as pacsv

from cloudact_shared.naming import FOCUS_TABLE, PROVIDER_PATTERN

VIEWS_DIR = Path(__file__).resolve().parents[2] / "sql" / "views"
SEED_VIEWS = (
    "aws_dci",
    "azure_dci",
    "gcp_dci",
    "databricks_dci",
    "datadog_dci",
    "mongodb_dci",
    "snowflake_dci",
    "datahub_dci",
    "genai_dci",
)
"""The seed's tables, each ``sql/views/<name>.sql``."""
QUERYABLE = frozenset({FOCUS_TABLE, *SEED_VIEWS})
"""The only relations an ExecuteSql query may name."""
GENAI_MATCH_COLUMNS = frozenset({"ServiceName", "x_service_code", "x_usage_type", "SkuMeter", "ResourceType"})
"""The FOCUS columns a GenAI rule may test (genai_dci.sql's CASE names exactly these)."""
_REFERENCES = {"ref_seed_views": "seed_views.csv", "ref_genai_rules": "genai_rules.csv"}
_NAME = re.compile(r"^_?[a-z][a-z0-9_]*$")


@dataclass(frozen=True)
class ViewCatalog:
    """The views and reference tables of ``sql/views``, read and checked once."""

    helpers: tuple[tuple[str, str], ...]
    """(name, SELECT) of the helper views, created first."""
    views: tuple[tuple[str, str], ...]
    """(name, SELECT) of the seed views, in ``SEED_VIEWS`` order."""
    references: tuple[tuple[str, pa.Table], ...]
    """(table name, rows) of the reference tables the views join."""


@cache
def load_catalog(directory: Path = VIEWS_DIR) -> ViewCatalog:
    """Reads ``directory`` (blocking, cached).

    Raises:
        ValueError: a seed view's file is missing, a file name is not an identifier, or a
            reference CSV breaks its rules (so a bad edit fails at start-up, not on a query).
    """
    files = {p.stem: p.read_text() for p in sorted(directory.glob("*.sql"))}
    if bad := [name for name in files if not _NAME.fullmatch(name)]:
        raise ValueError(f"sql/views: {bad} are not view names (lower-case identifiers)")
    if missing := [name for name in SEED_VIEWS if name not in files]:
        raise ValueError(f"sql/views: no definition for {missing}")
    if extra := sorted(n for n in files if not n.startswith("_") and n not in SEED_VIEWS):
        raise ValueError(f"sql/views: {extra} are not seed views; name helper views with a leading '_'")
    references = tuple((table, _read_csv(directory / name)) for table, name in _REFERENCES.items())
    _check_seed_views(dict(references)["ref_seed_views"])
    _check_genai_rules(dict(references)["ref_genai_rules"])
    return ViewCatalog(
        helpers=tuple((n, sql) for n, sql in files.items() if n.startswith("_")),
        views=tuple((n, files[n]) for n in SEED_VIEWS),
        references=references,
    )


def install(con: duckdb.DuckDBPyConnection, catalog: ViewCatalog, dataset: str) -> None:
    """Creates the reference tables and the views on ``con``, which already has ``FOCUS_TABLE``.

    Every queryable relation is also reachable as ``{dataset}.<name>`` (``acme_prod.aws_dci``), the
    name the rest of the system uses for the org's tables.
    """
    for table, rows in catalog.references:
        con.from_arrow(rows).create(table)
    for name, sql in (*catalog.helpers, *catalog.views):
        con.execute(f"CREATE VIEW {name} AS {sql}")
    con.execute(f'CREATE SCHEMA "{dataset}"')
    for name in sorted(QUERYABLE):
        con.execute(f'CREATE VIEW "{dataset}".{name} AS SELECT * FROM main.{name}')


def _read_csv(path: Path) -> pa.Table:
    """Every column as text; an empty field is null."""
    names = pacsv.read_csv(path).column_names
    options = pacsv.ConvertOptions(column_types=dict.fromkeys(names, pa.string()), strings_can_be_null=True)
    return pacsv.read_csv(path, convert_options=options)


def _check_seed_views(table: pa.Table) -> None:
    for row in table.to_pylist():
        if row["view_name"] not in SEED_VIEWS or row["view_name"] == "genai_dci":
            raise ValueError(f"seed_views.csv: {row['view_name']!r} is not a provider view of {SEED_VIEWS[:-1]}")
        if not PROVIDER_PATTERN.fullmatch(row["x_source_provider"] or ""):
            raise ValueError(f"seed_views.csv: {row['x_source_provider']!r} is not a provider slug")


def _check_genai_rules(table: pa.Table) -> None:
    rows = table.to_pylist()
    ids = [r["rule_id"] for r in rows]
    if len(set(ids)) != len(ids) or None in ids:
        raise ValueError("genai_rules.csv: every rule needs its own rule_id")
    for r in rows:
        where = f"genai_rules.csv rule {r['rule_id']!r}"
        if not PROVIDER_PATTERN.fullmatch(r["x_source_provider"] or ""):
            raise ValueError(f"{where}: {r['x_source_provider']!r} is not a provider slug")
        if r["match_column"] == "*":
            if r["pattern"] or r["and_column"]:
                raise ValueError(f"{where}: a '*' rule takes every row of its provider, without patterns")
            continue
        if r["match_column"] not in GENAI_MATCH_COLUMNS or not r["pattern"]:
            raise ValueError(f"{where}: needs a match_column of {sorted(GENAI_MATCH_COLUMNS)} and a pattern")
        if (r["and_column"] is None) != (r["and_pattern"] is None) or (
            r["and_column"] is not None and r["and_column"] not in GENAI_MATCH_COLUMNS
        ):
            raise ValueError(f"{where}: and_column (one of {sorted(GENAI_MATCH_COLUMNS)}) and and_pattern go together")
        if not r["why"]:
            raise ValueError(f"{where}: say why the rule recognises GenAI spend")
