"""The plaintext of a credential, wrapped so that it never shows in a repr, a log line or a pickle."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any


@dataclass(frozen=True, repr=False)
class Secret:
    """A credential's secret fields. Its repr and str name the fields but never show a value."""

    _values: Mapping[str, str]

    @classmethod
    def of(cls, values: Mapping[str, str]) -> Secret:
        """A read-only copy of ``values``."""
        return cls(MappingProxyType(dict(values)))

    @property
    def field_names(self) -> tuple[str, ...]:
        """The secret's field names, sorted (not secret)."""
        return tuple(sorted(self._values))

    def reveal(self) -> dict[str, str]:
        """The plaintext fields. Call only to hand them to the pipeline; never log the result."""
        return dict(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        return f"Secret(fields={list(self.field_names)!r}, values=<redacted>)"

    __str__ = __repr__

    def __reduce__(self) -> Any:
        raise TypeError("Secret is not serialisable")

    def _canonical_json(self) -> bytes:
        return json.dumps(dict(self._values), sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
