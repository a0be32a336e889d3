"""Datadog's cost endpoints on loopback, holding generated bills: for the tests and ``make demo``.

Answers as Datadog documents them (API v2, ``UsageMeteringApi``):

- ``GET /api/v2/usage/historical_cost``: ``start_month`` (required), ``end_month``, ``view``
  (``summary`` | ``sub-org``); the months that are final;
- ``GET /api/v2/usage/estimated_cost``: ``start_month``/``end_month`` or ``start_date``/``end_date``
  (not both; the start at most two months back), ``view``; the month's estimate until it is final,
  then its final cost;
- ``{"data": [{"id", "type": "cost_by_org", "attributes": {..., "charges": [...]}}]}``, no paging;
- the keys in ``DD-API-KEY`` and ``DD-APPLICATION-KEY`` (401 otherwise); errors as
  ``{"errors": ["..."]}``; a throttled request gets 429 with Datadog's ``X-RateLimit-Limit``,
  ``-Period``, ``-Remaining``, ``-Reset`` (seconds until the window resets) and ``-Name`` headers.

A month is held as final (``hold(..., final=True)``) or as an estimate; ``finalize`` turns an
estimate into the final cost, as Datadog does by the 16th of the next month.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from werkzeug.wrappers import Request, Response

from cloudact_providers.connector import DemoAccount
from cloudact_providers.datadog.synthetic import month_elements
from cloudact_providers.loopback import LoopbackApi, json_response, serving

_DEMO_KEYS = {
    "api_key": "0d5e1c9a7b3f4e2d8c6a0b1f9e7d5c3a",
    "application_key": "a1b2c3d4e5f60718293a4b5c6d7e8f9012345678",
}
"""The demo credential's keys: they open the loopback server only."""
_RATE_LIMIT_NAME = "usage_metering_cost"
_DATE = re.compile(r"^(\d{4})-(\d{2})(?:-(\d{2}))?")


class DatadogCostApi:
    """The cost endpoints of one Datadog parent organization, serving the months it holds."""

    def __init__(self, api_key: str, application_key: str) -> None:
        self._keys = (api_key, application_key)
        self._final: dict[date, list[dict[str, Any]]] = {}
        self._estimates: dict[date, list[dict[str, Any]]] = {}
        self._throttled = 0
        self._reset_seconds = 1
        self._lock = threading.Lock()
        self.api = LoopbackApi("datadog", self._authorized, lambda _status, message: {"errors": [message]})
        self.api.route("GET", r"/api/v2/usage/historical_cost")(self._historical)
        self.api.route("GET", r"/api/v2/usage/estimated_cost")(self._estimated)

    def hold(self, month: date, elements: list[dict[str, Any]], *, final: bool) -> None:
        """Serves ``elements`` (``data[]`` of a cost answer) for ``month``: its final cost, or its estimate."""
        with self._lock:
            (self._final if final else self._estimates)[month] = elements

    def finalize(self, month: date, elements: list[dict[str, Any]]) -> None:
        """Publishes the final cost of an estimated month."""
        with self._lock:
            self._estimates.pop(month, None)
            self._final[month] = elements

    def throttle(self, times: int = 1, reset_seconds: int = 1) -> None:
        """The next ``times`` cost requests get Datadog's 429, its window resetting in ``reset_seconds``."""
        with self._lock:
            self._throttled, self._reset_seconds = times, reset_seconds

    def _authorized(self, request: Request) -> bool:
        return (request.headers.get("DD-API-KEY"), request.headers.get("DD-APPLICATION-KEY")) == self._keys

    def _rate_limited(self) -> Response | None:
        with self._lock:
            if self._throttled <= 0:
                return None
            self._throttled -= 1
            reset = self._reset_seconds
        headers = {
            "X-RateLimit-Limit": "12",
            "X-RateLimit-Period": "60",
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-Reset": str(reset),
            "X-RateLimit-Name": _RATE_LIMIT_NAME,
        }
        return self.api.error(429, "Too many requests", headers)

    def _historical(self, request: Request, _match: re.Match[str]) -> Response:
        if (throttled := self._rate_limited()) is not None:
            return throttled
        start = _month_param(request.args.get("start_month"))
        if start is None:
            return self.api.error(400, "start_month is required and must be a month (YYYY-MM)")
        end = _month_param(request.args.get("end_month")) or start
        with self._lock:
            months = {m: e for m, e in self._final.items() if start <= m <= end}
        return self._answer(request, months)

    def _estimated(self, request: Request, _match: re.Match[str]) -> Response:
        if (throttled := self._rate_limited()) is not None:
            return throttled
        by_month, by_date = request.args.get("start_month"), request.args.get("start_date")
        if (by_month is None) == (by_date is None):
            return self.api.error(400, "Either start_month or start_date should be specified, but not both")
        start = _month_param(by_month or by_date)
        if start is None:
            return self.api.error(400, "start_month / start_date must be a date")
        current = _first_of(datetime.now(UTC).date())
        if _months_between(start, current) > 2:
            return self.api.error(400, "start_month cannot go beyond two months in the past")
        end = _month_param(request.args.get("end_month") or request.args.get("end_date")) or current
        with self._lock:
            held = {**self._estimates, **self._final}
        return self._answer(request, {m: e for m, e in held.items() if start <= m <= end})

    def _answer(self, request: Request, months: dict[date, list[dict[str, Any]]]) -> Response:
        view = request.args.get("view", "summary")
        if view not in ("summary", "sub-org"):
            return self.api.error(400, "view must be summary or sub-org")
        data = [element for month in sorted(months) for element in months[month]]
        return json_response({"data": data if view == "sub-org" else _summary(data)})


def _summary(elements: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The ``summary`` view: one element per account and month, its charges summed over organizations."""
    grouped: dict[tuple[str, str], dict[str, Any]] = {}
    for element in elements:
        attributes = element["attributes"]
        key = (attributes["account_public_id"], attributes["date"])
        summary = grouped.setdefault(
            key,
            {
                "id": f"{attributes['account_public_id']}-{attributes['date'][:7]}",
                "type": "cost_by_org",
                "attributes": {
                    "account_name": attributes["account_name"],
                    "account_public_id": attributes["account_public_id"],
                    "org_name": attributes["account_name"],
                    "public_id": attributes["account_public_id"],
                    "region": attributes["region"],
                    "date": attributes["date"],
                    "charges": {},
                },
            },
        )
        charges: dict[tuple[str, str], Decimal] = summary["attributes"]["charges"]
        for charge in attributes["charges"]:
            name = (charge["product_name"], charge["charge_type"])
            charges[name] = charges.get(name, Decimal(0)) + Decimal(str(charge["cost"]))
    answer = []
    for summary in grouped.values():
        sums: dict[tuple[str, str], Decimal] = summary["attributes"]["charges"]
        summary["attributes"]["charges"] = [
            {"product_name": p, "charge_type": t, "cost": float(c)} for (p, t), c in sums.items()
        ]
        total = sum((c for (_p, t), c in sums.items() if t != "total"), Decimal(0))
        summary["attributes"]["total_cost"] = float(total)
        answer.append(summary)
    return answer


def _month_param(value: str | None) -> date | None:
    """A month parameter as the client sends it (``2026-05``, ``2026-05-01T00:00:00+00:00`` ...)."""
    match = _DATE.match(value or "")
    if match is None or not 1 <= int(match[2]) <= 12:
        return None
    return date(int(match[1]), int(match[2]), 1)


def _first_of(day: date) -> date:
    return date(day.year, day.month, 1)


def _months_between(earlier: date, later: date) -> int:
    return (later.year - earlier.year) * 12 + later.month - earlier.month


@contextmanager
def demo_source(work: Path) -> Iterator[DemoAccount]:
    """A parent organization with three organizations: last month final, this month estimated so far.

    ``work`` is not needed: the bills are held in memory.
    """
    current = _first_of(datetime.now(UTC).date())
    previous = date(current.year - (current.month == 1), (current.month - 2) % 12 + 1, 1)
    server = DatadogCostApi(_DEMO_KEYS["api_key"], _DEMO_KEYS["application_key"])
    server.hold(previous, month_elements(previous, orgs=3, products=6), final=True)
    server.hold(current, month_elements(current, orgs=3, products=6, estimate=True), final=False)
    with serving(server.api) as running:
        yield DemoAccount(
            display_name="Datadog (loopback)",
            config={"api_url": running.url},
            secret=dict(_DEMO_KEYS),
            periods=(previous, current),
        )
