"""The overview's numbers: a period and filters in, tables out, each computed from QueryCosts answers.

Amounts stay exact decimals until they are shown (rounded to the cent) or written to CSV (exact);
currencies are never added together: every table keeps BillingCurrency as a column.
"""

from __future__ import annotations

import asyncio
import calendar
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from cloudact_http.dashboard.backend import BILLED, EARLIEST, EFFECTIVE, LATEST, Backend, CostQuery, CostRow
from cloudact_shared.errors import FieldViolation, InvalidArgument
from cloudact_shared.gen.cloudact.query.v1 import query_service_pb2 as query_pb

PROVIDER = "x_source_provider"
CURRENCY = "BillingCurrency"
CATEGORY = "ServiceCategory"
SERVICE = "ServiceName"
ACCOUNT = "BillingAccountId"
REGION = "RegionId"
FILTER_PARAMETERS = {"provider": PROVIDER, "account": ACCOUNT, "service": SERVICE, "region": REGION}
"""Query parameter -> the FOCUS column it filters on (plus ``tag``: ``KEY=VALUE`` on ``tag:KEY``)."""
DEFAULT_MONTHS = 3
TOP_SERVICES = 10
TOP_MOVERS = 10
CENT = Decimal("0.01")


def cents(amount: Decimal) -> str:
    """An amount as people read it: rounded half-up to the cent, thousands separated."""
    return f"{amount.quantize(CENT, rounding=ROUND_HALF_UP):,}"


@dataclass(frozen=True)
class Selection:
    """What the overview shows: the period (inclusive) and the filters (parameter -> value)."""

    start: date
    end: date
    filters: dict[str, str] = field(default_factory=dict)
    explicit_period: bool = False

    @property
    def previous(self) -> tuple[date, date]:
        """The period of the same length just before this one."""
        end = self.start - timedelta(days=1)
        return end - (self.end - self.start), end

    def cost_filters(self) -> dict[str, tuple[str, ...]]:
        """The filters as QueryCosts dimension filters."""
        filters: dict[str, tuple[str, ...]] = {
            FILTER_PARAMETERS[k]: (v,) for k, v in self.filters.items() if k in FILTER_PARAMETERS
        }
        tag = self.filters.get("tag")
        if tag:
            key, _, value = tag.partition("=")
            filters[f"tag:{key.strip()}"] = (value.strip(),)
        return filters

    def query(self) -> dict[str, str]:
        """The selection as query parameters (the CSV links repeat them)."""
        params = {"start": self.start.isoformat(), "end": self.end.isoformat()}
        params.update({k: v for k, v in sorted(self.filters.items()) if v})
        return params


def parse_selection(params: Mapping[str, str]) -> tuple[date | None, date | None, dict[str, str]]:
    """The period and filters of a request's query parameters (dates may be missing).

    Raises:
        InvalidArgument: a date that is not YYYY-MM-DD, an end before the start, a tag without ``=``.
    """
    violations: list[FieldViolation] = []
    dates: dict[str, date | None] = {}
    for name in ("start", "end"):
        text = params.get(name, "").strip()
        dates[name] = None
        if text:
            try:
                dates[name] = date.fromisoformat(text)
            except ValueError:
                violations.append(FieldViolation(name, "is not a date (YYYY-MM-DD)"))
            else:
                if not EARLIEST <= dates[name] <= LATEST:  # type: ignore[operator]
                    violations.append(FieldViolation(name, "must lie in 2000..2100"))
    start, end = dates["start"], dates["end"]
    if start is not None and end is not None and end < start:
        violations.append(FieldViolation("end", "is before the start"))
    filters = {k: params[k].strip() for k in (*FILTER_PARAMETERS, "tag") if params.get(k, "").strip()}
    if "tag" in filters and not filters["tag"].partition("=")[0].strip():
        violations.append(FieldViolation("tag", "is KEY=VALUE"))
    if violations:
        raise InvalidArgument("the period or a filter is not valid", violations=violations)
    return start, end, filters


async def resolve_selection(backend: Backend, params: Mapping[str, str]) -> Selection:
    """The request's selection; a missing period becomes the last months that hold data."""
    start, end, filters = parse_selection(params)
    if start is not None and end is not None:
        return Selection(start, end, filters, explicit_period=True)
    months = await backend.query_costs(CostQuery(EARLIEST, LATEST, grain=query_pb.TIME_GRAIN_MONTH))
    with_data = sorted({date.fromisoformat(r.period_start) for r in months if r.period_start})
    if with_data:
        first, last = with_data[-DEFAULT_MONTHS:][0], with_data[-1]
    else:
        today = datetime.now(UTC).date()
        last = today.replace(day=1)
        index = last.year * 12 + last.month - DEFAULT_MONTHS
        first = date(index // 12, index % 12 + 1, 1)
    month_end = last.replace(day=calendar.monthrange(last.year, last.month)[1])
    return Selection(start or first, end or month_end, filters)


@dataclass(frozen=True)
class Table:
    """A table of the overview: column titles and rows of cells (text or exact amounts)."""

    name: str
    title: str
    columns: tuple[str, ...]
    rows: Sequence[tuple[str | Decimal, ...]]


@dataclass(frozen=True)
class Overview:
    """Everything the overview page shows for one selection."""

    selection: Selection
    tables: dict[str, Table]
    charts: dict[str, dict[str, object]]
    options: dict[str, list[str]]


TABLE_NAMES = ("totals", "providers_by_month", "categories_by_month", "services", "movers")


async def build_overview(backend: Backend, selection: Selection) -> Overview:
    """Runs the overview's QueryCosts calls together and shapes their answers into tables and charts."""
    filters = selection.cost_filters()
    start, end = selection.start, selection.end
    previous_start, previous_end = selection.previous
    month = query_pb.TIME_GRAIN_MONTH
    calls = {
        "totals": CostQuery(start, end, [PROVIDER], filters=filters),
        "by_provider": CostQuery(start, end, [PROVIDER], grain=month, filters=filters),
        "by_category": CostQuery(start, end, [CATEGORY], grain=month, filters=filters),
        "services": CostQuery(start, end, [SERVICE], filters=filters),
        "previous_services": CostQuery(previous_start, previous_end, [SERVICE], filters=filters),
        # The filters' choices come from the whole period, unfiltered, so a filter can be changed.
        "options": CostQuery(start, end, [PROVIDER, ACCOUNT, SERVICE, REGION]),
    }
    answers = dict(zip(calls, await asyncio.gather(*(backend.query_costs(q) for q in calls.values())), strict=True))
    tables = {
        "totals": _totals(answers["totals"]),
        "providers_by_month": _by_month(
            "providers_by_month", "By month and provider", PROVIDER, answers["by_provider"]
        ),
        "categories_by_month": _by_month(
            "categories_by_month", "By month and service category", CATEGORY, answers["by_category"]
        ),
        "services": _services(answers["services"]),
        "movers": _movers(answers["services"], answers["previous_services"]),
    }
    charts = {
        "providers": _chart(answers["by_provider"], PROVIDER),
        "categories": _chart(answers["by_category"], CATEGORY),
    }
    options = {
        parameter: sorted({r.dimensions.get(column, "") for r in answers["options"]} - {""})
        for parameter, column in FILTER_PARAMETERS.items()
    }
    return Overview(selection, tables, charts, options)


def _amounts(row: CostRow) -> tuple[Decimal, Decimal]:
    return row.amounts.get(BILLED, Decimal(0)), row.amounts.get(EFFECTIVE, Decimal(0))


def _totals(rows: list[CostRow]) -> Table:
    by_provider = sorted(rows, key=lambda r: (r.dimensions.get(CURRENCY, ""), r.dimensions.get(PROVIDER, "")))
    out: list[tuple[str | Decimal, ...]] = [
        (r.dimensions.get(PROVIDER, ""), r.dimensions.get(CURRENCY, ""), *_amounts(r)) for r in by_provider
    ]
    sums: dict[str, list[Decimal]] = defaultdict(lambda: [Decimal(0), Decimal(0)])
    for row in rows:
        billed, effective = _amounts(row)
        total = sums[row.dimensions.get(CURRENCY, "")]
        total[0] += billed
        total[1] += effective
    out += [("All providers", currency, billed, effective) for currency, (billed, effective) in sorted(sums.items())]
    return Table("totals", "Totals", ("Provider", "Currency", "BilledCost", "EffectiveCost"), out)


def _by_month(name: str, title: str, dimension: str, rows: list[CostRow]) -> Table:
    ordered = sorted(
        rows, key=lambda r: (r.period_start, r.dimensions.get(CURRENCY, ""), r.dimensions.get(dimension, ""))
    )
    return Table(
        name,
        title,
        ("Month", dimension, "Currency", "BilledCost", "EffectiveCost"),
        [
            (r.period_start[:7], r.dimensions.get(dimension, ""), r.dimensions.get(CURRENCY, ""), *_amounts(r))
            for r in ordered
        ],
    )


def _services(rows: list[CostRow]) -> Table:
    ordered = sorted(
        rows, key=lambda r: (r.dimensions.get(CURRENCY, ""), -_amounts(r)[1], r.dimensions.get(SERVICE, ""))
    )
    per_currency: dict[str, int] = defaultdict(int)
    kept = []
    for row in ordered:
        currency = row.dimensions.get(CURRENCY, "")
        per_currency[currency] += 1
        if per_currency[currency] <= TOP_SERVICES:
            kept.append((row.dimensions.get(SERVICE, ""), currency, *_amounts(row)))
    return Table("services", "Top services", ("ServiceName", "Currency", "BilledCost", "EffectiveCost"), kept)


def _movers(current: list[CostRow], previous: list[CostRow]) -> Table:
    def keyed(rows: list[CostRow]) -> dict[tuple[str, str], Decimal]:
        return {(r.dimensions.get(SERVICE, ""), r.dimensions.get(CURRENCY, "")): _amounts(r)[1] for r in rows}

    now, before = keyed(current), keyed(previous)
    changes = [(key, now.get(key, Decimal(0)), before.get(key, Decimal(0))) for key in now.keys() | before.keys()]
    changes.sort(key=lambda c: (-abs(c[1] - c[2]), c[0]))
    rows: list[tuple[str | Decimal, ...]] = [
        (service, currency, was, is_, is_ - was) for (service, currency), is_, was in changes[:TOP_MOVERS] if is_ != was
    ]
    return Table(
        "movers",
        "Biggest movers (EffectiveCost against the previous period)",
        ("ServiceName", "Currency", "Previous", "Current", "Change"),
        rows,
    )


def _chart(rows: list[CostRow], dimension: str) -> dict[str, object]:
    """A stacked chart's data per currency: months on x, one series of EffectiveCost per value."""
    charts: dict[str, object] = {}
    for currency in sorted({r.dimensions.get(CURRENCY, "") for r in rows}):
        mine = [r for r in rows if r.dimensions.get(CURRENCY, "") == currency]
        months = sorted({r.period_start[:7] for r in mine})
        series: dict[str, list[float]] = {}
        for row in mine:
            values = series.setdefault(row.dimensions.get(dimension, "") or "(none)", [0.0] * len(months))
            # Charts draw floats; the exact amounts are in the tables and CSV.
            values[months.index(row.period_start[:7])] += float(_amounts(row)[1])
        charts[currency] = {"months": months, "series": [{"name": k, "data": v} for k, v in sorted(series.items())]}
    return charts
