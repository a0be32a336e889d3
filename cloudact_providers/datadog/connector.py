"""Datadog's cost by organization, read with datadog-api-client (the official client; synchronous, urllib3).

Source: the parent organization's cost endpoints (``UsageMeteringApi``, API v2), answered per month:

- ``get_historical_cost_by_org`` (``/api/v2/usage/historical_cost``): the final cost of a month,
  available no later than the 16th of the following month;
- ``get_estimated_cost_by_org`` (``/api/v2/usage/estimated_cost``): a month-to-date estimate, for the
  current and the previous month only, up to 72 hours late.

Which one answers a month, and why a later run replaces an estimate: ``list_objects`` asks the
historical endpoint first, once for every requested month before the current one (one call, a
``start_month``..``end_month`` range), then the estimated endpoint for the months that have no final
cost yet and that it still covers (the current month, and the previous one until Datadog publishes it:
one call). Each month with charges becomes one SourceObject whose URI names the endpoint and the month
(``https://<site>/api/v2/usage/historical_cost?view=sub-org&start_month=2026-05&end_month=2026-05``),
and whose rows say where they came from (``cost_source``). The runner replaces the (credential, month)
slice of the raw table with what a run returns, and focus_svc the FOCUS slice: the first run after the
month is final therefore swaps the estimate for the historical answer, whole, never adding to it. A
month with neither answer (before the account existed, in the future) has no object.

The cost endpoints are not paged (one answer per call): ``list_objects`` keeps each month's elements
of its two answers, and ``download`` writes the month's elements as JSON lines (one record per charge,
``formats.charge_records``); an object that this connector did not list is read again on its own.
Quantities are not read: the hourly usage endpoint measures usage types (``infra_host_top99p``) that
no documented rule joins to the cost endpoints' ``product_name`` (``infra_host``), so FOCUS rows carry
Datadog's cost without a ConsumedQuantity rather than a guessed one.

Retries: the client's own (``Configuration.retry_policy``, urllib3): 429 and 5xx are retried up to
``max_retries`` times, each 429 after the ``X-RateLimit-Reset`` seconds Datadog sends (or a
``Retry-After``, when a proxy answered), at most ``_RETRY_AFTER_MAX``. Its errors become CloudactErrors
in ``_translate`` only, naming the read and the HTTP status, never Datadog's message or a key.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlencode, urlsplit

import urllib3
from datadog_api_client import ApiClient, Configuration
from datadog_api_client.exceptions import (
    ApiException,
    ApiTypeError,
    ApiValueError,
    ForbiddenException,
    NotFoundException,
    UnauthorizedException,
)
from datadog_api_client.rest import ClientRetry
from datadog_api_client.v2.api.usage_metering_api import UsageMeteringApi

from cloudact_providers.connector import ResolvedCredential, SourceObject, TranslatedErrors, parse_credential_part
from cloudact_providers.datadog.credential import DatadogKeys, DatadogSourceConfig
from cloudact_providers.datadog.formats import ESTIMATED, HISTORICAL, charge_records
from cloudact_shared.errors import (
    CloudactError,
    FailedPrecondition,
    NotFound,
    PermissionDenied,
    Unauthenticated,
    Unavailable,
)

_PATHS = {HISTORICAL: "/api/v2/usage/historical_cost", ESTIMATED: "/api/v2/usage/estimated_cost"}
# A run has a deadline: a rate-limit window longer than this is not waited out within a run.
_RETRY_AFTER_MAX = 120
# (connect, read) seconds of one request; the cost endpoints answer in one page.
_TIMEOUT = (10.0, 120.0)
_T = TypeVar("_T")


class _RetryAfterReset(ClientRetry):
    """Datadog's retry: 429 and 5xx, waiting ``X-RateLimit-Reset`` seconds (the client's rule), else
    the standard ``Retry-After`` (which Datadog's own ``ClientRetry`` ignores)."""

    def get_retry_after(self, response: urllib3.BaseHTTPResponse) -> float | None:
        reset: float | None = super().get_retry_after(response)  # type: ignore[no-untyped-call]
        if reset is not None:
            return reset
        return urllib3.util.Retry.get_retry_after(self, response)


class DatadogCostConnector:
    """One SourceObject per requested month with charges; the final cost when Datadog has it, else the estimate."""

    def __init__(self, credential: ResolvedCredential) -> None:
        self._config = parse_credential_part(DatadogSourceConfig, credential.config, "credential.config", "Datadog")
        keys = parse_credential_part(DatadogKeys, credential.secret, "credential.secret", "Datadog")
        self._host = self._config.api_url.rstrip("/")
        configuration = Configuration(  # type: ignore[no-untyped-call]
            host=self._host,
            api_key={"apiKeyAuth": keys.api_key, "appKeyAuth": keys.application_key},
            request_timeout=_TIMEOUT,
            retry_policy=_RetryAfterReset(
                total=self._config.max_retries, backoff_factor=1, retry_after_max=_RETRY_AFTER_MAX
            ),
        )
        self._configuration: Configuration | None = configuration
        self._client: ApiClient | None = None
        self._answers: dict[str, list[dict[str, Any]]] = {}
        """URI -> the month's elements, as ``list_objects`` read them."""

    def __repr__(self) -> str:
        return f"DatadogCostConnector(api_url={self._host!r}, keys=***)"

    async def __aenter__(self) -> DatadogCostConnector:
        assert self._configuration is not None, "a connector is used for one run"
        self._client = ApiClient(self._configuration)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
        self._configuration = None  # the keys go with it
        self._answers.clear()

    def uri(self, source: str, month: date) -> str:
        """The read of ``month`` from ``source``'s endpoint, as a URL (no key: keys travel in headers)."""
        query = urlencode({"view": self._config.view, "start_month": f"{month:%Y-%m}", "end_month": f"{month:%Y-%m}"})
        return f"{self._host}{_PATHS[source]}?{query}"

    async def list_objects(self, periods: Sequence[date]) -> list[SourceObject]:
        months = sorted({_month_of(p) for p in periods})
        if not months:
            return []
        current = _month_of(datetime.now(UTC).date())
        previous = _add_months(current, -1)
        past = [m for m in months if m < current]
        final = await self._read(HISTORICAL, past[0], past[-1]) if past else {}
        # Datadog estimates the current and the previous month only; a final month needs no estimate.
        open_months = [m for m in months if previous <= m <= current and not _has_charges(final.get(m))]
        estimates = await self._read(ESTIMATED, open_months[0], open_months[-1]) if open_months else {}
        objects = []
        for month in months:
            for source, answer in ((HISTORICAL, final), (ESTIMATED, estimates)):
                if _has_charges(answer.get(month)):
                    uri = self.uri(source, month)
                    self._answers[uri] = answer[month]
                    objects.append(SourceObject(uri, f"datadog-{source}-{month:%Y-%m}.jsonl", 0, month))
                    break
        return objects

    async def download(self, obj: SourceObject, dest: Path) -> None:
        source = ESTIMATED if urlsplit(obj.uri).path.endswith(_PATHS[ESTIMATED]) else HISTORICAL
        elements = self._answers.pop(obj.uri, None)
        if elements is None:  # an object this connector did not list: its month is read again
            month = _month_of(obj.billing_period)
            elements = (await self._read(source, month, month)).get(month, [])
        await asyncio.to_thread(_write_records, dest, elements, source)

    async def _read(self, source: str, first: date, last: date) -> dict[date, list[dict[str, Any]]]:
        """The elements of one answer of ``source`` for ``first``..``last``, by month of their date.

        An element without a date goes with the first month, where its records are quarantined.
        """
        location = f"{self._host}{_PATHS[source]} for {first:%Y-%m}..{last:%Y-%m}"
        elements = await _call(lambda: self._fetch(source, first, last), location)
        by_month: dict[date, list[dict[str, Any]]] = {}
        for element in elements:
            month = _element_month(element) or first
            if first <= month <= last:
                by_month.setdefault(month, []).append(element)
        return by_month

    def _fetch(self, source: str, first: date, last: date) -> list[dict[str, Any]]:
        assert self._client is not None, "use the connector as an async context manager"
        api = UsageMeteringApi(self._client)  # type: ignore[no-untyped-call]
        start, end = _instant(first), _instant(last)
        if source == HISTORICAL:
            response = api.get_historical_cost_by_org(start_month=start, end_month=end, view=self._config.view)
        else:
            response = api.get_estimated_cost_by_org(start_month=start, end_month=end, view=self._config.view)
        data = response.get("data") or []  # type: ignore[no-untyped-call]
        return [element.to_dict() for element in data]


def _write_records(dest: Path, elements: list[dict[str, Any]], source: str) -> None:
    with dest.open("w", encoding="utf-8") as out:
        for element in elements:
            for record in charge_records(element, source):
                out.write(json.dumps(record, separators=(",", ":")) + "\n")


def _element_month(element: dict[str, Any]) -> date | None:
    """The UTC month of an element's ``date`` (the client renders it as ISO 8601 text), if it has one."""
    when = (element.get("attributes") or {}).get("date")
    try:
        instant = when if isinstance(when, datetime) else datetime.fromisoformat(str(when))
    except ValueError:
        return None
    return _month_of(instant.astimezone(UTC) if instant.tzinfo else instant)


def _has_charges(elements: list[dict[str, Any]] | None) -> bool:
    return any((e.get("attributes") or {}).get("charges") for e in elements or [])


def _month_of(day: date) -> date:
    return date(day.year, day.month, 1)


def _add_months(month: date, count: int) -> date:
    index = month.year * 12 + month.month - 1 + count
    return date(index // 12, index % 12 + 1, 1)


def _instant(month: date) -> datetime:
    """A month as the client takes it (a datetime, sent precise to the month)."""
    return datetime(month.year, month.month, 1, tzinfo=UTC)


async def _call(fn: Callable[[], _T], location: str) -> _T:
    """Runs one blocking client call in a thread, translating its errors."""
    async with TranslatedErrors(location, _translate):
        return await asyncio.to_thread(fn)


def _translate(exc: BaseException, location: str) -> CloudactError | None:
    """The one place datadog-api-client and urllib3 errors become CloudactErrors: the read and the
    HTTP status, never Datadog's message (``{"errors": [...]}`` free text) or the request's headers."""
    if isinstance(exc, UnauthorizedException):
        return Unauthenticated(f"Datadog rejected the API key or application key reading {location} (HTTP 401)")
    if isinstance(exc, ForbiddenException):
        return PermissionDenied(
            f"the Datadog keys may not read {location} (HTTP 403): the cost endpoints answer a parent "
            "organization's keys with the usage_read and billing_read permissions",
            reason="SOURCE_PERMISSION_DENIED",
        )
    if isinstance(exc, NotFoundException):
        return NotFound(f"{location} does not exist on this Datadog site (HTTP 404)", reason="SOURCE_NOT_FOUND")
    if isinstance(exc, ApiException) and (exc.status == 429 or (exc.status or 0) >= 500):
        return Unavailable(
            f"Datadog is throttling or failing on {location} (HTTP {exc.status})", reason="SOURCE_UNAVAILABLE"
        )
    if isinstance(exc, urllib3.exceptions.MaxRetryError):
        cause = type(exc.reason).__name__ if exc.reason is not None else "retries exhausted"
        return Unavailable(
            f"Datadog kept throttling or failing on {location} after the client's retries ({cause})",
            reason="SOURCE_UNAVAILABLE",
        )
    if isinstance(exc, urllib3.exceptions.HTTPError | ConnectionError | TimeoutError):
        return Unavailable(f"cannot reach Datadog for {location}: {type(exc).__name__}", reason="SOURCE_UNAVAILABLE")
    if isinstance(exc, ApiException):
        status = f"HTTP {exc.status}" if exc.status else type(exc).__name__
        return FailedPrecondition(f"Datadog refused the request for {location} ({status})")
    if isinstance(exc, ApiTypeError | ApiValueError):
        return FailedPrecondition(
            f"the answer to {location} is not Datadog's documented cost shape", reason="UNEXPECTED_RESPONSE"
        )
    return None
