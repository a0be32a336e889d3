"""Synthetic Anthropic bills: an organization's daily usage and costs, for the loopback API, the demo,
samples and benchmarks.

:func:`bills` generates a month of one organization's Claude API usage, deterministically: per day,
workspace and usage scope (model, service tier, context window, inference geo), token counts of the
five token types and web searches, and per workspace a day's code execution. Costs are in fractional
cents, exactly ``tokens x list price per million x 100 / 1,000,000`` with the tier's rules (batch half
price, long context 2x input and 1.5x output, US-only inference 1.1x), ``list_amount`` before and
``amount`` after the organization's 10% discount on Opus. :func:`analytics_cost`,
:func:`analytics_usage`, :func:`legacy_cost` and :func:`legacy_usage` answer as the reports do for a
``group_by``; :func:`write_reads` writes the connector's JSON-lines file from them.
"""

from __future__ import annotations

import calendar
import random
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from cloudact_providers.anthropic.formats import ANALYTICS, COST, LEGACY, USAGE, analytics_row, legacy_row, line
from cloudact_providers.apirows import JsonLinesFile, write_copies

MONTH = date(2026, 11, 1)
"""The month the demo and the samples hold (whole, 30 UTC days)."""
ORGANIZATION_ID = "5c0d3f8e-2b1a-4c6d-9e7f-0a1b2c3d4e5f"
ORGANIZATION_NAME = "CloudAct Demo Org"

TOKEN_TYPES = (
    "uncached_input_tokens",
    "cache_read_input_tokens",
    "cache_creation.ephemeral_5m_input_tokens",
    "cache_creation.ephemeral_1h_input_tokens",
    "output_tokens",
)
_TOKEN_NAMES = {
    "uncached_input_tokens": "Input Tokens",
    "cache_read_input_tokens": "Input Tokens, Cache Hit",
    "cache_creation.ephemeral_5m_input_tokens": "Input Tokens, Cache Write 5m",
    "cache_creation.ephemeral_1h_input_tokens": "Input Tokens, Cache Write 1h",
    "output_tokens": "Output Tokens",
}
SCOPE_FIELDS = ("workspace_id", "model", "service_tier", "context_window", "inference_geo")
_CENTS_PER_MILLION = Decimal("0.0001")
"""USD per million tokens -> cents per token: x 100 / 1,000,000."""
WEB_SEARCH_CENTS = Decimal(1)
"""$10 per 1,000 searches."""
CODE_EXECUTION_CENTS_PER_HOUR = Decimal(5)


@dataclass(frozen=True)
class Model:
    name: str
    display: str
    prices: Mapping[str, Decimal]
    """USD per million tokens, by token type."""
    discount: Decimal = Decimal(0)
    """The organization's negotiated discount on the model (0.10: 10%)."""


def _prices(uncached: str, output: str, read: str, write_5m: str, write_1h: str) -> dict[str, Decimal]:
    return dict(zip(TOKEN_TYPES, map(Decimal, (uncached, read, write_5m, write_1h, output)), strict=True))


MODELS = {
    "claude-sonnet-4-5": Model("claude-sonnet-4-5", "Claude Sonnet 4.5", _prices("3", "15", "0.30", "3.75", "6")),
    "claude-haiku-4-5": Model("claude-haiku-4-5", "Claude Haiku 4.5", _prices("1", "5", "0.10", "1.25", "2")),
    "claude-opus-4-1": Model(
        "claude-opus-4-1", "Claude Opus 4.1", _prices("15", "75", "1.50", "18.75", "30"), discount=Decimal("0.10")
    ),
}


@dataclass(frozen=True)
class Scope:
    """What one usage or cost row is about: the dimensions the connector groups by."""

    workspace_id: str | None
    model: str | None
    service_tier: str | None
    context_window: str | None
    inference_geo: str | None

    def values(self) -> dict[str, str | None]:
        return {name: getattr(self, name) for name in SCOPE_FIELDS}


# The usage scopes of each kind of workspace: (model, service tier, context window, inference geo).
_SETUPS = (
    (("claude-sonnet-4-5", "standard", "0-200k", "global"), ("claude-opus-4-1", "standard", "0-200k", "us")),
    (("claude-haiku-4-5", "standard", "0-200k", "global"), ("claude-haiku-4-5", "batch", "0-200k", "global")),
    (("claude-sonnet-4-5", "standard", "200k-1M", "global"), ("claude-haiku-4-5", "batch", "0-200k", "global")),
)


@dataclass(frozen=True)
class Usage:
    day: date
    scope: Scope
    tokens: Mapping[str, int]
    web_search_requests: int
    requests: int


@dataclass(frozen=True)
class Charge:
    day: date
    scope: Scope
    cost_type: str
    token_type: str | None
    amount: Decimal
    """Cents, after the discount."""
    list_amount: Decimal
    """Cents, before it."""
    description: str


@dataclass(frozen=True)
class Bills:
    days: tuple[date, ...]
    charges: tuple[Charge, ...]
    usage: tuple[Usage, ...]

    @property
    def months(self) -> tuple[date, ...]:
        return tuple(sorted({d.replace(day=1) for d in self.days}))


def workspace_ids(count: int) -> list[str]:
    named = ["wrkspc_01ResearchLab", "wrkspc_01SupportBot", "wrkspc_01DataPlatform"]
    return named[:count] + [f"wrkspc_Generated{i:05d}" for i in range(len(named), count)]


def list_price(scope: Scope, token_type: str) -> Decimal:
    """The list price in USD per million tokens of ``token_type`` in ``scope`` (model, tier, context, geo)."""
    return MODELS[str(scope.model)].prices[token_type] * _multiplier(scope, token_type)


def _multiplier(scope: Scope, token_type: str) -> Decimal:
    factor = Decimal(1)
    if scope.service_tier == "batch":
        factor *= Decimal("0.5")
    if scope.context_window == "200k-1M":
        factor *= Decimal("1.5") if token_type == "output_tokens" else Decimal(2)
    if scope.inference_geo == "us":
        factor *= Decimal("1.1")
    return factor


def bills(month: date = MONTH, *, workspaces: int = 3, seed: int = 11) -> Bills:
    """A whole month of usage and its costs, the same for the same arguments."""
    days = tuple(month + timedelta(days=i) for i in range(calendar.monthrange(month.year, month.month)[1]))
    rng = random.Random(f"{seed}:{month:%Y-%m}:{workspaces}")
    charges: list[Charge] = []
    usage: list[Usage] = []
    for day in days:
        for index, workspace in enumerate(workspace_ids(workspaces)):
            for model_name, tier, window, geo in _SETUPS[index % len(_SETUPS)]:
                scope = Scope(workspace, model_name, tier, window, geo)
                used = _usage(rng, day, scope)
                usage.append(used)
                charges += _charges(used, MODELS[model_name])
            hours = rng.randint(1, 12)
            cents = hours * CODE_EXECUTION_CENTS_PER_HOUR
            charges.append(
                Charge(
                    day,
                    Scope(workspace, None, None, None, None),
                    "code_execution",
                    None,
                    cents,
                    cents,
                    "Code Execution Usage",
                )
            )
    return Bills(days, tuple(charges), tuple(usage))


def _usage(rng: random.Random, day: date, scope: Scope) -> Usage:
    tokens = {
        "uncached_input_tokens": rng.randint(50_000, 3_000_000),
        "cache_read_input_tokens": rng.randint(0, 2_000_000),
        "cache_creation.ephemeral_5m_input_tokens": rng.randint(0, 300_000),
        "cache_creation.ephemeral_1h_input_tokens": rng.randint(0, 100_000),
        "output_tokens": rng.randint(10_000, 600_000),
    }
    searches = rng.randint(0, 40) if scope.service_tier == "standard" else 0
    return Usage(day, scope, tokens, searches, rng.randint(20, 3_000))


def _charges(used: Usage, model: Model) -> list[Charge]:
    charges = []
    for token_type in TOKEN_TYPES:
        list_cents = used.tokens[token_type] * list_price(used.scope, token_type) * _CENTS_PER_MILLION
        amount = list_cents * (1 - model.discount)
        description = f"{model.display} Usage - {_TOKEN_NAMES[token_type]}"
        charges.append(
            Charge(used.day, used.scope, "tokens", token_type, amount.normalize(), list_cents.normalize(), description)
        )
    if used.web_search_requests:
        cents = used.web_search_requests * WEB_SEARCH_CENTS
        charges.append(Charge(used.day, used.scope, "web_search", None, cents, cents, "Web Search Usage"))
    return charges


def iso(moment: datetime) -> str:
    """RFC 3339 in UTC, as Anthropic writes times (``2026-11-01T00:00:00Z``)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def _cents(value: Decimal) -> str:
    return format(value.normalize(), "f")


def _grouped(scope: Scope, group_by: Sequence[str]) -> dict[str, str | None]:
    return {name: value for name, value in scope.values().items() if name in group_by}


def analytics_cost(
    charges: Iterable[Charge], group_by: Sequence[str], *, bucket: tuple[datetime, datetime]
) -> list[dict[str, object]]:
    """The Analytics cost report's items for ``charges`` in one bucket, grouped by ``group_by`` (scope
    fields, ``cost_type``, ``token_type``): amounts summed exactly, as decimal strings of cents; the
    request count null when grouped by cost or token type, as Anthropic documents."""
    sums: dict[tuple[object, ...], list[Decimal]] = defaultdict(lambda: [Decimal(0), Decimal(0)])
    groups: dict[tuple[object, ...], dict[str, str | None]] = {}
    for charge in charges:
        group = _grouped(charge.scope, group_by)
        if "cost_type" in group_by:
            group["cost_type"] = charge.cost_type
        if "token_type" in group_by:
            group["token_type"] = charge.token_type
            group.setdefault("cost_type", charge.cost_type)  # a token type is a fan-out of cost type tokens
        key = tuple(sorted(group.items(), key=lambda kv: kv[0]))
        groups[key] = group
        sums[key][0] += charge.amount
        sums[key][1] += charge.list_amount
    start, end = bucket
    return [
        {
            "starting_at": iso(start),
            "ending_at": iso(end),
            "group": groups[key],
            "cost": {
                "amount": _cents(amount),
                "list_amount": _cents(list_amount),
                "currency": "USD",
                # Null when grouped by cost or token type (Anthropic's rule); the bills count requests in
                # the usage report only, so it is null here whatever the grouping.
                "requests": None,
            },
        }
        for key, (amount, list_amount) in sums.items()
    ]


def _usage_metrics(members: Sequence[Usage]) -> dict[str, object]:
    total = {t: sum(m.tokens[t] for m in members) for t in TOKEN_TYPES}
    return {
        "uncached_input_tokens": total["uncached_input_tokens"],
        "cache_creation": {
            "ephemeral_1h_input_tokens": total["cache_creation.ephemeral_1h_input_tokens"],
            "ephemeral_5m_input_tokens": total["cache_creation.ephemeral_5m_input_tokens"],
        },
        "cache_read_input_tokens": total["cache_read_input_tokens"],
        "output_tokens": total["output_tokens"],
        "server_tool_use": {"web_search_requests": sum(m.web_search_requests for m in members)},
    }


def _by_scope(usage: Iterable[Usage], group_by: Sequence[str]) -> dict[tuple[tuple[str, str | None], ...], list[Usage]]:
    groups: dict[tuple[tuple[str, str | None], ...], list[Usage]] = defaultdict(list)
    for used in usage:
        groups[tuple(_grouped(used.scope, group_by).items())].append(used)
    return groups


def analytics_usage(
    usage: Iterable[Usage], group_by: Sequence[str], *, bucket: tuple[datetime, datetime]
) -> list[dict[str, object]]:
    """The Analytics usage report's items for ``usage`` in one bucket, grouped by ``group_by``."""
    start, end = bucket
    items: list[dict[str, object]] = []
    for key, members in _by_scope(usage, group_by).items():
        metrics = _usage_metrics(members)
        total = sum(sum(m.tokens.values()) for m in members)
        metrics |= {"total_tokens": total, "requests": sum(m.requests for m in members)}
        items.append({"starting_at": iso(start), "ending_at": iso(end), "group": dict(key), "usage": metrics})
    return items


def legacy_cost(charges: Iterable[Charge], group_by: Sequence[str]) -> list[dict[str, object]]:
    """The legacy cost report's results for ``charges`` in one daily bucket, grouped by ``group_by``
    (workspace_id, description): the detail dimensions are set only when grouped by description."""
    sums: dict[tuple[object, ...], Decimal] = defaultdict(Decimal)
    details: dict[tuple[object, ...], dict[str, object]] = {}
    for charge in charges:
        detail: dict[str, object] = {"workspace_id": charge.scope.workspace_id if "workspace_id" in group_by else None}
        if "description" in group_by:
            detail |= {
                "description": charge.description,
                "cost_type": charge.cost_type,
                "token_type": charge.token_type,
                "model": charge.scope.model,
                "service_tier": charge.scope.service_tier,
                "context_window": charge.scope.context_window,
                "inference_geo": charge.scope.inference_geo,
            }
        key = tuple(detail.items())
        details[key] = detail
        sums[key] += charge.amount
    return [{"currency": "USD", "amount": _cents(amount), **details[key]} for key, amount in sums.items()]


def legacy_usage(usage: Iterable[Usage], group_by: Sequence[str]) -> list[dict[str, object]]:
    """The legacy usage report's (``usage_report/messages``) results in one bucket, grouped by ``group_by``."""
    results: list[dict[str, object]] = []
    for key, members in _by_scope(usage, group_by).items():
        grouped = dict(key)
        results.append(
            {**_usage_metrics(members), **{name: grouped.get(name) for name in (*SCOPE_FIELDS, "api_key_id")}}
        )
    return results


COST_GROUPS = (*SCOPE_FIELDS, "cost_type", "token_type")
"""The analytics cost report grouped by scope, cost type and token type: the FOCUS row's grain."""
USAGE_GROUPS = SCOPE_FIELDS
"""The usage reports grouped by scope: a cost row's token type is one of their metrics."""
LEGACY_COST_GROUPS = ("workspace_id", "description")
"""The legacy cost report's finest grouping: by description its rows name model, token type and tier."""


def write_reads(path: Path, generated: Bills, report_api: str = ANALYTICS) -> Path:
    """Writes what the connector downloads for ``generated`` from ``report_api`` (analytics, legacy):
    every day's cost rows, then usage rows."""
    charges: dict[date, list[Charge]] = defaultdict(list)
    usage: dict[date, list[Usage]] = defaultdict(list)
    for charge in generated.charges:
        charges[charge.day].append(charge)
    for used in generated.usage:
        usage[used.day].append(used)
    org = (ORGANIZATION_ID, ORGANIZATION_NAME)
    path.parent.mkdir(parents=True, exist_ok=True)
    with JsonLinesFile(path) as out:
        for record_type in (COST, USAGE):
            for day in generated.days:
                bucket = (midnight(day), midnight(day + timedelta(days=1)))
                if report_api == ANALYTICS:
                    items = (
                        analytics_cost(charges[day], COST_GROUPS, bucket=bucket)
                        if record_type == COST
                        else analytics_usage(usage[day], USAGE_GROUPS, bucket=bucket)
                    )
                    out.write(line(record_type, ANALYTICS, *org, analytics_row(item)) for item in items)
                else:
                    edges = {"starting_at": iso(bucket[0]), "ending_at": iso(bucket[1])}
                    results = (
                        legacy_cost(charges[day], LEGACY_COST_GROUPS)
                        if record_type == COST
                        else legacy_usage(usage[day], USAGE_GROUPS)
                    )
                    out.write(line(record_type, LEGACY, *org, legacy_row(edges, result)) for result in results)
    return path


def generate(directory: Path, rows: int) -> Path:
    """The registered generator: at least ``rows`` cost rows (FOCUS rows), as copies of the month's analytics
    reads (:func:`bills`), each copy's workspaces renamed (``-c<copy>``, in its cost and usage rows alike,
    so the joins hold); the file is kept when it exists (same arguments, same bytes)."""
    if rows < 1:
        raise ValueError("rows must be at least 1")
    path = directory / f"anthropic-reads-{MONTH:%Y%m}-{rows}.jsonl"
    if path.exists():
        return path
    tmp = path.with_name(path.name + ".tmp")
    seed = write_reads(directory / f"anthropic-reads-{MONTH:%Y%m}.seed.jsonl", bills(MONTH))
    write_copies(seed, tmp, rows=rows, counted=lambda record: record.get("record_type") == COST, key="workspace_id")
    seed.unlink()
    tmp.replace(path)
    return path


def analytics_sample(directory: Path) -> list[Path]:
    """Conformance sample: a month of three workspaces from the Usage and Cost Analytics API."""
    return [write_reads(directory / f"anthropic-analytics-{MONTH:%Y%m}.jsonl", bills(MONTH))]


def legacy_sample(directory: Path) -> list[Path]:
    """Conformance sample: the same month from the legacy cost and usage reports."""
    return [write_reads(directory / f"anthropic-legacy-{MONTH:%Y%m}.jsonl", bills(MONTH), LEGACY)]
