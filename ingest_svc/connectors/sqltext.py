"""SQL text the file parsers share: quoting, and the pipeline-set columns every raw row carries."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

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


def finish_raw_select(
    parsed: str,
    outputs: Mapping[str, str],
    columns: Sequence[str],
    *,
    reason: str,
    sources: Sequence[tuple[str, str, str]],
    row_number: str,
    map_columns: Collection[str],
    passthrough: str = "",
) -> str:
    """The last layers every file parser's raw SELECT shares (the RawSelectBuilder contract).

    Args:
        parsed: the SELECT holding the file's columns (by alias) and their parsed values.
        outputs: raw column -> its expression over ``parsed``.
        columns: the raw table's columns, in schema order.
        reason: the quarantine-reason expression (NULL for a good row).
        sources: (original column name, alias, value-as-text expression) of every file column,
            for the ``_record`` JSON of quarantined rows.
        row_number: the ``_source_row_number`` expression.
        map_columns: MAP columns, returned as NULL when empty (raw maps are NULL, never empty).
        passthrough: extra columns of ``parsed`` the row number needs (e.g. Parquet's file row).
    """
    body = ", ".join(f"{outputs[c]} AS {sql_ident(c)}" for c in columns)
    aliases = ", ".join(alias for _, alias, _ in sources)
    typed = f"SELECT {body}, {reason} AS _quarantine_reason{passthrough}, {aliases} FROM ({parsed})"
    # The row number is taken last: a window is a barrier, so a caller's WHERE on
    # _quarantine_reason is not pushed below it (which would make DuckDB parse every value twice).
    numbered = f"SELECT *, {row_number} AS _source_row_number FROM ({typed})"
    record = "json_object(" + ", ".join(f"{sql_literal(name)}, {text}" for name, _, text in sources) + ")"
    final = [
        f"CASE WHEN cardinality({sql_ident(c)}) > 0 THEN {sql_ident(c)} END AS {sql_ident(c)}"
        if c in map_columns
        else sql_ident(c)
        for c in columns
    ]
    return (
        f"SELECT {', '.join(final)}, _quarantine_reason, _source_row_number, "
        f"CASE WHEN _quarantine_reason IS NOT NULL THEN CAST({record} AS VARCHAR) END AS _record "
        f"FROM ({numbered})"
    )


@dataclass(frozen=True)
class SourceColumn:
    """One column of an export file: its original name, DuckDB type and alias inside the SELECT."""

    name: str
    type: str
    alias: str
    trim: bool = False
    """Strip surrounding blanks from text values (Azure pads some CSV cells)."""

    @property
    def is_text(self) -> bool:
        return self.type == "VARCHAR"

    @property
    def is_nested(self) -> bool:
        return self.type.startswith(("STRUCT", "MAP", "JSON")) or self.type.endswith("]")

    @property
    def text(self) -> str:
        """The value as text, '' as NULL (CSV), or a typed value rendered as text (Parquet)."""
        if self.is_text:
            value = f"trim({self.alias})" if self.trim else self.alias
            return f"NULLIF({value}, '')"
        if self.is_nested:
            return f"CAST(to_json({self.alias}) AS VARCHAR)"
        return f"CAST({self.alias} AS VARCHAR)"
