"""OpenAI's organization Costs and Usage API on loopback, serving generated bills (tests, ``make demo``).

Answers as OpenAI documents it (the openai SDK's types and api.md at 3.x): ``GET /v1/organization/costs``
and ``GET /v1/organization/usage/<kind>`` with ``start_time`` (Unix seconds, required) and ``end_time``
(exclusive), daily buckets only (``bucket_width=1d``), ``limit`` buckets per page (Costs 1-180, Usage
1-31 for 1d; default 7), ``group_by`` (repeated or ``group_by[]``), ``project_ids`` and ``page``, the
cursor of the previous answer's ``next_page``. An answer is ``{"object": "page", "data": [buckets],
"has_more", "next_page"}``, each bucket ``{"object": "bucket", "start_time", "end_time", "results"}``,
one bucket per day of the range, with or without results. Amounts are JSON numbers in dollars, written
with every digit of the bills' decimals.

Errors carry OpenAI's body ``{"error": {"message", "type", "param", "code"}}``: 401 for a missing or
wrong Admin key, 400 for a bad parameter, 404 for an unknown path; queued faults (``LoopbackApi.fail``)
give 429 / 5xx with Retry-After. Only daily buckets are served: the bills are daily.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import secrets
from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from werkzeug.wrappers import Request, Response

from cloudact_providers.connector import DemoAccount
from cloudact_providers.loopback import LoopbackApi, json_response, serving
from cloudact_providers.openai.synthetic import (
    MONTH,
    ORGANIZATION_ID,
    ORGANIZATION_NAME,
    Bills,
    Charge,
    Usage,
    bills,
    costs_results,
    usage_results,
)

USAGE_KINDS = (
    "completions",
    "embeddings",
    "moderations",
    "images",
    "audio_speeches",
    "audio_transcriptions",
    "vector_stores",
    "code_interpreter_sessions",
    "file_search_calls",
    "web_search_calls",
)
"""Every Usage endpoint OpenAI documents; the bills hold completions and embeddings usage only."""
COST_GROUPS = ("project_id", "line_item", "api_key_id", "user_id", "api_source")
USAGE_GROUPS = ("project_id", "user_id", "api_key_id", "model", "batch", "service_tier", "api_source")
_LIMITS = {"costs": (7, 180), "usage": (7, 31)}
"""(default, max) buckets per page of 1d buckets."""
_ERROR_KINDS = {
    400: ("invalid_request_error", None),
    401: ("invalid_request_error", "invalid_api_key"),
    403: ("invalid_request_error", "insufficient_permissions"),
    404: ("invalid_request_error", None),
    429: ("requests", "rate_limit_exceeded"),
}


def error_body(status: int, message: str) -> dict[str, Any]:
    """OpenAI's error body."""
    kind, code = _ERROR_KINDS.get(status, ("server_error", None))
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}


@dataclass
class OpenAIBills:
    """What the server answers from: generated bills, plus results served verbatim (a test's odd rows)."""

    bills: Bills
    admin_key: str
    extra_results: dict[tuple[str, date], list[dict[str, Any]]] = field(default_factory=dict)
    """(endpoint ``costs`` or a usage kind, day) -> results added to that day's bucket as they are."""
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

    def results(self, endpoint: str, day: date, group_by: Sequence[str], projects: Sequence[str]) -> list[Any]:
        if endpoint == "costs":
            charges = [c for c in self._charges.get(day, []) if not projects or c.project_id in projects]
            found = costs_results(charges, group_by) if charges else []
        else:
            usage = [u for u in self._usage.get(day, []) if not projects or u.project_id in projects]
            found = usage_results(usage, endpoint, group_by) if usage else []
        return [*found, *self.extra_results.get((endpoint, day), [])]


class _BadRequest(Exception):
    def __init__(self, message: str, param: str) -> None:
        super().__init__(message)
        self.param = param


def openai_api(served: OpenAIBills) -> LoopbackApi:
    """The Costs and Usage endpoints over ``served``, for its Admin key."""
    api = LoopbackApi(
        "openai",
        authorized=lambda request: request.headers.get("Authorization") == f"Bearer {served.admin_key}",
        error_body=error_body,
    )

    @api.route("GET", r"/v1/organization/costs")
    def costs(request: Request, match: re.Match[str]) -> Response:
        return _answer(api, served, request, "costs", COST_GROUPS, "costs")

    @api.route("GET", r"/v1/organization/usage/(?P<kind>[a-z_]+)")
    def usage(request: Request, match: re.Match[str]) -> Response:
        if match["kind"] not in USAGE_KINDS:
            return api.error(404, f"Invalid URL (GET {request.path})")
        return _answer(api, served, request, match["kind"], USAGE_GROUPS, "usage")

    return api


def _answer(
    api: LoopbackApi, served: OpenAIBills, request: Request, endpoint: str, groups: Sequence[str], family: str
) -> Response:
    try:
        page = _page(served, request, endpoint, groups, family)
    except _BadRequest as bad:
        body = error_body(400, str(bad))
        body["error"]["param"] = bad.param
        return json_response(body, 400)
    return Response(dumps(page), status=200, mimetype="application/json")


def _listed(request: Request, name: str) -> list[str]:
    """A list parameter, repeated (``group_by=a&group_by=b``, what the SDK sends) or bracketed."""
    return [*request.args.getlist(name), *request.args.getlist(f"{name}[]")]


def _integer(request: Request, name: str, default: int | None = None) -> int:
    text = request.args.get(name)
    if text is None:
        if default is None:
            raise _BadRequest(f"Missing required parameter: '{name}'.", name)
        return default
    try:
        return int(text)
    except ValueError:
        raise _BadRequest(f"Invalid '{name}': expected an integer.", name) from None


def _page(served: OpenAIBills, request: Request, endpoint: str, groups: Sequence[str], family: str) -> dict[str, Any]:
    start = _integer(request, "start_time")
    last_day = max(served.bills.days)
    end = _integer(request, "end_time", int(_midnight(last_day + timedelta(days=1)).timestamp()))
    if request.args.get("bucket_width", "1d") != "1d":
        raise _BadRequest("Only bucket_width=1d is served here (the bills are daily).", "bucket_width")
    default, most = _LIMITS[family]
    limit = _integer(request, "limit", default)
    if not 1 <= limit <= most:
        raise _BadRequest(f"Invalid 'limit': must be between 1 and {most}.", "limit")
    group_by = _listed(request, "group_by")
    if unknown := [g for g in group_by if g not in groups]:
        raise _BadRequest(f"Invalid 'group_by': {unknown[0]!r} is not supported.", "group_by")
    if end <= start:
        raise _BadRequest("'end_time' must be after 'start_time'.", "end_time")
    first = datetime.fromtimestamp(start, UTC).date()
    days = [first + timedelta(days=i) for i in range((end - start + 86_399) // 86_400)]
    offset = _offset(request.args.get("page"))
    shown = days[offset : offset + limit]
    more = offset + limit < len(days)
    projects = _listed(request, "project_ids")
    buckets = [
        {
            "object": "bucket",
            "start_time": int(_midnight(day).timestamp()),
            "end_time": int(_midnight(day + timedelta(days=1)).timestamp()),
            "results": served.results(endpoint, day, group_by, projects),
        }
        for day in shown
    ]
    return {"object": "page", "data": buckets, "has_more": more, "next_page": _cursor(offset + limit) if more else None}


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def _cursor(offset: int) -> str:
    """An opaque cursor, as OpenAI's are (here: the next bucket's index)."""
    return "page_" + base64.urlsafe_b64encode(f"bucket:{offset}".encode()).decode().rstrip("=")


def _offset(cursor: str | None) -> int:
    if cursor is None:
        return 0
    try:
        text = base64.urlsafe_b64decode(cursor.removeprefix("page_") + "==").decode()
        kind, _, index = text.partition(":")
        if kind != "bucket" or not index.isdigit():
            raise ValueError(cursor)
        return int(index)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise _BadRequest("Invalid 'page': not a cursor of this endpoint.", "page") from None


_NUMBER = "\u0000number:"


def dumps(body: Any) -> str:
    """``body`` as JSON, its decimals as JSON numbers of their exact text (as OpenAI writes amounts:
    numbers, sometimes with more digits than a float keeps; ``json`` writes a float's shortest text)."""

    def marked(value: Any) -> Any:
        if isinstance(value, Decimal):
            return f"{_NUMBER}{format(value, 'f')}"
        if isinstance(value, Mapping):
            return {k: marked(v) for k, v in value.items()}
        if isinstance(value, list):
            return [marked(v) for v in value]
        return value

    text = json.dumps(marked(body))
    return re.sub(r'"\\u0000number:(-?[0-9.]+)"', r"\1", text)


@contextmanager
def demo_source(work: Path) -> Iterator[DemoAccount]:
    """The ``DemoSource``: a month of three projects' bills behind a fresh Admin key, on loopback."""
    generated = bills(MONTH)
    key = "sk-admin-demo-" + secrets.token_urlsafe(24)
    with serving(openai_api(OpenAIBills(generated, key))) as running:
        yield DemoAccount(
            display_name="OpenAI (loopback)",
            config={
                "organization_id": ORGANIZATION_ID,
                "organization_name": ORGANIZATION_NAME,
                "endpoint": running.url,
            },
            secret={"admin_api_key": key},
            periods=generated.months,
        )
