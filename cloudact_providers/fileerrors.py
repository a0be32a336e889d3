"""How the file parsers name a file in their errors: by its source object, never its local path.

The pipeline downloads each export file to a temporary path on the server
(``data/tmp/run-<id>/00001-part_1.csv``): a caller has no use for it, and it maps the server's disk.
Parsers therefore name the file by the ``source_object`` they are given (its safe URI), and shorten
DuckDB's reasons: one or two lines, without the SQL excerpt or the source line DuckDB quotes.

A file that cannot be read at all is refused with what was found instead (``what_was_found``): a
person can act on "the file is not UTF-8 text", not on DuckDB's sniffer report.
"""

from __future__ import annotations

import gzip
import re
import zlib
from pathlib import Path
from typing import Literal

import duckdb

_REASON_LIMIT = 240
# DuckDB lines that quote the statement or the file's content rather than say what is wrong.
_QUOTING = ("LINE ", "Original Line")
# Enough of a file to tell text from binary without reading a large export.
_PREFIX_BYTES = 64 * 1024
_JSON_LINE = re.compile(r"\bline (\d+)\b")


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


def not_text(path: Path) -> str | None:
    """What the start of ``path`` is, when it is not UTF-8 text (decompressed by its magic bytes).

    Returns:
        ``the file is not valid gzip data``, ``the file is not UTF-8 text``, or None for text.
    """
    with path.open("rb") as handle:
        head = handle.read(_PREFIX_BYTES)
    if head.startswith(b"\x1f\x8b"):
        try:
            with gzip.open(path, "rb") as unzipped:
                head = unzipped.read(_PREFIX_BYTES)
        except (OSError, EOFError, zlib.error):
            return "the file is not valid gzip data"
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        # A multi-byte character cut by the prefix's end is text.
        if exc.start < len(head) - 3:
            return "the file is not UTF-8 text"
    return None


def what_was_found(exc: duckdb.Error, path: Path, container: Literal["csv", "parquet", "jsonl"]) -> str:
    """What a file DuckDB cannot open is instead of an export of ``container``, for a person.

    Reads the file's first bytes (never DuckDB's message, which quotes its internals), and the
    kind of DuckDB's error only to tell JSON lines apart.
    """
    if container == "parquet":
        return "the file is not Parquet"
    if (found := not_text(path)) is not None:
        return found
    if container == "jsonl":
        line = _JSON_LINE.search(str(exc))
        return f"line {line[1]} is not a JSON object" if line else "the file is not newline-delimited JSON"
    return "the file is not CSV text under a header row"
