"""Editing export CSVs for the row-tolerance tests: read a sample, spoil some rows, write it back.

Rows are parsed and written with the csv module, so a spoilt row stays a well-quoted CSV line and
only what a test changes is wrong with it.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from pathlib import Path


def read_rows(path: Path) -> tuple[list[str], list[list[str]]]:
    """The header and the data rows of a CSV file (a UTF-8 BOM is dropped)."""
    with path.open(newline="", encoding="utf-8-sig") as handle:
        header, *rows = list(csv.reader(handle))
    return header, rows


def line(fields: Sequence[str]) -> str:
    """One CSV line of ``fields``, without its line ending."""
    out = io.StringIO()
    # The writer quotes a field holding its line terminator's characters: "\n" makes it quote line breaks.
    csv.writer(out, lineterminator="\n").writerow(fields)
    return out.getvalue().removesuffix("\n")


def write_rows(path: Path, header: Sequence[str], rows: Sequence[Sequence[str]], *, endings: str = "\n") -> Path:
    """Writes ``header`` and ``rows``; ``endings`` "mixed" alternates CRLF (header first) and LF."""
    lines = [line(header), *(line(row) for row in rows)]
    if endings == "mixed":
        text = "".join(text + ("\r\n" if index % 2 == 0 else "\n") for index, text in enumerate(lines))
    else:
        text = "".join(text + endings for text in lines)
    path.write_bytes(text.encode())
    return path


def column(header: Sequence[str], name: str) -> int:
    """The position of ``name`` in ``header``."""
    return list(header).index(name)
