"""An API's answers as the JSON-lines file a connector downloads: one flat record of text per result.

A connector that reads a vendor's API (OpenAI, Anthropic ...) writes each page's results to its local
file as it arrives, one JSON object per line, which the provider's ``formats.py`` then reads like any
export. Each record is flat, every value text, so the shared raw-SELECT builder types and checks it
the same way it does a CSV cell:

- nested objects are flattened, their keys joined with ``_`` (``amount.value`` -> ``amount_value``,
  ``cache_creation.ephemeral_5m_input_tokens`` -> ``cache_creation_ephemeral_5m_input_tokens``);
- numbers keep the exact decimal text of the answer (the connector parses JSON with ``Decimal``): a
  cost is never taken through a binary float; booleans are ``true`` / ``false``; a list is its JSON
  text; null stays null;
- the fields a connector adds (the record's kind, its time bucket, the account) come first.

A value that is not what it should be (an amount that is not a number) is written as it came: the
raw SELECT quarantines its row with the reason, instead of the download failing.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal
from pathlib import Path
from types import TracebackType
from typing import IO

Record = dict[str, str | None]
"""One line of the file: field -> text (None: null)."""


def as_text(value: object) -> str | None:
    """A JSON value as the text a record holds (see the module doc)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return format(value, "f")  # plain notation: 1E-7 -> 0.0000001, as DuckDB parses decimals
    if isinstance(value, int | str):
        return str(value)
    if isinstance(value, float):
        return repr(value)  # the shortest text that is the same float (a caller that parsed floats)
    return json.dumps(value, default=str, separators=(",", ":"))


def flatten(value: Mapping[str, object], prefix: str = "") -> Record:
    """``value``'s leaves keyed by their path joined with ``_``, as text."""
    flat: Record = {}
    for key, item in value.items():
        name = f"{prefix}{key}"
        if isinstance(item, Mapping):
            flat.update(flatten(item, f"{name}_"))
        else:
            flat[name] = as_text(item)
    return flat


def record(added: Mapping[str, object], result: Mapping[str, object]) -> Record:
    """One line: the connector's own fields, then the result's, flattened (a result field of the same
    name as an added one does not replace it)."""
    line = flatten(result)
    return {
        **{key: as_text(value) for key, value in added.items()},
        **{k: v for k, v in line.items() if k not in added},
    }


def loads(text: str | bytes) -> object:
    """An API's JSON answer with every non-integer number as a ``Decimal`` of its exact text."""
    return json.loads(text, parse_float=Decimal)


class JsonLinesFile:
    """Writes records to ``path`` one line each, counting them; used as a context manager.

    A page is written as it arrives, so a download holds one page in memory, never the month.
    """

    def __init__(self, path: Path) -> None:
        self._path = path
        self._handle: IO[str] | None = None
        self.rows = 0

    def __enter__(self) -> JsonLinesFile:
        self._handle = self._path.open("w", encoding="utf-8")
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None

    def write(self, records: Iterable[Record]) -> None:
        assert self._handle is not None, "use JsonLinesFile as a context manager"
        for line in records:
            self._handle.write(json.dumps(line, ensure_ascii=False, separators=(",", ":")) + "\n")
            self.rows += 1


def write_copies(seed: Path, dest: Path, *, rows: int, counted: Callable[[Record], bool], key: str) -> None:
    """Writes whole copies of ``seed``'s lines to ``dest`` until ``rows`` lines that ``counted`` accepts
    are written (a synthetic generator's scaling), the ``key`` field's text suffixed ``-c<copy>`` in
    every copy but the first, so no two copies' rows are alike (a null ``key`` stays null)."""
    lines = seed.read_text(encoding="utf-8").splitlines(keepends=True)
    per_copy = sum(1 for text in lines if counted(json.loads(text)))
    if per_copy == 0:
        raise ValueError(f"{seed.name} holds no line to count")
    field = re.compile(f'("{re.escape(key)}":"[^"\\\\]*)"')
    with dest.open("w", encoding="utf-8") as out:
        for copy in range(-(-rows // per_copy)):
            suffix = f"-c{copy}"
            out.writelines(lines if copy == 0 else (field.sub(rf'\g<1>{suffix}"', text) for text in lines))
