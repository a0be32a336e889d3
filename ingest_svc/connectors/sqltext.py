"""SQL text the file parsers share: quoting, and the pipeline-set columns every raw row carries."""

from __future__ import annotations

from cloudact_shared.lineage import LINEAGE_COLUMNS

_LINEAGE_TYPES = {"x_ingested_at": "TIMESTAMPTZ", "x_pipeline_run_date": "DATE"}


def sql_literal(text: str) -> str:
    """A SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


def sql_ident(name: str) -> str:
    """A quoted SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def pipeline_columns() -> dict[str, str]:
    """``ingestion_date`` and the five ``x_*`` lineage columns, read from the run's DuckDB variables
    (set by ``cloudact_shared.duck.set_lineage``): only the pipeline side ever sets them."""
    columns = {"ingestion_date": "CAST(getvariable('ingestion_date') AS DATE)"}
    for name in LINEAGE_COLUMNS:
        columns[name] = f"CAST(getvariable({sql_literal(name)}) AS {_LINEAGE_TYPES.get(name, 'VARCHAR')})"
    return columns
