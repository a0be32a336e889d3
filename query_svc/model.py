"""The domain values of a cost query: what a caller asks and what it gets back."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass


class Metric(enum.Enum):
    """A FOCUS cost column that can be summed; the value is the column name."""

    BILLED_COST = "BilledCost"
    EFFECTIVE_COST = "EffectiveCost"
    LIST_COST = "ListCost"
    CONTRACTED_COST = "ContractedCost"

    @property
    def column(self) -> str:
        """The FOCUS column this metric sums."""
        return self.value


DEFAULT_METRICS = (Metric.BILLED_COST, Metric.EFFECTIVE_COST)
"""What a query sums when it names no metric."""


class Grain(enum.Enum):
    """How ChargePeriodStart (UTC) is bucketed."""

    DAY = "day"
    MONTH = "month"
    TOTAL = "total"
    """One bucket for the whole date range."""


class AnswerSource(enum.Enum):
    """What an answer was computed from."""

    DAILY_ROLLUP = "daily_rollup"
    """The daily rollup of the FOCUS table (same answer, a fraction of the rows to read)."""
    FOCUS_TABLE = "focus_table"
    """The FOCUS table itself: the query needs a column the rollup does not keep."""


@dataclass(frozen=True)
class DimensionFilter:
    """Keeps rows whose dimension equals one of ``values`` ("" matches null)."""

    dimension: str
    values: tuple[str, ...]


@dataclass(frozen=True)
class CostQuery:
    """A request as the caller wrote it; ``plan_query`` validates and normalises it."""

    org_slug: str
    start_date: str
    """Inclusive first day (YYYY-MM-DD) of ChargePeriodStart, UTC."""
    end_date: str
    """Inclusive last day (YYYY-MM-DD) of ChargePeriodStart, UTC."""
    metrics: tuple[Metric, ...] = ()
    """Empty means ``DEFAULT_METRICS``."""
    group_by: tuple[str, ...] = ()
    """FOCUS dimension columns or ``tag:KEY``; BillingCurrency is always added."""
    grain: Grain = Grain.DAY
    filters: tuple[DimensionFilter, ...] = ()


@dataclass(frozen=True)
class CostRow:
    """One bucket: its period, its dimension values ("" for null) and its exact sums."""

    period_start: str
    """YYYY-MM-DD start of the bucket; "" for ``Grain.TOTAL``."""
    dimensions: Mapping[str, str]
    amounts: Mapping[str, str]
    """Metric column name -> exact decimal string."""


@dataclass(frozen=True)
class CostResult:
    """The answer to a query and where it came from."""

    rows: tuple[CostRow, ...]
    table_version: int
    """Version of the FOCUS table the rows were computed from."""
    rows_scanned: int
    """FOCUS rows that matched the date range and filters (the same number from either source:
    a rollup row counts the FOCUS rows it sums)."""
    source: AnswerSource = AnswerSource.FOCUS_TABLE
    fallback_reason: str = ""
    """Why the FOCUS table was read instead of the rollup ("" when the rollup answered)."""
    cache_hit: bool = False
