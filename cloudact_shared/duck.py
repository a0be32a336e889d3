"""DuckDB connections as the services and the CLI use them: bounded memory, spill to disk, lineage."""

from __future__ import annotations

import tempfile
from pathlib import Path

import duckdb

from cloudact_shared.lineage import Lineage


def connect(
    *, memory_limit: str = "1GB", temp_dir: Path | None = None, threads: int | None = None
) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection that spills to ``temp_dir`` past ``memory_limit``."""
    con = duckdb.connect(":memory:")
    con.execute(f"SET memory_limit = '{_checked_size(memory_limit)}'")
    con.execute("SET temp_directory = ?", [str(temp_dir or Path(tempfile.gettempdir()) / "cloudact-duckdb")])
    # TIMESTAMPTZ -> DATE casts and date_trunc follow the session zone: billing data is UTC.
    con.execute("SET TimeZone = 'UTC'")
    if threads:
        con.execute(f"SET threads = {int(threads)}")
    return con


def unordered(con: duckdb.DuckDBPyConnection, enabled: bool = True) -> None:
    """Lets DuckDB produce from every thread without keeping row order (faster, no extra memory
    for a COPY).

    A result streamed out with ``to_arrow_reader`` unordered has its parallel producers outrun the
    consumer, and DuckDB buffers their output up to its memory limit (measured under a 1 GB limit:
    1.6 GB instead of 0.9 GB for 900k raw rows; under the memory plan's 316 MiB, the FOCUS
    conversion's peak is unchanged and flat to 10M rows). Ordered, a small limit makes DuckDB run
    some plans on fewer threads.
    """
    con.execute(f"SET preserve_insertion_order = {str(not enabled).lower()}")


def set_lineage(con: duckdb.DuckDBPyConnection, lineage: Lineage, ingestion_date: object | None = None) -> None:
    """Exposes the run's lineage to SQL as variables (``getvariable('x_run_id')`` ...)."""
    for name, value in lineage.as_columns().items():
        con.execute(f"SET VARIABLE {name} = ?", [value])
    con.execute("SET VARIABLE ingestion_date = ?", [ingestion_date or lineage.ingested_at.date()])


def _checked_size(size: str) -> str:
    text = size.strip().upper().replace(" ", "")
    digits = text.rstrip("KMGTIB")
    if not digits.replace(".", "", 1).isdigit() or not text.endswith(
        ("B", "KB", "MB", "GB", "TB", "KIB", "MIB", "GIB")
    ):
        raise ValueError(f"invalid memory size {size!r}")
    return text
