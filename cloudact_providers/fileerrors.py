"""How the file parsers name a file in their errors: by its source object, never its local path.

The pipeline downloads each export file to a temporary path on the server
(``data/tmp/run-<id>/00001-part_1.csv``): a caller has no use for it, and it maps the server's disk.
Parsers therefore name the file by the ``source_object`` they are given (its safe URI), and shorten
DuckDB's reasons: one or two lines, without the SQL excerpt or the source line DuckDB quotes.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

_REASON_LIMIT = 240
# DuckDB lines that quote the statement or the file's content rather than say what is wrong.
_QUOTING = ("LINE ", "Original Line")


def read_error(exc: duckdb.Error, path: Path, name: str) -> str:
    """DuckDB's reason ``path`` cannot be read, in short, with ``path`` replaced by ``name``."""
    return short_reason(str(exc).replace(str(path), name)) or type(exc).__name__


def short_reason(text: str) -> str:
    """The first one or two lines of a DuckDB error that say what is wrong, at most 240 characters."""
    lines: list[str] = []
    for line in text.split("\n\n", 1)[0].splitlines():
        line = line.strip()
        if line and not line.startswith(_QUOTING):
            lines.append(line)
        if len(lines) == 2:
            break
    reason = " ".join(lines)
    return reason if len(reason) <= _REASON_LIMIT else reason[:_REASON_LIMIT] + "..."
