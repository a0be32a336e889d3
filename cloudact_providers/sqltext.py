"""SQL text for a hand-written raw-SELECT builder; a declared format (``cloudact_providers.rawselect``) needs none.

A provider whose files no ``rawselect.FileFormat`` describes may still write its SELECT as text. These
helpers keep that path safe and the contract in one place: literals and identifiers are rendered by
sqlglot (never quoted by hand), the lineage columns are the builder's, and ``finish_raw_select``
parses the pieces and finishes them with the builder's own last layers (``rawselect.finish``).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

import sqlglot

from cloudact_providers.rawselect import finish
from cloudact_providers.rawselect import pipeline_columns as _pipeline_columns
from cloudact_providers.rawselect.reading import as_text
from cloudact_providers.rawselect.sql import DIALECT, Expr, ident, lit, render


def sql_literal(text: str) -> str:
    """A SQL string literal."""
    return render(lit(text))


def sql_ident(name: str) -> str:
    """A quoted SQL identifier."""
    return render(ident(name))


def pipeline_columns() -> dict[str, str]:
    """``ingestion_date`` and the five ``x_*`` lineage columns, read from the run's DuckDB variables
    (set by ``cloudact_shared.duck.set_lineage``): only the pipeline side ever sets them."""
    return {name: render(value) for name, value in _pipeline_columns().items()}


def _parsed(sql: str) -> Expr:
    return sqlglot.parse_one(sql, dialect=DIALECT)


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
    """The last layers of a raw SELECT (the ``RawSelectBuilder`` contract), around a hand-written one.

    Args:
        parsed: the SELECT holding the file's columns (by alias) and their parsed values.
        outputs: raw column -> its expression over ``parsed``.
        columns: the raw table's columns, in schema order.
        reason: the quarantine-reason expression (NULL for a good row).
        sources: (original column name, alias, value-as-text expression) of every file column,
            for the ``_record`` JSON of quarantined rows.
        row_number: the ``_source_row_number`` expression.
        map_columns: MAP columns, returned as NULL when empty (raw maps are NULL, never empty).
        passthrough: extra columns of ``parsed`` the row number needs (``, "_frn"``).
    """
    extra = [_parsed(name).name for name in passthrough.split(",") if name.strip()]
    select = finish(
        _parsed(parsed),
        {column: _parsed(outputs[column]) for column in columns},
        columns,
        maps=map_columns,
        reason=_parsed(reason),
        sources=[(name, _parsed(alias).name, _parsed(text)) for name, alias, text in sources],
        row_number=_parsed(row_number),
        passthrough=extra,
    )
    return render(select)


@dataclass(frozen=True)
class SourceColumn:
    """One column of an export file: its original name, DuckDB type and alias inside the SELECT (SQL text)."""

    name: str
    type: str
    alias: str
    trim: bool = False
    """Strip surrounding blanks from text values (Azure pads some CSV cells)."""

    @property
    def text(self) -> str:
        """The value as text, '' as NULL (CSV), or a typed value rendered as text (Parquet)."""
        return render(as_text(_parsed(self.alias), self.type, trim=self.trim))
