"""Helpers of the synthetic generators: write a few template rows, then scale them to any size.

A generator states a handful of representative source rows (one per kind of charge) and scales them
with DuckDB to the size asked for: the templates repeated in order (every row group holds the whole
mix), the identifying columns made unique per copy (``-c<copy>`` appended) so that no tool profits
from duplicate rows, and the dates left inside the templates' billing month.
"""

from __future__ import annotations

import csv
from collections.abc import Mapping, Sequence
from pathlib import Path

import duckdb


def write_csv(path: Path, header: Sequence[str], rows: Sequence[Mapping[str, str]]) -> Path:
    """Writes ``rows`` under ``header`` (a column a row lacks is empty) as a CSV file; returns ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=list(header), restval="", extrasaction="raise")
        writer.writeheader()
        writer.writerows(rows)
    return path


def scale_file(seed: Path, rows: int, dest: Path, vary: Sequence[str]) -> Path:
    """Writes ``rows`` rows made of copies of ``seed`` to ``dest`` in ``seed``'s format (CSV or Parquet).

    Args:
        seed: the rows to repeat (``.csv`` read as text, or Parquet).
        rows: how many rows ``dest`` gets.
        dest: the file to write; kept as is when it exists (generated files are cached).
        vary: columns made unique per copy (ids a mapping may key on); empty values stay empty.

    Returns:
        ``dest``.
    """
    if dest.exists():
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    is_csv = seed.suffix == ".csv"
    reader = (
        f"read_csv({_literal(str(seed))}, header = true, all_varchar = true)"
        if is_csv
        else f"read_parquet({_literal(str(seed))})"
    )
    with duckdb.connect() as con:
        con.execute("SET enable_progress_bar = false")
        names = [r[0] for r in con.sql(f"DESCRIBE SELECT * FROM {reader}").fetchall()]
        seed_rows = int(con.sql(f"SELECT count(*) FROM {reader}").fetchall()[0][0])
        copies = -(-rows // seed_rows)
        columns = ", ".join(_varied(n) if n in vary else f"s.{_quoted(n)}" for n in names)
        # Copies in order (all of copy 0, then copy 1 ...) so every row group holds the whole mix.
        select = f"SELECT {columns} FROM range({copies}) c(copy), {reader} s ORDER BY c.copy LIMIT {rows}"
        tmp = dest.with_name(dest.name + ".tmp")
        options = "FORMAT csv, HEADER true" if is_csv else "FORMAT parquet, COMPRESSION zstd"
        con.execute(f"COPY ({select}) TO {_literal(str(tmp))} ({options})")
    tmp.replace(dest)
    return dest


def _varied(name: str) -> str:
    column = f"s.{_quoted(name)}"
    varied = f"CASE WHEN {column} IS NULL OR {column} = '' THEN {column} ELSE {column} || '-c' || c.copy END"
    return f"{varied} AS {_quoted(name)}"


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"
