"""Anthropic's Admin API usage and cost reports on loopback, serving generated bills (tests, ``make demo``).

Answers as Anthropic documents them (platform.claude.com API reference, the anthropic SDK 2.x types):

- ``GET /v1/organizations/me``: the key's organization.
- The Usage and Cost Analytics API (beta; every request needs ``anthropic-beta:
  analytics-usage-cost-2026-08-24``): ``GET /v1/organizations/analytics/cost`` and ``.../usage`` with
  ``starting_at`` (RFC 3339, required), ``ending_at`` (exclusive; required with a bucket width; at most
  31 days after the start), ``time_bucket_width`` (1d served here), ``group_by[]``, ``order_by``,
  ``order``, ``limit`` (rows a page, 1-1000, default 20; the cost report's fan-out rows by cost type and
  token type do not count) and ``page``. Items are ``{starting_at, ending_at, group: {...}, cost:
  {amount, list_amount, currency, requests}}`` (amounts: decimal strings of cents) or ``usage: {...}``;
  without a bucket width one row covers the whole range. Pages are ``{data, has_more, next_page}``.
- The legacy reports: ``GET /v1/organizations/cost_report`` and ``.../usage_report/messages`` with
  ``starting_at``, ``ending_at``, ``bucket_width`` (1d), ``group_by[]``, ``limit`` (buckets a page: 1d
  default 7, max 31) and ``page``; pages of buckets ``{starting_at, ending_at, results: [...]}``.

Every request needs ``anthropic-version`` and the key, as ``x-api-key`` or a Bearer token (the SDK
sends the latter). Errors carry Anthropic's body ``{"type": "error", "error": {"type", "message"},
"request_id"}``; the analytics endpoints can be switched off (404), as for an organization or SDK
without them, and faults queued (``LoopbackApi.fail``: 429 / 5xx with Retry-After).
"""

from __future__ import annotations

import base64
import binascii
import re
import secrets
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from werkzeug.wrappers import Request, Response

from cloudact_providers.anthropic.synthetic import (
    MONTH,
    ORGANIZATION_ID,
    ORGANIZATION_NAME,
    SCOPE_FIELDS,
    Bills,
    Charge,
    Usage,
    analytics_cost,
    analytics_usage,
    bills,
    iso,
    legacy_cost,
    legacy_usage,
    midnight,
)
from cloudact_providers.connector import DemoAccount
from cloudact_providers.loopback import LoopbackApi, json_response, serving

ANALYTICS_BETA = "analytics-usage-cost-2026-08-24"
COST_GROUPS = (*SCOPE_FIELDS, "cost_type", "token_type", "api_key_id", "product", "speed", "actor", "actor_type")
USAGE_GROUPS = (*SCOPE_FIELDS, "api_key_id", "product", "speed", "actor", "actor_type")
LEGACY_COST_GROUPS = ("workspace_id", "description")
LEGACY_USAGE_GROUPS = (*SCOPE_FIELDS, "api_key_id", "service_account_id", "account_id", "speed")
_FANOUT = ("cost_type", "token_type")
_MAX_RANGE = timedelta(days=31)
_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    529: "overloaded_error",
}


def error_body(status: int, message: str) -> dict[str, Any]:
    """Anthropic's error body."""
    kind = _ERROR_TYPES.get(status, "api_error")
    return {"type": "error", "error": {"type": kind, "message": message}, "request_id": "req_loopback"}


@dataclass
class AnthropicBills:
    """What the server answers from: generated bills, plus rows served verbatim (a test's odd rows)."""

    bills: Bills
    api_key: str
    analytics: bool = True
    """Serve the Usage and Cost Analytics API (False: it answers 404, as where it is not available)."""
    extra_rows: dict[tuple[str, date], list[dict[str, Any]]] = field(default_factory=dict)
    """(report: analytics_cost, analytics_usage, cost_report, usage_report; day) -> items (analytics) or
    results (legacy) added to that day as they are."""
    _charges: dict[date, list[Charge]] = field(default_factory=dict, init=False)
    _usage: dict[date, list[Usage]] = field(default_factory=dict, init=False)

    def __post_init__(self) -> None:
        charges: dict[date, list[Charge]] = defaultdict(list)
        usage: dict[date, list[Usage]] = defaultdict(list)
        for charge in self.bills.charges:
            charges[charge.day].append(charge)
        for used in self.bills.usage:
            usage[used.day].append(used)
        self._charges, self._usage = dict(charges), dict(usage)

    def charges(self, start: datetime, end: datetime) -> list[Charge]:
        return [c for day, found in self._charges.items() if start <= midnight(day) < end for c in found]

    def usage(self, start: datetime, end: datetime) -> list[Usage]:
        return [u for day, found in self._usage.items() if start <= midnight(day) < end for u in found]

    def extra(self, report: str, start: datetime, end: datetime) -> list[dict[str, Any]]:
        return [
            r
            for (name, day), rows in self.extra_rows.items()
            if name == report and start <= midnight(day) < end
            for r in rows
        ]


class _BadRequest(Exception):
    pass


def anthropic_api(served: AnthropicBills) -> LoopbackApi:
    """The organization, analytics and legacy report endpoints over ``served``, for its key."""

    def authorized(request: Request) -> bool:
        key = request.headers.get("x-api-key") or request.headers.get("Authorization", "").removeprefix("Bearer ")
        return secrets.compare_digest(key.encode(), served.api_key.encode())

    api = LoopbackApi("anthropic", authorized=authorized, error_body=error_body)

    def answer(
        handler: Callable[[Request], Any], *, beta: bool = False
    ) -> Callable[[Request, re.Match[str]], Response]:
        def respond(request: Request, match: re.Match[str]) -> Response:
            if not request.headers.get("anthropic-version"):
                return api.error(400, "anthropic-version: header is required")
            if beta and not served.analytics:
                return api.error(404, f"Not found: {request.path}")
            if beta and ANALYTICS_BETA not in request.headers.get("anthropic-beta", ""):
                return api.error(400, f"this endpoint is in beta: send the header anthropic-beta: {ANALYTICS_BETA}")
            try:
                return json_response(handler(request))
            except _BadRequest as bad:
                return api.error(400, str(bad))

        return respond

    organization = {"id": ORGANIZATION_ID, "type": "organization", "name": ORGANIZATION_NAME}
    api.route("GET", r"/v1/organizations/me")(answer(lambda _request: organization))
    api.route("GET", r"/v1/organizations/analytics/cost")(
        answer(lambda r: _analytics(served, r, COST_GROUPS, True), beta=True)
    )
    api.route("GET", r"/v1/organizations/analytics/usage")(
        answer(lambda r: _analytics(served, r, USAGE_GROUPS, False), beta=True)
    )
    api.route("GET", r"/v1/organizations/cost_report")(answer(lambda r: _legacy(served, r, LEGACY_COST_GROUPS, True)))
    api.route("GET", r"/v1/organizations/usage_report/messages")(
        answer(lambda r: _legacy(served, r, LEGACY_USAGE_GROUPS, False))
    )
    return api


def _time(request: Request, name: str, *, required: bool = True) -> datetime | None:
    text = request.args.get(name)
    if text is None:
        if required:
            raise _BadRequest(f"{name}: Field required")
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise _BadRequest(f"{name}: not an RFC 3339 date-time") from None
    if moment.tzinfo is None:
        raise _BadRequest(f"{name}: must carry a time zone (RFC 3339)")
    return moment.astimezone(UTC)


def _group_by(request: Request, allowed: Sequence[str]) -> list[str]:
    group_by = [*request.args.getlist("group_by[]"), *request.args.getlist("group_by")]
    if unknown := [g for g in group_by if g not in allowed]:
        raise _BadRequest(f"group_by: {unknown[0]!r} is not one of {', '.join(allowed)}")
    return group_by


def _limit(request: Request, default: int, most: int) -> int:
    try:
        limit = int(request.args.get("limit", default))
    except ValueError:
        raise _BadRequest("limit: not an integer") from None
    if not 1 <= limit <= most:
        raise _BadRequest(f"limit: must be between 1 and {most}")
    return limit


def _days(start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
    first = midnight(start.date())
    buckets, at = [], first
    while at < end:
        buckets.append((at, at + timedelta(days=1)))
        at += timedelta(days=1)
    return buckets


def _analytics(served: AnthropicBills, request: Request, allowed: Sequence[str], cost: bool) -> dict[str, Any]:
    start = _time(request, "starting_at")
    assert start is not None
    width = request.args.get("time_bucket_width")
    end = _time(request, "ending_at", required=width is not None) or start + _MAX_RANGE
    if end <= start or end - start > _MAX_RANGE:
        raise _BadRequest("ending_at: must be after starting_at, at most 31 days later")
    if width not in (None, "1d"):
        raise _BadRequest("time_bucket_width: only 1d is served here (the bills are daily)")
    group_by = _group_by(request, allowed)
    limit = _limit(request, 20, 1000)
    hour = start.replace(minute=0, second=0, microsecond=0)
    buckets = _days(start, end) if width else [(hour, end.replace(minute=0, second=0, microsecond=0))]
    report = "analytics_cost" if cost else "analytics_usage"
    items: list[dict[str, Any]] = []
    for bucket in buckets:
        found = (
            analytics_cost(served.charges(*bucket), group_by, bucket=bucket)
            if cost
            else analytics_usage(served.usage(*bucket), group_by, bucket=bucket)
        )
        items += [*found, *served.extra(report, *bucket)]
    combos = _combinations(
        items, request.args.get("order_by", "amount" if cost else "total_tokens"), request.args.get("order", "desc")
    )
    offset = _offset(request.args.get("page"))
    shown = combos[offset : offset + limit]
    more = offset + limit < len(combos)
    return {
        "data": [item for combo in shown for item in combo],
        "has_more": more,
        "next_page": _cursor(offset + limit) if more else None,
    }


def _combinations(items: list[dict[str, Any]], order_by: str, order: str) -> list[list[dict[str, Any]]]:
    """Items by bucket and dimension combination (a cost item's fan-out by cost and token type stays
    together, as it does not count toward ``limit``), ordered by time or by the metric summed."""
    combos: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    for item in items:
        found = item.get("group")
        group: dict[str, Any] = found if isinstance(found, dict) else {}
        key = (item.get("starting_at"), tuple(sorted((k, str(v)) for k, v in group.items() if k not in _FANOUT)))
        combos.setdefault(key, []).append(item)
    reverse = order == "desc"

    def metric(combo: list[dict[str, Any]]) -> Decimal:
        total = Decimal(0)
        for item in combo:
            values = item.get("cost") or item.get("usage") or {}
            try:
                total += Decimal(str(values.get(order_by) or 0))
            except ArithmeticError:
                continue
        return total

    if order_by == "time":
        # By bucket in the order asked; within a bucket by amount, highest first.
        by_amount = sorted(combos.values(), key=metric, reverse=True)
        return sorted(by_amount, key=lambda combo: str(combo[0].get("starting_at")), reverse=reverse)
    return sorted(combos.values(), key=metric, reverse=reverse)


def _legacy(served: AnthropicBills, request: Request, allowed: Sequence[str], cost: bool) -> dict[str, Any]:
    start = _time(request, "starting_at")
    assert start is not None
    if request.args.get("bucket_width", "1d") != "1d":
        raise _BadRequest("bucket_width: only 1d is served here (the bills are daily)")
    group_by = _group_by(request, allowed)
    limit = _limit(request, 7, 31)
    last = midnight(max(served.bills.days) + timedelta(days=1))
    end = _time(request, "ending_at", required=False) or max(last, start + timedelta(days=1))
    days = _days(start, end)
    offset = _offset(request.args.get("page"))
    shown = days[offset : offset + limit]
    more = offset + limit < len(days)
    report = "cost_report" if cost else "usage_report"
    data = []
    for bucket in shown:
        results = (
            legacy_cost(served.charges(*bucket), group_by) if cost else legacy_usage(served.usage(*bucket), group_by)
        )
        data.append(
            {
                "starting_at": iso(bucket[0]),
                "ending_at": iso(bucket[1]),
                "results": [*results, *served.extra(report, *bucket)],
            }
        )
    return {"data": data, "has_more": more, "next_page": _cursor(offset + limit) if more else None}


def _cursor(offset: int) -> str:
    """An opaque cursor, as Anthropic's are (here: the next row's or bucket's index)."""
    return base64.urlsafe_b64encode(f"loopback:{offset}".encode()).decode().rstrip("=")


def _offset(cursor: str | None) -> int:
    if cursor is None:
        return 0
    try:
        kind, _, index = base64.urlsafe_b64decode(cursor + "==").decode().partition(":")
        if kind != "loopback" or not index.isdigit():
            raise ValueError(cursor)
        return int(index)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise _BadRequest("page: not a cursor of this report") from None


@contextmanager
def demo_source(work: Path) -> Iterator[DemoAccount]:
    """The ``DemoSource``: a month of three workspaces' bills behind a fresh admin key, on loopback."""
    generated = bills(MONTH)
    key = "sk-ant-admin01-demo-" + secrets.token_urlsafe(24)
    with serving(anthropic_api(AnthropicBills(generated, key))) as running:
        yield DemoAccount(
            display_name="Anthropic (loopback)",
            config={"endpoint": running.url},
            secret={"admin_api_key": key},
            periods=generated.months,
        )
