"""Synthetic OpenAI bills: an organization's daily usage and costs, for the loopback API, the demo, samples
and benchmarks.

:func:`bills` generates a month of one organization's usage, deterministically: per day and project,
token counts per model (uncached input, cached input, output), text-to-speech characters and web
search calls, each priced at a fixed list price, so every cost is exactly ``quantity x price``.
From those bills :func:`costs_results` and :func:`usage_results` answer as the organization Costs and
Usage endpoints do for a daily bucket and a ``group_by`` (the loopback server serves them), and
:func:`generate` writes the connector's JSON-lines file straight from them (``cloudact convert``,
benchmarks, the conformance samples).

As older answers of the Costs endpoint do, the cost results of one model (``o3-mini``) carry no
quantity: their token counts come from the Usage endpoint, joined by the mapping.
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

from cloudact_providers.apirows import JsonLinesFile, write_copies
from cloudact_providers.openai.formats import COSTS, line

MONTH = date(2026, 11, 1)
"""The month the demo and the samples hold (whole, 30 UTC days)."""
ORGANIZATION_ID = "org-CloudActDemo42"
ORGANIZATION_NAME = "CloudAct Demo Org"
_MILLION = Decimal(1_000_000)


@dataclass(frozen=True)
class Model:
    """A model and its list prices in USD per million tokens, by line-item token type."""

    name: str
    usage_kind: str
    """The Usage endpoint that counts its tokens."""
    prices: Mapping[str, Decimal]
    quantity_in_costs: bool = True
    """Whether the Costs endpoint states the tokens of its line items (older answers do not)."""


MODELS = (
    Model(
        "gpt-4o-2024-08-06",
        "completions",
        {"input": Decimal("2.50"), "cached input": Decimal("1.25"), "output": Decimal("10.00")},
    ),
    Model(
        "gpt-4o-mini-2024-07-18",
        "completions",
        {"input": Decimal("0.15"), "cached input": Decimal("0.075"), "output": Decimal("0.60")},
    ),
    Model(
        "o3-mini-2025-01-31",
        "completions",
        {"input": Decimal("1.10"), "cached input": Decimal("0.55"), "output": Decimal("4.40")},
        quantity_in_costs=False,
    ),
    Model("text-embedding-3-small", "embeddings", {"input": Decimal("0.02")}),
)
TTS_PRICE = Decimal("15.00")
"""tts-1, USD per million characters."""
WEB_SEARCH_PRICE = Decimal("0.01")
"""USD per web search call (no quantity unit in the Costs answer: not priced per unit in FOCUS)."""


@dataclass(frozen=True)
class Charge:
    """One cost line of a day and project: what the Costs endpoint sums by line item."""

    day: date
    project_id: str | None
    line_item: str
    amount: Decimal
    quantity: Decimal | None
    quantity_unit: str | None


@dataclass(frozen=True)
class Usage:
    """One day's usage of a model in a project: what a Usage endpoint sums."""

    day: date
    project_id: str | None
    kind: str
    model: str
    input_tokens: int
    input_cached_tokens: int
    output_tokens: int
    num_model_requests: int


@dataclass(frozen=True)
class Bills:
    """An organization's charges and usage for some days."""

    days: tuple[date, ...]
    charges: tuple[Charge, ...]
    usage: tuple[Usage, ...]

    @property
    def months(self) -> tuple[date, ...]:
        return tuple(sorted({d.replace(day=1) for d in self.days}))


def project_ids(count: int) -> list[str]:
    """``count`` project ids: three named ones, then numbered ones (benchmarks ask for many)."""
    named = ["proj_ResearchLab", "proj_SupportBot", "proj_DataPlatform"]
    return named[:count] + [f"proj_Generated{i:05d}" for i in range(len(named), count)]


def bills(month: date = MONTH, *, projects: int = 3, seed: int = 7) -> Bills:
    """A whole month of usage and its costs, the same for the same arguments."""
    days = tuple(month + timedelta(days=i) for i in range(calendar.monthrange(month.year, month.month)[1]))
    rng = random.Random(f"{seed}:{month:%Y-%m}:{projects}")
    charges: list[Charge] = []
    usage: list[Usage] = []
    for day in days:
        for index, project in enumerate(project_ids(projects)):
            # Each project uses a rotating pair of models, and the embeddings model every day.
            used = [MODELS[index % 3], MODELS[(index + 1) % 3], MODELS[3]]
            for model in used:
                used_usage = _usage(rng, day, project, model)
                usage.append(used_usage)
                charges += _token_charges(used_usage, model)
            characters = Decimal(rng.randint(20_000, 400_000))
            charges.append(
                Charge(day, project, "tts-1, characters", characters * TTS_PRICE / _MILLION, characters, "characters")
            )
            calls = rng.randint(5, 300)
            charges.append(
                Charge(day, project, "web search tool calls", calls * WEB_SEARCH_PRICE, Decimal(calls), None)
            )
    return Bills(days, tuple(charges), tuple(usage))


def _usage(rng: random.Random, day: date, project: str, model: Model) -> Usage:
    uncached = rng.randint(20_000, 2_000_000)
    cached = rng.randint(0, uncached // 2) if "cached input" in model.prices else 0
    output = rng.randint(5_000, 500_000) if "output" in model.prices else 0
    return Usage(day, project, model.usage_kind, model.name, uncached + cached, cached, output, rng.randint(10, 2_000))


def _token_charges(used: Usage, model: Model) -> list[Charge]:
    tokens = {
        "input": used.input_tokens - used.input_cached_tokens,
        "cached input": used.input_cached_tokens,
        "output": used.output_tokens,
    }
    charges = []
    for token_type, price in model.prices.items():
        count = Decimal(tokens[token_type])
        quantity, unit = (count, "tokens") if model.quantity_in_costs else (None, None)
        amount = (count * price / _MILLION).normalize()
        charges.append(Charge(used.day, used.project_id, f"{model.name}, {token_type}", amount, quantity, unit))
    return charges


def _group_key(values: Mapping[str, object], group_by: Sequence[str]) -> tuple[object, ...]:
    return tuple(values[name] for name in group_by)


def costs_results(charges: Iterable[Charge], group_by: Sequence[str]) -> list[dict[str, object]]:
    """The Costs endpoint's results for ``charges`` (one bucket) grouped by ``group_by`` (project_id,
    line_item): one result per group, amounts summed exactly; the quantity only when grouped by line item
    and every charge of the group states it."""
    groups: dict[tuple[object, ...], list[Charge]] = defaultdict(list)
    for charge in charges:
        groups[_group_key({"project_id": charge.project_id, "line_item": charge.line_item}, group_by)].append(charge)
    results: list[dict[str, object]] = []
    for key, members in groups.items():
        grouped = dict(zip(group_by, key, strict=True))
        quantities = [m.quantity for m in members]
        by_line_item = "line_item" in group_by and None not in quantities
        results.append(
            {
                "object": "organization.costs.result",
                "amount": {"value": sum((m.amount for m in members), Decimal(0)).normalize(), "currency": "usd"},
                "line_item": grouped.get("line_item"),
                "project_id": grouped.get("project_id"),
                "quantity": sum(q for q in quantities if q is not None) if by_line_item else None,
                "quantity_unit": members[0].quantity_unit if by_line_item else None,
            }
        )
    return results


def usage_results(usage: Iterable[Usage], kind: str, group_by: Sequence[str]) -> list[dict[str, object]]:
    """A Usage endpoint's (``kind``: completions, embeddings) results for ``usage`` (one bucket) grouped by
    ``group_by`` (project_id, model)."""
    groups: dict[tuple[object, ...], list[Usage]] = defaultdict(list)
    for used in usage:
        if used.kind == kind:
            groups[_group_key({"project_id": used.project_id, "model": used.model}, group_by)].append(used)
    results: list[dict[str, object]] = []
    for key, members in groups.items():
        grouped = dict(zip(group_by, key, strict=True))
        result: dict[str, object] = {
            "object": f"organization.usage.{kind}.result",
            "input_tokens": sum(m.input_tokens for m in members),
            "num_model_requests": sum(m.num_model_requests for m in members),
            "project_id": grouped.get("project_id"),
            "model": grouped.get("model"),
        }
        if kind == "completions":
            cached = sum(m.input_cached_tokens for m in members)
            result |= {
                "output_tokens": sum(m.output_tokens for m in members),
                "input_cached_tokens": cached,
                "input_uncached_tokens": sum(m.input_tokens for m in members) - cached,
            }
        results.append(result)
    return results


COST_GROUPS = ("project_id", "line_item")
USAGE_GROUPS = ("project_id", "model")
"""What the connector groups by: the Costs endpoint by project and line item (model, token type), the
Usage endpoints by project and model, the keys the mapping joins them on."""


def bucket(day: date) -> tuple[int, int]:
    """A daily bucket's start_time and end_time (Unix seconds, UTC)."""
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    return int(start.timestamp()), int((start + timedelta(days=1)).timestamp())


def write_reads(path: Path, generated: Bills, organization_id: str = ORGANIZATION_ID) -> Path:
    """Writes what the connector downloads for ``generated`` (every day's costs, then usage) to ``path``."""
    by_day_charges: dict[date, list[Charge]] = defaultdict(list)
    by_day_usage: dict[date, list[Usage]] = defaultdict(list)
    for charge in generated.charges:
        by_day_charges[charge.day].append(charge)
    for used in generated.usage:
        by_day_usage[used.day].append(used)
    path.parent.mkdir(parents=True, exist_ok=True)
    with JsonLinesFile(path) as out:
        for day in generated.days:
            start, end = bucket(day)
            results = costs_results(by_day_charges[day], COST_GROUPS)
            out.write(line(COSTS, organization_id, ORGANIZATION_NAME, start, end, r) for r in results)
        for kind in ("completions", "embeddings"):
            for day in generated.days:
                start, end = bucket(day)
                results = usage_results(by_day_usage[day], kind, USAGE_GROUPS)
                out.write(line(kind, organization_id, ORGANIZATION_NAME, start, end, r) for r in results)
    return path


def generate(directory: Path, rows: int) -> Path:
    """The registered generator: at least ``rows`` cost results (FOCUS rows), as copies of the month's
    reads (:func:`bills`), each copy's projects renamed (``-c<copy>``, in its cost and usage rows alike,
    so the joins hold); the file is kept when it exists (same arguments, same bytes)."""
    if rows < 1:
        raise ValueError("rows must be at least 1")
    path = directory / f"openai-reads-{MONTH:%Y%m}-{rows}.jsonl"
    if path.exists():
        return path
    tmp = path.with_name(path.name + ".tmp")
    seed = write_reads(directory / f"openai-reads-{MONTH:%Y%m}.seed.jsonl", bills(MONTH))
    write_copies(seed, tmp, rows=rows, counted=lambda record: record.get("record_type") == COSTS, key="project_id")
    seed.unlink()
    tmp.replace(path)
    return path


def month_sample(directory: Path) -> list[Path]:
    """The conformance sample: a month of three projects (``Sample(make=...)``)."""
    return [write_reads(directory / f"openai-reads-{MONTH:%Y%m}.jsonl", bills(MONTH))]
