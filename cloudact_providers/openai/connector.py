"""OpenAI organization Costs and Usage, read with the official ``openai`` SDK's admin client.

Source: ``GET /v1/organization/costs`` (daily buckets, amounts in dollars, grouped by project and line
item; a line item is '<model>, <token type>' and, grouped so, states its quantity) and the token-billed
Usage endpoints ``GET /v1/organization/usage/{completions,embeddings}`` (daily, grouped by project and
model), whose token counts the mapping joins to cost results that state no quantity. Every month is
read whole on every run: the runner replaces the (credential, month) slice with what ``download``
writes, so a restated day is never counted twice.

- ``list_objects`` asks the Costs endpoint for each month's ungrouped daily totals (a page or two) and
  returns one ``SourceObject`` per month that has any, its ``uri`` naming the read
  (``<endpoint>/v1/organization/costs?start_time=..&end_time=..``, no credential); a month with no
  cost yet (the current one on its first day) is left out rather than failing the run.
- ``download`` pages through the Costs endpoint, then each Usage endpoint, with the page cursor
  (``page`` = the previous ``next_page``, while ``has_more``), writing each page's results to the
  local JSON-lines file as it arrives (``cloudact_providers.apirows``): memory holds one page.

The client is the SDK's ``AsyncOpenAI`` (``admin_api_key``, sent as a Bearer token; httpx2 underneath).
Its own retry handles 429 and 5xx, waiting what Retry-After says (up to two minutes), else an
exponential backoff; ``max_retries`` is the credential's. Pages are read ``with_raw_response`` and parsed
with ``Decimal`` numbers: the SDK's models hold amounts as floats, and a cost keeps the exact text
OpenAI wrote. SDK errors become CloudactErrors in ``_translate`` only, naming the HTTP status and
OpenAI's error code, never the message or body (they can repeat whatever answered at the endpoint).
"""

from __future__ import annotations

import calendar
from collections.abc import AsyncGenerator, Sequence
from contextlib import aclosing
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Literal

import openai
from openai import AsyncOpenAI

from cloudact_providers.apirows import JsonLinesFile, loads
from cloudact_providers.connector import (
    ResolvedCredential,
    SourceObject,
    TranslatedErrors,
    error_code,
    parse_credential_part,
)
from cloudact_providers.openai.credential import OpenAIAdminKey, OpenAISourceConfig
from cloudact_providers.openai.formats import COSTS, USAGE_KINDS, line
from cloudact_shared.errors import (
    CloudactError,
    FailedPrecondition,
    NotFound,
    PermissionDenied,
    Unauthenticated,
    Unavailable,
)

CostGroup = Literal["project_id", "line_item"]
UsageGroup = Literal["project_id", "model"]
COST_GROUPS: list[CostGroup] = ["project_id", "line_item"]
"""The Costs endpoint grouped by project and line item: the FOCUS row's grain (day, project, line item)."""
USAGE_GROUPS: list[UsageGroup] = ["project_id", "model"]
"""The Usage endpoints grouped by project and model: the keys a line item's tokens are joined on."""


class OpenAICostsConnector:
    """One SourceObject per month with costs; each downloaded as the month's Costs and Usage results."""

    def __init__(self, credential: ResolvedCredential) -> None:
        self._config = parse_credential_part(OpenAISourceConfig, credential.config, "credential.config", "OpenAI")
        self._secret = parse_credential_part(OpenAIAdminKey, credential.secret, "credential.secret", "OpenAI")
        self._client: AsyncOpenAI | None = None

    def __repr__(self) -> str:
        return f"OpenAICostsConnector(organization_id={self._config.organization_id!r}, secret=***)"

    async def __aenter__(self) -> OpenAICostsConnector:
        self._client = AsyncOpenAI(
            admin_api_key=self._secret.admin_api_key,
            base_url=f"{self._config.endpoint.rstrip('/')}/v1",
            max_retries=self._config.max_retries,
            timeout=self._config.timeout_seconds,
        )
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None

    def _uri(self, period: date) -> str:
        start, end, _ = _month(period)
        return f"{self._config.endpoint.rstrip('/')}/v1/organization/costs?start_time={start}&end_time={end}"

    async def list_objects(self, periods: Sequence[date]) -> list[SourceObject]:
        objects = []
        for period in sorted(set(periods)):
            uri = self._uri(period)
            if await self._has_costs(period, uri):
                # The size is unknown until read: the API answers pages, not a file.
                objects.append(SourceObject(uri, f"openai-{period:%Y-%m}.jsonl", 0, period))
        return objects

    async def _has_costs(self, period: date, uri: str) -> bool:
        """Whether any day of the month has a cost (its ungrouped daily totals: one result a day at most)."""
        async with aclosing(self._pages(COSTS, period, uri, [])) as pages:
            async for page in pages:
                if any(bucket["results"] for bucket in page):
                    return True
        return False

    async def download(self, obj: SourceObject, dest: Path) -> None:
        organization = (self._config.organization_id, self._config.organization_name)
        with JsonLinesFile(dest) as out:
            reads: list[tuple[str, Sequence[str]]] = [(COSTS, COST_GROUPS), *((k, USAGE_GROUPS) for k in USAGE_KINDS)]
            for endpoint, group_by in reads:
                async for page in self._pages(endpoint, obj.billing_period, obj.uri, group_by):
                    for bucket in page:
                        # A bucket without its times still writes its results: their rows are quarantined.
                        start, end = bucket.get("start_time"), bucket.get("end_time")
                        out.write(line(endpoint, *organization, start, end, result) for result in bucket["results"])
        if out.rows == 0:
            raise FailedPrecondition(f"{obj.uri}: the month's costs found at the start of the run are gone")

    async def _pages(
        self, endpoint: str, period: date, uri: str, group_by: Sequence[str]
    ) -> AsyncGenerator[list[dict[str, Any]]]:
        """The buckets of each page of ``endpoint`` over the month, following the cursor.

        Raises:
            FailedPrecondition: an answer that is not a page of buckets, or a cursor that loops.
        """
        start, end, days = _month(period)
        # More pages than the month has buckets means the cursor is not advancing.
        most_pages = -(-days // self._config.page_buckets) + 1
        cursor: str | None = None
        for _ in range(most_pages):
            async with TranslatedErrors(uri, _translate):
                answer = await self._page(endpoint, start, end, group_by, cursor)
            buckets, more, cursor = _buckets(answer, endpoint, uri)
            yield buckets
            if not more:
                return
        raise FailedPrecondition(f"{uri}: OpenAI's {endpoint} pages do not end (more than {most_pages} pages)")

    async def _page(self, endpoint: str, start: int, end: int, group_by: Sequence[str], cursor: str | None) -> object:
        """One page of ``endpoint``, parsed with exact decimals."""
        assert self._client is not None, "use the connector as an async context manager"
        usage = self._client.admin.organization.usage.with_raw_response
        common: dict[str, Any] = {"start_time": start, "end_time": end, "bucket_width": "1d"}
        common["limit"] = self._config.page_buckets
        if group_by:
            common["group_by"] = list(group_by)
        if cursor is not None:
            common["page"] = cursor
        if endpoint == COSTS:
            text = (await usage.costs(**common)).text
        elif endpoint == "completions":
            text = (await usage.completions(**common)).text
        elif endpoint == "embeddings":
            text = (await usage.embeddings(**common)).text
        else:
            raise ValueError(f"no OpenAI usage endpoint {endpoint!r} is read")
        try:
            return loads(text)
        except ValueError:
            return None


def _buckets(answer: object, endpoint: str, uri: str) -> tuple[list[dict[str, Any]], bool, str | None]:
    """The page's buckets, whether more pages follow, and the next cursor.

    Raises:
        FailedPrecondition: the answer is not OpenAI's page of buckets (what answered is not OpenAI's API).
    """
    refusal = FailedPrecondition(
        f"{uri}: the answer of OpenAI's {endpoint} endpoint is not a page of buckets", reason="NOT_AN_OPENAI_PAGE"
    )
    if not isinstance(answer, dict) or answer.get("object") != "page" or not isinstance(answer.get("data"), list):
        raise refusal
    buckets = answer["data"]
    for bucket in buckets:
        shaped = isinstance(bucket, dict) and isinstance(bucket.get("results"), list)
        if not shaped or not all(isinstance(r, dict) for r in bucket["results"]):
            raise refusal
    more = answer.get("has_more") is True
    cursor = answer.get("next_page")
    if more and not (isinstance(cursor, str) and cursor):
        raise FailedPrecondition(f"{uri}: OpenAI's {endpoint} page says more follow but gives no next_page")
    return buckets, more, cursor if more else None


def _month(period: date) -> tuple[int, int, int]:
    """The month's start_time and end_time (Unix seconds, UTC: OpenAI's buckets are UTC days) and its days."""
    days = calendar.monthrange(period.year, period.month)[1]
    start = datetime(period.year, period.month, 1, tzinfo=UTC)
    following = datetime(period.year + period.month // 12, period.month % 12 + 1, 1, tzinfo=UTC)
    return int(start.timestamp()), int(following.timestamp()), days


def _status(exc: openai.APIStatusError) -> str:
    """``HTTP 401 invalid_api_key``: the status and OpenAI's error code, without its message."""
    code = error_code(exc.code)
    return f"HTTP {exc.status_code}" + (f" {code}" if code else "")


def _translate(exc: BaseException, location: str) -> CloudactError | None:
    """The one place openai SDK errors become CloudactErrors (see the module doc)."""
    if isinstance(exc, openai.AuthenticationError):
        return Unauthenticated(f"OpenAI rejected the Admin API key reading {location} ({_status(exc)})")
    if isinstance(exc, openai.PermissionDeniedError):
        return PermissionDenied(
            f"the Admin API key may not read {location} ({_status(exc)})", reason="SOURCE_PERMISSION_DENIED"
        )
    if isinstance(exc, openai.NotFoundError):
        return NotFound(f"{location} is not served at this endpoint ({_status(exc)})", reason="SOURCE_NOT_FOUND")
    if isinstance(exc, openai.RateLimitError | openai.InternalServerError):
        return Unavailable(
            f"OpenAI is throttling or failing on {location}, still after the retries ({_status(exc)})",
            reason="SOURCE_UNAVAILABLE",
        )
    if isinstance(exc, openai.APIConnectionError):  # timeouts included
        return Unavailable(f"cannot reach OpenAI for {location}: {type(exc).__name__}", reason="SOURCE_UNAVAILABLE")
    if isinstance(exc, openai.APIStatusError):
        return FailedPrecondition(f"OpenAI refused a request on {location} ({_status(exc)})")
    if isinstance(exc, openai.OpenAIError):
        return FailedPrecondition(f"the OpenAI client failed reading {location} ({type(exc).__name__})")
    return None
