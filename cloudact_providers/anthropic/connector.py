"""Anthropic Admin API usage and cost reports, read with the official ``anthropic`` SDK.

Source, per month (``config.api``):

- the Usage and Cost Analytics API (beta, Anthropic's recommended report since 2026-10-29):
  ``client.beta.organization.analytics.cost.list`` and ``.usage.list`` (the SDK sends the beta header),
  daily buckets, cost grouped by workspace, model, service tier, context window, inference geo, cost type
  and token type (amounts in fractional cents, after and before discounts), usage by the same scope;
- the legacy reports, ``/v1/organizations/cost_report`` (grouped by workspace and description, whose
  rows then name model, token type and tier) and ``/v1/organizations/usage_report/messages``: the
  installed SDK (anthropic 2.x) has no method for these two Console Admin API endpoints (its
  ``analytics.cost_report`` is the Claude Enterprise report, another path), so they are read with the
  SDK client's own ``get``: the same authentication, headers, retries and error types, no
  hand-written HTTP client.

``auto`` (the default) reads the analytics API, and the legacy reports for a month the analytics API
does not serve (it starts on 2026-01-01 and reaches back 365 days), or when it answers 404 or 403 (an
organization or endpoint without it), or when the installed SDK lacks it. Both reports answer a month
in daily buckets whose rows the mapping joins by day and scope (a cost row's token type names its
usage metric).

- ``list_objects`` reads the key's organization (``/v1/organizations/me``: BillingAccount), then asks
  each month's cost report for its ungrouped total and returns one ``SourceObject`` per month with
  cost, its ``uri`` naming the report read, without credential.
- ``download`` pages through the month's cost report, then its usage report (``page`` = the previous
  ``next_page`` while ``has_more``), writing each page's rows to the local JSON-lines file as it arrives
  (``cloudact_providers.apirows``): memory holds one page. A month ends at its end or at the start of
  tomorrow (UTC), whichever is first: the current month is read up to today's bucket.

The client is the SDK's ``AsyncAnthropic`` (the key sent as its ``api_key``). Its own retry handles 429,
5xx and 529 (overloaded), waiting what Retry-After says; ``max_retries`` is the credential's. Pages are
read raw and parsed with ``Decimal`` numbers, so a row's values are written as Anthropic sent them.
SDK errors become CloudactErrors in ``_translate`` only, naming the HTTP status and Anthropic's error
type, never the message or body.
"""

from __future__ import annotations

import calendar
from collections.abc import AsyncGenerator, Callable, Sequence
from contextlib import aclosing
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import anthropic
import httpx2
from anthropic import AsyncAnthropic

from cloudact_providers.anthropic.credential import AnthropicAdminKey, AnthropicSourceConfig
from cloudact_providers.anthropic.formats import ANALYTICS, COST, LEGACY, USAGE, analytics_row, legacy_row, line
from cloudact_providers.apirows import JsonLinesFile, loads
from cloudact_providers.connector import (
    ResolvedCredential,
    SourceObject,
    TranslatedErrors,
    error_code,
    parse_credential_part,
)
from cloudact_shared.errors import (
    CloudactError,
    FailedPrecondition,
    NotFound,
    PermissionDenied,
    Unauthenticated,
    Unavailable,
)

ANALYTICS_FIRST_DAY = datetime(2026, 1, 1, tzinfo=UTC)
"""The analytics reports start here (Anthropic: starting_at no earlier than 2026-01-01T00:00:00Z)."""
ANALYTICS_REACH = timedelta(days=365)
"""... and reach back this far (starting_at within the last 365 days)."""
SCOPE: list[Any] = ["workspace_id", "model", "service_tier", "context_window", "inference_geo"]
"""The dimensions of a usage row, and of a cost row beside its cost and token type (5: the analytics
API's most, cost and token type not counted)."""
COST_GROUPS: list[Any] = [*SCOPE, "cost_type", "token_type"]
LEGACY_COST_GROUPS: list[str] = ["workspace_id", "description"]
_LEGACY_PATHS = {COST: "/v1/organizations/cost_report", USAGE: "/v1/organizations/usage_report/messages"}
_LEGACY_PAGE_DAYS = 31
_MAX_PAGES = 100_000
"""A cursor that never ends is caught by its repeating; this bounds one that keeps changing."""


@dataclass(frozen=True)
class _Read:
    """One month's reads: which report, its range (RFC 3339), and the URI naming it."""

    report_api: str
    starting_at: str
    ending_at: str
    uri: str


class AnthropicCostsConnector:
    """One SourceObject per month with cost; each downloaded as the month's cost and usage report rows."""

    def __init__(
        self, credential: ResolvedCredential, *, now: Callable[[], datetime] = lambda: datetime.now(UTC)
    ) -> None:
        self._config = parse_credential_part(AnthropicSourceConfig, credential.config, "credential.config", "Anthropic")
        self._secret = parse_credential_part(AnthropicAdminKey, credential.secret, "credential.secret", "Anthropic")
        self._now = now
        self._client: AsyncAnthropic | None = None
        self._organization: tuple[str, str] | None = None
        self._reads: dict[str, _Read] = {}
        self._analytics_refused = False

    def __repr__(self) -> str:
        return f"AnthropicCostsConnector(endpoint={self._config.endpoint!r}, api={self._config.api!r}, secret=***)"

    async def __aenter__(self) -> AnthropicCostsConnector:
        self._client = AsyncAnthropic(
            api_key=self._secret.admin_api_key,
            base_url=self._config.endpoint.rstrip("/"),
            max_retries=self._config.max_retries,
            timeout=self._config.timeout_seconds,
        )
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None

    def _require_client(self) -> AsyncAnthropic:
        assert self._client is not None, "use the connector as an async context manager"
        return self._client

    async def list_objects(self, periods: Sequence[date]) -> list[SourceObject]:
        if not periods:
            return []
        me = f"{self._config.endpoint.rstrip('/')}/v1/organizations/me"
        async with TranslatedErrors(me, _translate):
            organization = await self._require_client().organization.retrieve()
        self._organization = (organization.id, organization.name)
        objects = []
        for period in sorted(set(periods)):
            read = await self._month_read(period)
            if read is not None:
                self._reads[read.uri] = read
                # The size is unknown until read: the API answers pages, not a file.
                objects.append(SourceObject(read.uri, f"anthropic-{period:%Y-%m}.jsonl", 0, period))
        return objects

    def _range(self, period: date) -> tuple[datetime, datetime] | None:
        """The month's start and its end, or tomorrow's start when sooner; None for a month yet to come."""
        start = datetime(period.year, period.month, 1, tzinfo=UTC)
        following = start + timedelta(days=calendar.monthrange(period.year, period.month)[1])
        now = self._now().astimezone(UTC)
        tomorrow = datetime(now.year, now.month, now.day, tzinfo=UTC) + timedelta(days=1)
        end = min(following, tomorrow)
        return (start, end) if end > start else None

    def _read(self, report_api: str, start: datetime, end: datetime) -> _Read:
        path = "/v1/organizations/analytics/cost" if report_api == ANALYTICS else _LEGACY_PATHS[COST]
        starting_at, ending_at = _rfc3339(start), _rfc3339(end)
        uri = f"{self._config.endpoint.rstrip('/')}{path}?starting_at={starting_at}&ending_at={ending_at}"
        return _Read(report_api, starting_at, ending_at, uri)

    def _analytics_serves(self, start: datetime) -> bool:
        """Whether ``auto`` reads the month from the analytics API (see the module doc)."""
        if self._analytics_refused or not _sdk_has_analytics(self._require_client()):
            return False
        return start >= ANALYTICS_FIRST_DAY and start >= self._now().astimezone(UTC) - ANALYTICS_REACH

    async def _month_read(self, period: date) -> _Read | None:
        """The month's read when it has cost, else None."""
        bounds = self._range(period)
        if bounds is None:
            return None
        start, end = bounds
        api = self._config.api
        if api == "analytics" or (api == "auto" and self._analytics_serves(start)):
            read = self._read(ANALYTICS, start, end)
            try:
                return read if await self._analytics_has_cost(read) else None
            except (NotFound, PermissionDenied):
                if api == "analytics":
                    raise
                # The organization or endpoint has no analytics API: the legacy reports, for every month.
                self._analytics_refused = True
        read = self._read(LEGACY, start, end)
        return read if await self._legacy_has_cost(read) else None

    async def _analytics_has_cost(self, read: _Read) -> bool:
        """The month's cost ungrouped: one row over the whole range when it has any cost."""
        cost = self._require_client().beta.organization.analytics.cost.with_raw_response
        async with TranslatedErrors(read.uri, _translate):
            text = await (await cost.list(starting_at=read.starting_at, ending_at=read.ending_at)).text()
        rows, _, _ = _rows(loads(text), read.uri)
        return any(_has_amount(row.get("cost")) for row in rows)

    async def _legacy_has_cost(self, read: _Read) -> bool:
        async with aclosing(self._legacy_pages(COST, read, [])) as pages:
            async for buckets in pages:
                if any(_has_amount(result) for bucket in buckets for result in bucket["results"]):
                    return True
        return False

    async def download(self, obj: SourceObject, dest: Path) -> None:
        read = self._reads.get(obj.uri)
        if read is None or self._organization is None:
            raise FailedPrecondition(f"{obj.uri} was not listed by this connector: list the objects first")
        organization = self._organization
        with JsonLinesFile(dest) as out:
            if read.report_api == ANALYTICS:
                for record_type in (COST, USAGE):
                    async for items in self._analytics_pages(record_type, read):
                        out.write(line(record_type, ANALYTICS, *organization, analytics_row(i)) for i in items)
            else:
                for record_type in (COST, USAGE):
                    group_by = LEGACY_COST_GROUPS if record_type == COST else SCOPE
                    async for buckets in self._legacy_pages(record_type, read, group_by):
                        for bucket in buckets:
                            rows = (legacy_row(bucket, result) for result in bucket["results"])
                            out.write(line(record_type, LEGACY, *organization, row) for row in rows)
        if out.rows == 0:
            raise FailedPrecondition(f"{obj.uri}: the month's cost found at the start of the run is gone")

    async def _analytics_pages(self, record_type: str, read: _Read) -> AsyncGenerator[list[dict[str, Any]]]:
        """The rows of each page of the month's analytics cost or usage report, by day."""
        analytics = self._require_client().beta.organization.analytics
        cursor: str | None = None
        seen: set[str] = set()
        for _ in range(_MAX_PAGES):
            common: dict[str, Any] = {
                "starting_at": read.starting_at,
                "ending_at": read.ending_at,
                "time_bucket_width": "1d",
                "limit": self._config.page_rows,
                "order_by": "time",
                "order": "asc",
            }
            if cursor is not None:
                common["page"] = cursor
            async with TranslatedErrors(read.uri, _translate):
                if record_type == COST:
                    text = await (await analytics.cost.with_raw_response.list(group_by=COST_GROUPS, **common)).text()
                else:
                    text = await (await analytics.usage.with_raw_response.list(group_by=SCOPE, **common)).text()
            rows, more, cursor = _rows(loads(text), read.uri)
            yield rows
            if not more:
                return
            _check_cursor(cursor, seen, read.uri)
        raise FailedPrecondition(f"{read.uri}: the report's pages do not end")

    async def _legacy_pages(
        self, record_type: str, read: _Read, group_by: Sequence[str]
    ) -> AsyncGenerator[list[dict[str, Any]]]:
        """The buckets of each page of the month's legacy cost or usage report.

        Read with the client's generic ``get`` (no SDK method serves these paths; see the module doc).
        """
        client = self._require_client()
        cursor: str | None = None
        seen: set[str] = set()
        for _ in range(_MAX_PAGES):
            params: dict[str, Any] = {
                "starting_at": read.starting_at,
                "ending_at": read.ending_at,
                "bucket_width": "1d",
                "limit": _LEGACY_PAGE_DAYS,
            }
            if group_by:
                params["group_by"] = list(group_by)
            if cursor is not None:
                params["page"] = cursor
            async with TranslatedErrors(read.uri, _translate):
                response = await client.get(
                    _LEGACY_PATHS[record_type], cast_to=httpx2.Response, options={"params": params}
                )
            buckets, more, cursor = _rows(loads(response.text), read.uri)
            if not all(
                isinstance(b.get("results"), list) and all(isinstance(r, dict) for r in b["results"]) for b in buckets
            ):
                raise FailedPrecondition(
                    f"{read.uri}: the legacy report's answer is not a page of buckets", reason="NOT_AN_ANTHROPIC_PAGE"
                )
            yield buckets
            if not more:
                return
            _check_cursor(cursor, seen, read.uri)
        raise FailedPrecondition(f"{read.uri}: the report's pages do not end")


def _sdk_has_analytics(client: AsyncAnthropic) -> bool:
    """Whether the installed SDK has the analytics reports (SDKs before them do not)."""
    try:
        analytics = client.beta.organization.analytics
        return callable(analytics.cost.with_raw_response.list) and callable(analytics.usage.with_raw_response.list)
    except AttributeError:
        return False


def _rows(answer: object, uri: str) -> tuple[list[dict[str, Any]], bool, str | None]:
    """A page's rows (or buckets), whether more pages follow, and the next cursor.

    Raises:
        FailedPrecondition: the answer is not a page of Anthropic's reports.
    """
    if not isinstance(answer, dict) or not isinstance(answer.get("data"), list):
        raise FailedPrecondition(
            f"{uri}: the answer is not a page of Anthropic's report", reason="NOT_AN_ANTHROPIC_PAGE"
        )
    rows = answer["data"]
    if not all(isinstance(row, dict) for row in rows):
        raise FailedPrecondition(
            f"{uri}: the answer is not a page of Anthropic's report", reason="NOT_AN_ANTHROPIC_PAGE"
        )
    more = answer.get("has_more") is True
    cursor = answer.get("next_page")
    if more and not (isinstance(cursor, str) and cursor):
        raise FailedPrecondition(f"{uri}: a page says more follow but gives no next_page")
    return rows, more, cursor if more else None


def _check_cursor(cursor: str | None, seen: set[str], uri: str) -> None:
    assert cursor is not None  # ``_rows`` gives one whenever more pages follow
    if cursor in seen:
        raise FailedPrecondition(f"{uri}: the report's next_page cursor repeats: its pages do not end")
    seen.add(cursor)


def _has_amount(values: object) -> bool:
    """Whether a cost (``{amount: ...}``) is a number other than zero (an unreadable one counts: the
    download reads it and the raw SELECT quarantines its row)."""
    if not isinstance(values, dict) or values.get("amount") is None:
        return False
    try:
        return Decimal(str(values["amount"])) != 0
    except ArithmeticError:
        return True


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _status(exc: anthropic.APIStatusError) -> str:
    """``HTTP 401 authentication_error``: the status and Anthropic's error type, without its message."""
    kind = error_code(exc.type)
    return f"HTTP {exc.status_code}" + (f" {kind}" if kind else "")


def _translate(exc: BaseException, location: str) -> CloudactError | None:
    """The one place anthropic SDK errors become CloudactErrors (see the module doc)."""
    if isinstance(exc, anthropic.AuthenticationError):
        return Unauthenticated(f"Anthropic rejected the admin API key reading {location} ({_status(exc)})")
    if isinstance(exc, anthropic.PermissionDeniedError):
        return PermissionDenied(
            f"the admin API key may not read {location} ({_status(exc)})", reason="SOURCE_PERMISSION_DENIED"
        )
    if isinstance(exc, anthropic.NotFoundError):
        return NotFound(f"{location} is not served at this endpoint ({_status(exc)})", reason="SOURCE_NOT_FOUND")
    if isinstance(exc, anthropic.RateLimitError | anthropic.InternalServerError):
        return Unavailable(
            f"Anthropic is throttling, overloaded or failing on {location}, still after the retries ({_status(exc)})",
            reason="SOURCE_UNAVAILABLE",
        )
    if isinstance(exc, anthropic.APIConnectionError):  # timeouts included
        return Unavailable(f"cannot reach Anthropic for {location}: {type(exc).__name__}", reason="SOURCE_UNAVAILABLE")
    if isinstance(exc, anthropic.APIStatusError):
        return FailedPrecondition(f"Anthropic refused a request on {location} ({_status(exc)})")
    if isinstance(exc, anthropic.AnthropicError):
        return FailedPrecondition(f"the Anthropic client failed reading {location} ({type(exc).__name__})")
    return None
