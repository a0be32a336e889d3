"""How a file's headers fill raw columns: the routes a layout declares, applied in order.

A route looks at the file's columns and assigns some to raw columns (``Routed.columns``) or folds
them into a MAP column as entries (``Routed.folds``). Routes run in the order the layout lists them,
each over every column in file order; a raw column is filled once (the first route and the first
column that name it win), and a column that fills a raw column fills no other. A folded column may
still fill one (AWS ``product/sku`` is an entry of ``product`` and fills ``product_sku``). What no
route takes lands in ``extra_columns``, keyed by its header.

- ``Named``: the header names the raw column, by a naming rule (the same name; ``prefix/CamelName``
  -> ``prefix_camel_name``; the same once case and separators are ignored).
- ``Variants``: a raw column and the headers that may fill it, preferred first (older or renamed
  spellings: Azure's ``Cost`` for ``CostInBillingCurrency``, OCI's FOCUS 1.0 ``ProviderName``).
- ``Fold``: ``prefix/key`` headers become the entries of one MAP column (AWS ``resourceTags/*``).
- ``Paths``: dotted paths into nested records (``service.id``): a flattened column of that name, or
  the field of a STRUCT / JSON column.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from cloudact_providers.rawselect.reading import Field, Source

Naming = Callable[[str], str | None]
"""A header -> the name it is matched by (None: it names nothing)."""


@dataclass(frozen=True)
class Targets:
    """The raw columns a file may fill: every column not derived, lineage or ``extra_columns``."""

    fillable: tuple[str, ...]
    maps: frozenset[str]
    """The MAP columns among them."""


@dataclass
class Routed:
    """Which file column fills which raw column, the MAP entries folded from headers, and the rest."""

    columns: dict[str, Field] = field(default_factory=dict)
    folds: dict[str, list[tuple[str, Field]]] = field(default_factory=dict)
    used: set[int] = field(default_factory=set)
    """Positions of the file columns assigned to a raw column."""
    folded: set[int] = field(default_factory=set)

    def fill(self, raw: str, value: Field) -> None:
        """Fills ``raw`` with ``value`` unless it is filled already."""
        if raw not in self.columns:
            self.columns[raw] = value
            self.used.add(value.source.position)

    def extras(self, sources: Sequence[Source]) -> list[Source]:
        """The file columns no route took, in file order."""
        taken = self.used | self.folded
        return [s for s in sources if s.position not in taken]


class Route(Protocol):
    """One rule of a layout: assigns file columns to raw columns or folds them into a MAP column."""

    def apply(self, sources: Sequence[Source], routed: Routed, targets: Targets) -> None: ...


def snake(word: str) -> str:
    """``UnblendedCost`` / ``intervalUsageStart`` -> ``unblended_cost`` / ``interval_usage_start``: every
    capital starts a word; ``:`` becomes ``_``."""
    return re.sub(r"[A-Z]", lambda m: "_" + m[0].lower(), word).lstrip("_").replace(":", "_")


def slashed_snake(name: str) -> str:
    """``lineItem/UnblendedCost`` -> ``line_item_unblended_cost`` (AWS legacy CUR, OCI cost reports)."""
    prefix, _, suffix = name.partition("/")
    return f"{snake(prefix)}_{snake(suffix)}"


def _slashed(name: str) -> str | None:
    return slashed_snake(name) if "/" in name else None


def normalize_header(name: str) -> str:
    """``CostInBillingCurrency``, ``costInBillingCurrency``, ``cost_in_billing_currency`` -> one key."""
    return re.sub(r"[^0-9a-z]", "", name.replace("\ufeff", "").lower())


def _same(name: str) -> str:
    return name


@dataclass(frozen=True)
class Named:
    """A header fills the raw column it names: ``key(header) == column_key(raw column)``."""

    key: Naming = _same
    column_key: Callable[[str], str] = _same
    scalars_only: bool = False
    """Never fill a MAP column this way."""

    def apply(self, sources: Sequence[Source], routed: Routed, targets: Targets) -> None:
        by_key: dict[str, str] = {}
        for raw in targets.fillable:
            if not (self.scalars_only and raw in targets.maps):
                by_key[self.column_key(raw)] = raw
        for source in sources:
            if source.position in routed.used:
                continue
            key = self.key(source.name)
            target = None if key is None else by_key.get(key)
            if target is not None:
                routed.fill(target, Field(source))


SLASHED = Named(_slashed, scalars_only=True)
"""``prefix/CamelName`` headers fill ``prefix_camel_name`` columns."""

NORMALIZED = Named(normalize_header, normalize_header)
"""Headers match raw columns ignoring case and separators."""


@dataclass(frozen=True)
class Variants:
    """Raw columns and the headers that may fill them, preferred first, matched by ``key``."""

    headers: Mapping[str, tuple[str, ...]]
    key: Callable[[str], str] = _same

    def apply(self, sources: Sequence[Source], routed: Routed, targets: Targets) -> None:
        by_key: dict[str, Source] = {}
        for source in sources:
            if source.position not in routed.used:
                by_key.setdefault(self.key(source.name), source)
        for raw, headers in self.headers.items():
            found = next((by_key[k] for k in map(self.key, headers) if k in by_key), None)
            if found is not None and raw in targets.fillable:
                routed.fill(raw, Field(found))


@dataclass(frozen=True)
class Fold:
    """``<prefix>/<key>`` headers become entries of the MAP column ``into``; an empty cell is no entry."""

    prefix: str
    into: str
    key: Callable[[str], str] = _same
    """The entry's key from the header's ``<key>`` part (default: as written, ``user:Team``)."""

    def apply(self, sources: Sequence[Source], routed: Routed, targets: Targets) -> None:
        entries = routed.folds.setdefault(self.into, [])
        for source in sources:
            prefix, slash, suffix = source.name.partition("/")
            taken = source.position in routed.used or source.position in routed.folded
            if prefix == self.prefix and slash and suffix and not taken:
                entries.append((self.key(suffix), Field(source)))
                routed.folded.add(source.position)


@dataclass(frozen=True)
class Paths:
    """Raw columns read from dotted paths: a column of that name (flattened CSV), else the field of a
    STRUCT or JSON column (``service.id`` in ``service``). Every column read is used, and so are
    flattened columns under it."""

    paths: Mapping[str, str]

    def apply(self, sources: Sequence[Source], routed: Routed, targets: Targets) -> None:
        by_name = {s.name: s for s in sources}
        for raw, dotted in self.paths.items():
            top, _, rest = dotted.partition(".")
            parent = by_name.get(top)
            if dotted in by_name:
                routed.fill(raw, Field(by_name[dotted]))
            elif rest and parent is not None and not parent.is_text and has_field(parent.type, rest):
                routed.fill(raw, Field(parent, rest))
        used_names = {s.name for s in sources if s.position in routed.used}
        routed.folded.update(s.position for s in sources if s.name.partition(".")[0] in used_names)


def has_field(struct_type: str, name: str) -> bool:
    """Whether a DuckDB STRUCT type declares the field ``name`` at its top level (JSON: it may)."""
    if struct_type == "JSON":
        return True
    if not struct_type.startswith("STRUCT("):
        return False
    return name in _struct_fields(struct_type[len("STRUCT(") : -1])


def _struct_fields(body: str) -> Collection[str]:
    depth, token, fields = 0, "", []
    for char in body:
        if char in "([":
            depth += 1
        elif char in ")]":
            depth -= 1
        if char == "," and depth == 0:
            fields.append(token.strip())
            token = ""
        else:
            token += char
    fields.append(token.strip())
    return {re.split(r"\s", f, maxsplit=1)[0].strip('"') for f in fields if f}


def header_for(routes: Sequence[Route], raw: str) -> str | None:
    """A header the first route able to fill ``raw`` would take for it, to name a missing column as
    the file would spell it (``BillingPeriodStartDate``); None when no route can say (``SLASHED``
    cannot be inverted: its layouts name their columns in ``Layout.shown_as``)."""
    for rule in routes:
        if isinstance(rule, Variants) and raw in rule.headers:
            return rule.headers[raw][0]
        if isinstance(rule, Paths) and raw in rule.paths:
            return rule.paths[raw]
        if isinstance(rule, Named):
            pascal = "".join(word.capitalize() for word in raw.split("_"))
            spelled = next((name for name in (pascal, raw) if rule.key(name) == rule.column_key(raw)), None)
            if spelled is not None:
                return spelled
    return None


def route(sources: Sequence[Source], routes: Sequence[Route], targets: Targets) -> Routed:
    """Applies ``routes`` in order."""
    routed = Routed()
    for rule in routes:
        rule.apply(sources, routed, targets)
    return routed
