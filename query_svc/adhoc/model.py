"""What ExecuteSql answers with, as plain data (server.py turns it into protobuf)."""

from __future__ import annotations

from dataclasses import dataclass

from cloudact_shared.settings import CloudactSettings


@dataclass(frozen=True)
class SqlLimits:
    """What one query may use."""

    max_rows: int = 100_000
    """Most rows sent; a request may ask for fewer."""
    timeout_seconds: float = 30.0
    """Wall-clock limit from the call's start (the caller's deadline when sooner)."""
    memory_limit_bytes: int = 256 * 2**20
    """DuckDB's memory limit; as much again may spill to disk."""
    threads: int = 2
    """DuckDB threads."""
    max_bytes_billed: int = 10 * 2**30
    """On BigQuery: a query that would bill more bytes fails instead of running."""

    @classmethod
    def from_settings(cls, settings: CloudactSettings) -> SqlLimits:
        return cls(
            max_rows=settings.sql_max_rows,
            timeout_seconds=settings.sql_timeout_seconds,
            memory_limit_bytes=int(settings.sql_memory_limit),
            threads=settings.sql_threads,
            max_bytes_billed=int(settings.sql_max_bytes_billed),
        )


@dataclass(frozen=True)
class SqlColumn:
    """One column of the answer: its name and DuckDB type."""

    name: str
    type: str


@dataclass(frozen=True)
class SqlHeader:
    """First event of an answer."""

    columns: tuple[SqlColumn, ...]
    table_version: int


Row = tuple[list[str], list[int]]
"""One row as text cells (in column order) and the indexes of its NULL cells (whose text is "")."""


@dataclass(frozen=True)
class SqlRows:
    """The next rows of the answer."""

    rows: list[Row]


@dataclass(frozen=True)
class SqlSummary:
    """Last event of a complete answer."""

    row_count: int
    truncated: bool
    row_limit: int
    truncation_reason: str = ""


SqlEvent = SqlHeader | SqlRows | SqlSummary
