"""Raw provider rows -> FOCUS 1.3 rows: the SQL of sql/ assembled and run on DuckDB.

The conversion is SQL written once (sql/procedures/cloud/sp_cloud_1_convert_to_focus.sql plus one
``sql/mappings/<provider>.sql`` per provider); this module only loads reference data, picks the
mapping by file convention and substitutes the raw relation. The service and the CLI both use it.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import duckdb

from cloudact_shared import duck
from cloudact_shared.lineage import Lineage
from cloudact_shared.storage import load_schema

SQL_DIR = Path(__file__).resolve().parents[1] / "sql"
PROCEDURE = SQL_DIR / "procedures" / "cloud" / "sp_cloud_1_convert_to_focus.sql"
MAPPINGS_DIR = SQL_DIR / "mappings"
REFERENCE_DIR = SQL_DIR / "reference"
FOCUS_TABLE = "cost_data_standard_1_3"
RAW_PLACEHOLDER = "{{raw}}"
_PROVIDER = re.compile(r"^[a-z][a-z0-9_]{1,30}$")
_RELATION = re.compile(r'^("[^"]+"|[A-Za-z_][A-Za-z0-9_]*)(\.("[^"]+"|[A-Za-z_][A-Za-z0-9_]*))*$')
_PREPARED = "cloudact_focus_prepared"


def set_lineage(con: duckdb.DuckDBPyConnection, lineage: Lineage) -> None:
    """Exposes the run's lineage as DuckDB variables, read by the raw SELECTs (``getvariable``).

    Also pins the session time zone to UTC: CUR text timestamps without an offset and every
    date truncation are then UTC, as FOCUS requires.
    """
    con.execute("SET TimeZone = 'UTC'")
    duck.set_lineage(con, lineage)


def mappings() -> dict[str, Path]:
    """The provider registry: slug -> its mapping file (``sql/mappings/<slug>.sql``)."""
    return {p.stem: p for p in sorted(MAPPINGS_DIR.glob("*.sql"))}


def prepare(con: duckdb.DuckDBPyConnection) -> None:
    """Loads the reference tables and the shared macros into ``con`` (once per connection)."""
    done = con.execute(
        f"SELECT count(*) FROM duckdb_tables() WHERE table_name = '{_PREPARED}' AND temporary"
    ).fetchall()
    if done[0][0]:
        return
    con.execute("SET TimeZone = 'UTC'")
    for csv in sorted(REFERENCE_DIR.glob("*.csv")):
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE ref_{csv.stem} AS "
            "SELECT * FROM read_csv(?, all_varchar = true, header = true)",
            [str(csv)],
        )
    for statement in _statements(PROCEDURE.read_text()):
        con.execute(statement)
    con.execute(f"CREATE TEMP TABLE {_PREPARED} AS SELECT 1 AS done")


def focus_select_sql(provider: str, raw_relation: str) -> str:
    """The SELECT that converts the raw rows in ``raw_relation`` to FOCUS 1.3 columns.

    Args:
        provider: the provider slug; its mapping is ``sql/mappings/<provider>.sql``.
        raw_relation: a table or view name (optionally qualified) holding raw-table rows.

    Returns:
        One SELECT yielding the columns of ``cost_data_standard_1_3`` in schema order and types
        (run ``prepare`` on the connection first).

    Raises:
        ValueError: unknown provider, or a relation name that is not a plain identifier.
    """
    if not _PROVIDER.match(provider) or provider not in mappings():
        raise ValueError(f"no FOCUS mapping for provider {provider!r} (known: {', '.join(mappings())})")
    if not _RELATION.match(raw_relation):
        raise ValueError(f"raw relation {raw_relation!r} is not a table or view name")
    body = _mapping_text(provider).replace(RAW_PLACEHOLDER, raw_relation)
    columns = ", ".join(
        f'CAST("{c.name}" AS {_duck_type(c.type)}) AS "{c.name}"' for c in load_schema(FOCUS_TABLE).columns
    )
    # The outer projection pins order and types to the schema; DuckDB folds it into the mapping.
    return f"SELECT {columns} FROM (\n{body}\n) AS focus"


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
