"""Baseline for `make bench`: read some columns of a CSV with DuckDB and write them to Parquet.

Usage: python benchmarks/bare_duckdb.py INPUT.csv OUTPUT.parquet COL1,COL2,...
"""

from __future__ import annotations

import sys

import duckdb


def main(src: str, out: str, columns: list[str]) -> None:
    con = duckdb.connect()
    con.execute("SET enable_progress_bar = false")
    select = ", ".join('"' + c.replace('"', '""') + '"' for c in columns)
    src_sql = src.replace("'", "''")
    out_sql = out.replace("'", "''")
    con.execute(f"COPY (SELECT {select} FROM read_csv('{src_sql}', header = true)) TO '{out_sql}' (FORMAT parquet)")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3].split(","))
