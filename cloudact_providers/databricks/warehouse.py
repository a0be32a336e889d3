"""A SQL warehouse on loopback: Databricks SQL statements answered over generated ``system.billing`` tables.

The loopback Statement Execution API (``loopback.py``) and the synthetic generator (``synthetic.py``)
answer the connector's statement the way a warehouse would: the statement, written in Databricks SQL,
is transpiled to DuckDB with sqlglot, its named parameter markers (``:period_start``) bound as typed
literals, and run over DuckDB tables holding ``system.billing.usage`` and ``system.billing.list_prices``
in their documented shapes (structs, maps, decimals, UTC timestamps). The JOIN, the window and the
keyset paging of the connector's SQL really run; nothing is canned.

Results come back as Databricks' ``JSON_ARRAY`` format has them: every value a string (decimals
with their scale, timestamps as ISO 8601 UTC with milliseconds, maps and structs as JSON text) or
null, with a manifest schema of Databricks type names.

DuckDB's own ``system`` catalog cannot be replaced, so the tables live in catalog ``dbx_system``
and the transpiled statement's ``system.*`` references are renamed to it. A statement that fails
becomes a ``StatementFailed`` with Databricks' error class and SQLSTATE, as the API reports it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import duckdb
import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError

CATALOG: Final = "dbx_system"
"""Where ``system.billing.*`` lives in DuckDB."""

USAGE_DDL: Final = f"""
CREATE TABLE {CATALOG}.billing.usage (
    record_id VARCHAR, account_id VARCHAR, workspace_id VARCHAR, sku_name VARCHAR, cloud VARCHAR,
    usage_start_time TIMESTAMPTZ, usage_end_time TIMESTAMPTZ, usage_date DATE,
    custom_tags MAP(VARCHAR, VARCHAR), usage_unit VARCHAR, usage_quantity DECIMAL(38, 18),
    usage_metadata STRUCT(cluster_id VARCHAR, job_id VARCHAR, job_run_id VARCHAR, warehouse_id VARCHAR,
        instance_pool_id VARCHAR, node_type VARCHAR, notebook_id VARCHAR, dlt_pipeline_id VARCHAR,
        endpoint_name VARCHAR, endpoint_id VARCHAR),
    identity_metadata STRUCT(run_as VARCHAR, owned_by VARCHAR, created_by VARCHAR),
    record_type VARCHAR, ingestion_date DATE, billing_origin_product VARCHAR,
    product_features STRUCT(is_serverless BOOLEAN, is_photon BOOLEAN, sql_tier VARCHAR, jobs_tier VARCHAR,
        serving_type VARCHAR),
    usage_type VARCHAR
)
"""
"""``system.billing.usage`` as documented (the usage_metadata and product_features fields the demo fills)."""

PRICES_DDL: Final = f"""
CREATE TABLE {CATALOG}.billing.list_prices (
    price_start_time TIMESTAMPTZ, price_end_time TIMESTAMPTZ, account_id VARCHAR, sku_name VARCHAR,
    cloud VARCHAR, currency_code VARCHAR, usage_unit VARCHAR,
    pricing STRUCT("default" VARCHAR, promotional STRUCT("default" VARCHAR), effective_list STRUCT("default" VARCHAR))
)
"""
"""``system.billing.list_prices``: prices are strings inside the ``pricing`` struct, as documented."""

# DuckDB type -> Databricks type_name of the result manifest (anything else is reported as STRING).
_TYPE_NAMES = (
    ("VARCHAR", "STRING"),
    ("DECIMAL", "DECIMAL"),
    ("TIMESTAMP WITH TIME ZONE", "TIMESTAMP"),
    ("TIMESTAMP", "TIMESTAMP_NTZ"),
    ("DATE", "DATE"),
    ("BIGINT", "LONG"),
    ("HUGEINT", "DECIMAL"),
    ("INTEGER", "INT"),
    ("BOOLEAN", "BOOLEAN"),
    ("DOUBLE", "DOUBLE"),
    ("MAP", "MAP"),
    ("STRUCT", "STRUCT"),
)
# Parameter types the API accepts (StatementParameterListItem.type) -> the DuckDB type they bind as.
_PARAMETER_TYPES = {
    "STRING": "VARCHAR",
    "DATE": "DATE",
    "TIMESTAMP": "TIMESTAMPTZ",
    "INT": "INTEGER",
    "BIGINT": "BIGINT",
    "DECIMAL": "DECIMAL(38, 18)",
    "BOOLEAN": "BOOLEAN",
}
_ERROR_CLASSES = (
    ("Catalog Error", "TABLE_OR_VIEW_NOT_FOUND", "42P01"),
    ("Binder Error", "UNRESOLVED_COLUMN", "42703"),
    ("Parser Error", "PARSE_SYNTAX_ERROR", "42601"),
    ("Conversion Error", "CAST_INVALID_INPUT", "22018"),
)


class StatementFailed(Exception):
    """A statement the warehouse refused: Databricks' error class, its SQLSTATE and a message."""

    def __init__(self, error_class: str, sql_state: str, message: str) -> None:
        super().__init__(f"[{error_class}] {message}")
        self.error_class = error_class
        self.sql_state = sql_state


@dataclass(frozen=True)
class Column:
    """One column of a result manifest."""

    name: str
    type_name: str
    type_text: str


@dataclass(frozen=True)
class Answer:
    """A statement's result: its columns and its rows, every value a string or None (``JSON_ARRAY``)."""

    columns: tuple[Column, ...]
    rows: list[tuple[str | None, ...]]


class SystemTables:
    """DuckDB holding ``system.billing.usage`` and ``list_prices``; answers Databricks SQL over them.

    Not thread-safe on its own: the loopback server serialises statements (a warehouse runs them one
    after another for one caller anyway).
    """

    def __init__(self) -> None:
        self.con = duckdb.connect()
        self.con.execute("SET TimeZone = 'UTC'")
        self.con.execute(f"ATTACH ':memory:' AS {CATALOG}")
        self.con.execute(f"CREATE SCHEMA {CATALOG}.billing")
        self.con.execute(USAGE_DDL)
        self.con.execute(PRICES_DDL)

    def close(self) -> None:
        self.con.close()

    def execute(self, statement: str, parameters: list[dict[str, str | None]]) -> Answer:
        """Runs ``statement`` (Databricks SQL) with its named parameters and renders the result.

        Raises:
            StatementFailed: the statement does not parse, names an unknown table or column, lacks a
                parameter, or fails while running.
        """
        rendered, columns = self._prepare(statement, parameters)
        try:
            rows = self.con.execute(rendered).fetchall()
        except duckdb.Error as exc:
            raise _failure(exc) from None
        return Answer(columns, [tuple(None if v is None else str(v) for v in row) for row in rows])

    def copy_json_lines(self, statement: str, parameters: list[dict[str, str | None]], dest: Path) -> None:
        """Writes the rendered result of ``statement`` to ``dest`` as JSON lines (one object a row)."""
        rendered, _ = self._prepare(statement, parameters)
        target = "'" + str(dest).replace("'", "''") + "'"
        try:
            self.con.execute(f"COPY ({rendered}) TO {target} (FORMAT JSON)")
        except duckdb.Error as exc:
            raise _failure(exc) from None

    def duckdb_sql(self, statement: str, parameters: list[dict[str, str | None]]) -> str:
        """``statement`` transpiled to DuckDB, ``system.*`` renamed, parameters bound as typed literals."""
        try:
            tree = sqlglot.parse_one(statement, read="databricks")
        except ParseError:
            raise StatementFailed("PARSE_SYNTAX_ERROR", "42601", "the statement does not parse") from None
        values = {str(p["name"]): p for p in parameters}
        for table in tree.find_all(exp.Table):
            if table.catalog.lower() == "system":
                table.set("catalog", exp.to_identifier(CATALOG))
        for marker in list(tree.find_all(exp.Placeholder)):
            marker.replace(_bound(str(marker.name), values))
        return tree.sql(dialect="duckdb")

    def _prepare(self, statement: str, parameters: list[dict[str, str | None]]) -> tuple[str, tuple[Column, ...]]:
        """The DuckDB SQL whose every column is the string ``JSON_ARRAY`` would hold, and the manifest columns."""
        query = self.duckdb_sql(statement, parameters)
        try:
            described = self.con.execute(f"DESCRIBE {query}").fetchall()
        except duckdb.Error as exc:
            raise _failure(exc) from None
        names_types = [(str(row[0]), str(row[1])) for row in described]
        renders = ", ".join(_render(name, kind) for name, kind in names_types)
        return f"SELECT {renders} FROM ({query}) AS answer", tuple(_column(n, k) for n, k in names_types)


def _bound(name: str, values: dict[str, dict[str, str | None]]) -> exp.Expression:
    """The literal of parameter ``name`` cast to its declared type (STRING when none is declared)."""
    if name not in values:
        raise StatementFailed("UNBOUND_SQL_PARAMETER", "42P02", f"no value for parameter :{name}")
    declared = str(values[name].get("type") or "STRING").upper()
    duck_type = _PARAMETER_TYPES.get(declared)
    if duck_type is None:
        raise StatementFailed("INVALID_PARAMETER_MARKER_VALUE", "22023", f"unsupported parameter type {declared}")
    value = values[name].get("value")
    if value is None:
        return exp.cast(exp.Null(), duck_type)
    return exp.cast(exp.Literal.string(str(value)), duck_type)


def _render(name: str, duck_type: str) -> str:
    """The SELECT item giving column ``name`` as ``JSON_ARRAY`` text (nulls stay null)."""
    column = '"' + name.replace('"', '""') + '"'
    if duck_type.startswith(("MAP", "STRUCT")) or duck_type.endswith("]"):
        text = f"CAST(to_json({column}) AS VARCHAR)"
    elif duck_type == "TIMESTAMP WITH TIME ZONE":
        text = f"strftime({column}, '%Y-%m-%dT%H:%M:%S.%gZ')"
    else:
        text = f"CAST({column} AS VARCHAR)"
    return f"{text} AS {column}"


def _column(name: str, duck_type: str) -> Column:
    type_name = next((named for prefix, named in _TYPE_NAMES if duck_type.startswith(prefix)), "STRING")
    if type_name in ("DECIMAL", "MAP", "STRUCT"):
        text = re.sub(r"\bVARCHAR\b", "STRING", duck_type)
    else:
        text = {"LONG": "BIGINT"}.get(type_name, type_name)
    return Column(name, type_name, text)


def _failure(exc: duckdb.Error) -> StatementFailed:
    """DuckDB's error as the error class and SQLSTATE Databricks reports for the same mistake."""
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    for prefix, error_class, sql_state in _ERROR_CLASSES:
        if text.startswith(prefix):
            return StatementFailed(error_class, sql_state, text)
    return StatementFailed("INTERNAL_ERROR", "XX000", text)
