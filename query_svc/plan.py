"""Validates a CostQuery against the FOCUS schema and normalises it into a hashable QueryPlan."""

from __future__ import annotations

import enum
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime

from cloudact_shared.errors import FieldViolation, InvalidArgument
from cloudact_shared.naming import FOCUS_TABLE, echo, parse_date, validate_org_slug
from cloudact_shared.storage import TableSchema
from query_svc.model import DEFAULT_METRICS, CostQuery, DimensionFilter, Grain, Metric

PERIOD_COLUMN = "ChargePeriodStart"
CURRENCY_COLUMN = "BillingCurrency"
TAGS_COLUMN = "Tags"
TAG_PREFIX = "tag:"
_MAX_TAG_KEY = 512
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
# Characters that could not be quoted safely inside a JSONPath bracket (``$['key']``).
_TAG_KEY_FORBIDDEN = frozenset("'\"\\")


class DimensionKind(enum.Enum):
    """How a dimension's value is read from the table."""

    STRING = "STRING"
    TIMESTAMP = "TIMESTAMP"
    DATE = "DATE"
    TAG = "TAG"
    """A key of the Tags JSON object."""


_KIND_OF_TYPE = {
    "STRING": DimensionKind.STRING,
    "TIMESTAMP": DimensionKind.TIMESTAMP,
    "DATE": DimensionKind.DATE,
}


@dataclass(frozen=True)
class Dimension:
    """A validated dimension: the name the caller used and where its value comes from."""

    name: str
    """As requested: a column name or ``tag:KEY``; the key of ``CostRow.dimensions``."""
    column: str
    kind: DimensionKind
    tag_key: str = ""


@dataclass(frozen=True)
class Filter:
    """A validated filter: rows whose dimension is one of ``values`` ("" stands for null)."""

    dimension: Dimension
    values: tuple[str, ...]


@dataclass(frozen=True)
class QueryPlan:
    """A normalised query: equal plans give equal answers on the same table version."""

    org_slug: str
    start: date
    end: date
    """Inclusive."""
    metrics: tuple[Metric, ...]
    grain: Grain
    dimensions: tuple[Dimension, ...]
    """Requested group_by (in order, no duplicates), then BillingCurrency unless requested."""
    filters: tuple[Filter, ...]

    @property
    def columns(self) -> list[str]:
        """Every table column the query reads (for projection pushdown)."""
        names = [PERIOD_COLUMN, *(m.column for m in self.metrics)]
        names += [d.column for d in self.dimensions] + [f.dimension.column for f in self.filters]
        return list(dict.fromkeys(names))


def plan_query(query: CostQuery, schema: TableSchema) -> QueryPlan:
    """Validates ``query`` against the FOCUS ``schema`` and normalises it.

    Args:
        query: The request as the caller wrote it.
        schema: The FOCUS table schema; its column types decide what is a dimension.

    Returns:
        The plan: metrics de-duplicated in canonical order, BillingCurrency among the dimensions,
        filter values de-duplicated and sorted.

    Raises:
        InvalidArgument: with one BadRequest field violation per problem.
    """
    org_slug = validate_org_slug(query.org_slug)
    violations: list[FieldViolation] = []
    start = _parse_date(query.start_date, "start_date", violations)
    end = _parse_date(query.end_date, "end_date", violations)
    if start is not None and end is not None and end < start:
        violations.append(FieldViolation("end_date", f"{end} is before start_date {start}"))
    types = {c.name: c.type.upper() for c in schema.columns}
    dimensions: dict[str, Dimension] = {}
    for index, name in enumerate(query.group_by):
        resolved = _resolve(name, types, f"group_by[{index}]", violations)
        if resolved is not None:
            dimensions.setdefault(resolved.name, resolved)
    if CURRENCY_COLUMN not in dimensions:
        dimensions[CURRENCY_COLUMN] = Dimension(CURRENCY_COLUMN, CURRENCY_COLUMN, DimensionKind.STRING)
    filters = [f for i, spec in enumerate(query.filters) if (f := _filter(spec, i, types, violations))]
    if violations or start is None or end is None:
        raise invalid_query(violations)
    metrics = tuple(m for m in Metric if m in query.metrics) or DEFAULT_METRICS
    return QueryPlan(
        org_slug=org_slug,
        start=start,
        end=end,
        metrics=metrics,
        grain=query.grain,
        dimensions=tuple(dimensions.values()),
        filters=tuple(sorted(filters, key=lambda f: (f.dimension.name, f.values))),
    )


def invalid_query(violations: Sequence[FieldViolation]) -> InvalidArgument:
    """The error for a malformed query: every problem as a BadRequest field violation."""
    message = "invalid query: " + "; ".join(f"{v.field}: {v.description}" for v in violations)
    return InvalidArgument(message, reason="INVALID_QUERY", violations=violations)


def parse_instant(value: str) -> datetime:
    """Parses an ISO 8601 date or date-time filter value; a value without offset is UTC."""
    parsed = datetime.fromisoformat(value)
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _parse_date(text: str, field: str, violations: list[FieldViolation]) -> date | None:
    if not text:
        violations.append(FieldViolation(field, "is required (YYYY-MM-DD)"))
        return None
    if not _is_iso_date(text):
        violations.append(FieldViolation(field, f"{echo(text)} is not a valid date (YYYY-MM-DD)"))
        return None
    try:
        # Bounded (2000..2100): the engine adds a day to the end date, which 9999-12-31 would overflow.
        return parse_date(text, field)
    except InvalidArgument as exc:
        violations.extend(exc.violations)
        return None


def _is_iso_date(text: str) -> bool:
    try:
        return bool(_ISO_DATE.fullmatch(text)) and bool(date.fromisoformat(text))
    except ValueError:
        return False


def _resolve(name: str, types: dict[str, str], field: str, violations: list[FieldViolation]) -> Dimension | None:
    if name.startswith(TAG_PREFIX):
        key = name.removeprefix(TAG_PREFIX)
        if not key or len(key) > _MAX_TAG_KEY:
            problem = f"tag key must be 1 to {_MAX_TAG_KEY} characters"
        elif any(c in _TAG_KEY_FORBIDDEN or not c.isprintable() for c in key):
            problem = "tag key must not contain quotes, backslashes or control characters"
        else:
            return Dimension(name, TAGS_COLUMN, DimensionKind.TAG, key)
        violations.append(FieldViolation(field, f"invalid dimension {name!r}: {problem}"))
        return None
    column_type = types.get(name)
    if column_type is not None and column_type in _KIND_OF_TYPE:
        return Dimension(name, name, _KIND_OF_TYPE[column_type])
    violations.append(FieldViolation(field, _why_not_a_dimension(name, column_type, types)))
    return None


def _why_not_a_dimension(name: str, column_type: str | None, types: dict[str, str]) -> str:
    if column_type is None:
        hint = next((c for c in types if c.lower() == name.lower()), None)
        suffix = f"; did you mean {hint!r}?" if hint else ""
        return f"unknown dimension {name!r}: not a column of {FOCUS_TABLE} nor tag:KEY{suffix}"
    if column_type.startswith("DECIMAL"):
        return f"{name!r} is a metric, not a dimension"
    if column_type == "JSON":
        advice = "; use tag:KEY for a tag" if name == TAGS_COLUMN else ""
        return f"{name!r} is a JSON column and cannot be a dimension{advice}"
    return f"{name!r} ({column_type}) cannot be a dimension"


def _filter(
    spec: DimensionFilter, index: int, types: dict[str, str], violations: list[FieldViolation]
) -> Filter | None:
    dimension = _resolve(spec.dimension, types, f"filters[{index}].dimension", violations)
    values = tuple(sorted(set(spec.values)))
    field = f"filters[{index}].values"
    if not values:
        violations.append(FieldViolation(field, "needs at least one value"))
        return None
    if dimension is None:
        return None
    for value in values:
        if value and not _valid_value(value, dimension.kind):
            violations.append(FieldViolation(field, f"{value!r} is not a valid {dimension.kind.value} value"))
            return None
    return Filter(dimension, values)


def _valid_value(value: str, kind: DimensionKind) -> bool:
    try:
        if kind is DimensionKind.TIMESTAMP:
            parse_instant(value)
        elif kind is DimensionKind.DATE:
            return _is_iso_date(value)
    except (ValueError, OverflowError):  # "9999-12-31T23:00:00-05:00" overflows on the way to UTC
        return False
    return True
