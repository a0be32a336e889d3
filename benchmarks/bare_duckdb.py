"""Baseline for `make bench`: read some columns of a CSV or Parquet file with DuckDB and write them to Parquet.

Usage: python benchmarks/bare_duckdb.py INPUT.csv|INPUT.parquet OUTPUT.parquet COL1,COL2,...|'*'
"""

from __future__ import annotations

import sys

import duckdb


def main(src: str, out: str, columns: list[str]) -> None:
    con = duckdb.connect()
    con.execute("SET enable_progress_bar = false")
    select = "*" if columns == ["*"] else ", ".join('"' + c.replace('"', '""') + '"' for c in columns)
    src_sql = src.replace("'", "''")
    out_sql = out.replace("'", "''")
    reader = f"read_parquet('{src_sql}')" if src.endswith(".parquet") else f"read_csv('{src_sql}', header = true)"
    con.execute(f"COPY (SELECT {select} FROM {reader}) TO '{out_sql}' (FORMAT parquet)")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3].split(","))
