"""A small client of the MongoDB Atlas Admin API v2: OAuth service-account tokens, versioned JSON, pages, retries.

MongoDB publishes no Python SDK for the Admin API (its SDK is Go, ``go.mongodb.org/atlas-sdk``; the
PyPI packages are stale third-party ones), so this is the provider's own, and the only module that
speaks HTTP to Atlas. It is built on aiohttp, already installed and pinned (aiobotocore and the OCI
SDK use it): the connector is async, and aiohttp is asyncio's own client, so a download needs no
thread; requests would need one per call, and httpx2 is the OpenAI SDK's transport, pinned to its
pace. Retries are tenacity's (pinned).

- Authentication: ``POST <api_url>/api/oauth/token`` with HTTP Basic ``client_id:client_secret`` and
  ``grant_type=client_credentials`` gives a bearer token (valid an hour); it is kept until a minute
  before it expires, and fetched again once when an API call answers 401 with a kept token (revoked
  or expired early).
- Versioned media type: every API call sends ``Accept: application/vnd.atlas.<date>+json``.
- Pages: ``pageNum`` (from 1) and ``itemsPerPage``, with ``includeCount=true``; pages are read until
  one is short, ``totalCount`` results are in, or a page is empty.
- Retries: 429 and 5xx answers and connection failures are retried up to ``max_attempts`` attempts in
  all, after the ``Retry-After`` the answer gives (seconds or an HTTP date; at most ``retry_after_max``),
  else after an exponential backoff with jitter.
- Numbers: JSON is parsed with ``Decimal`` floats, so a price or a quantity keeps the digits Atlas
  wrote.
- Errors: ``AtlasError`` carries the HTTP status and Atlas's ``errorCode`` (the OAuth ``error`` of
  the token endpoint), never the ``detail`` text; ``AtlasBadAnswer`` an answer that is not Atlas's
  JSON. The caller translates them.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Final, TypeVar

import aiohttp
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt, wait_exponential_jitter

API_VERSION: Final = "application/vnd.atlas.2023-01-01+json"
"""The Admin API resource version of the invoice endpoints (listOrgInvoices, getOrgInvoice)."""
TOKEN_PATH: Final = "/api/oauth/token"
_TOKEN_MARGIN = 60.0  # seconds before its expiry a kept token is replaced
_MAX_PAGES = 100_000  # a server that never ends its pages fails the run instead of looping
_T = TypeVar("_T")


class AtlasError(Exception):
    """Atlas refused a request: the HTTP status and its error code (``errorCode``, or OAuth ``error``)."""

    def __init__(self, status: int, code: str, *, token: bool = False, retry_after: float | None = None) -> None:
        super().__init__(f"HTTP {status} {code}".strip())
        self.status = status
        self.code = code
        self.token = token
        """Refused by the token endpoint (the service account's id or secret), not by an API call."""
        self.retry_after = retry_after

    @property
    def retryable(self) -> bool:
        return self.status == 429 or self.status >= 500


class AtlasBadAnswer(Exception):
    """An answer that is not the Admin API's JSON (what answered at the endpoint is something else)."""


def _transient(exc: BaseException) -> bool:
    if isinstance(exc, AtlasError):
        return exc.retryable
    return isinstance(exc, aiohttp.ClientConnectionError | aiohttp.ClientPayloadError | asyncio.TimeoutError)


class AtlasAdminClient:
    """The Admin API of one Atlas service account; an async context manager owning its HTTP session."""

    def __init__(
        self,
        api_url: str,
        client_id: str,
        client_secret: str,
        *,
        max_attempts: int = 5,
        retry_after_max: float = 120.0,
        backoff_initial: float = 1.0,
        timeout: aiohttp.ClientTimeout | None = None,
    ) -> None:
        self._base = api_url.rstrip("/")
        self._basic: str | None = aiohttp.encode_basic_auth(client_id, client_secret)
        """The token request's ``Authorization`` header (the service account's id and secret)."""
        self._max_attempts = max_attempts
        self._retry_after_max = retry_after_max
        self._backoff = wait_exponential_jitter(initial=backoff_initial, max=30, jitter=backoff_initial)
        self._timeout = timeout or aiohttp.ClientTimeout(total=None, connect=10, sock_read=120)
        self._session: aiohttp.ClientSession | None = None
        self._token: tuple[str, float] | None = None
        """The kept bearer token and the monotonic time to replace it at."""

    def __repr__(self) -> str:
        return f"AtlasAdminClient(api_url={self._base!r}, credentials=***)"

    async def __aenter__(self) -> AtlasAdminClient:
        self._session = aiohttp.ClientSession(timeout=self._timeout)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
        self._token = None
        self._basic = None  # the secret goes with the session

    async def get(self, path: str, params: Mapping[str, str | int] | None = None) -> Any:
        """The JSON answer of ``GET <api_url><path>`` (Decimal floats).

        Raises:
            AtlasError: refused (after the retries, for 429 / 5xx), by the API or the token endpoint.
            AtlasBadAnswer: the answer is not JSON.
            aiohttp.ClientError, asyncio.TimeoutError: no answer, after the retries.
        """
        fresh = self._token is None
        try:
            return await self._retrying(lambda: self._get_once(path, params))
        except AtlasError as error:
            if error.status != 401 or error.token or fresh:
                raise
        # The kept token was refused: it expired early or was revoked. One new token, one more try.
        self._token = None
        return await self._retrying(lambda: self._get_once(path, params))

    async def pages(self, path: str, items_per_page: int) -> AsyncIterator[list[dict[str, Any]]]:
        """The ``results`` of each page of a paged list, in page order (``pageNum`` 1, 2 ...)."""
        seen = 0
        for page in range(1, _MAX_PAGES + 1):
            answer = await self.get(path, {"pageNum": page, "itemsPerPage": items_per_page, "includeCount": "true"})
            results = answer.get("results") if isinstance(answer, dict) else None
            if not isinstance(results, list) or not all(isinstance(r, dict) for r in results):
                raise AtlasBadAnswer(f"page {page} of {path} has no list of results")
            if results:
                yield results
            seen += len(results)
            total = answer.get("totalCount")
            if len(results) < items_per_page or (isinstance(total, int) and seen >= total):
                return
        raise AtlasBadAnswer(f"{path} did not end after {_MAX_PAGES} pages")

    async def _retrying(self, call: Callable[[], Awaitable[_T]]) -> _T:
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self._max_attempts),
            wait=self._wait,
            retry=retry_if_exception(_transient),
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                return await call()
        raise AssertionError("tenacity ends with a result or the last error")  # pragma: no cover

    def _wait(self, state: RetryCallState) -> float:
        """Retry-After when the answer gave one (at most ``retry_after_max``), else the backoff."""
        error = state.outcome.exception() if state.outcome is not None else None
        if isinstance(error, AtlasError) and error.retry_after is not None:
            return min(error.retry_after, self._retry_after_max)
        return float(self._backoff(state))

    async def _get_once(self, path: str, params: Mapping[str, str | int] | None) -> Any:
        token = await self._access_token()
        session = self._require_session()
        headers = {"Authorization": f"Bearer {token}", "Accept": API_VERSION}
        query = {k: str(v) for k, v in (params or {}).items()}
        async with session.get(f"{self._base}{path}", params=query, headers=headers) as response:
            body = await response.read()
            if response.status >= 400:
                raise _refused(response, body, code_field="errorCode")
            return _json(body, path)

    async def _access_token(self) -> str:
        if self._token is not None and time.monotonic() < self._token[1]:
            return self._token[0]
        session = self._require_session()
        assert self._basic is not None
        headers = {"Authorization": self._basic, "Accept": "application/json", "Cache-Control": "no-cache"}
        async with session.post(
            f"{self._base}{TOKEN_PATH}", data={"grant_type": "client_credentials"}, headers=headers
        ) as response:
            body = await response.read()
            if response.status >= 400:
                raise _refused(response, body, code_field="error", token=True)
        answer = _json(body, TOKEN_PATH)
        token, lifetime = answer.get("access_token"), answer.get("expires_in", 3600)
        if not isinstance(token, str) or not token or not isinstance(lifetime, int | Decimal):
            raise AtlasBadAnswer("the token endpoint's answer has no access_token")
        self._token = (token, time.monotonic() + max(float(lifetime) - _TOKEN_MARGIN, 0.0))
        return token

    def _require_session(self) -> aiohttp.ClientSession:
        assert self._session is not None and self._basic is not None, "use the client as an async context manager"
        return self._session


def _json(body: bytes, what: str) -> Any:
    try:
        return json.loads(body, parse_float=Decimal)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise AtlasBadAnswer(f"the answer to {what} is not JSON") from None


def _refused(response: aiohttp.ClientResponse, body: bytes, *, code_field: str, token: bool = False) -> AtlasError:
    """The error of a refused request: its status, the error code of its body (when there is one) and
    its Retry-After."""
    try:
        parsed = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError):
        parsed = None
    code = parsed.get(code_field) if isinstance(parsed, dict) else None
    return AtlasError(
        response.status,
        code if isinstance(code, str) else "",
        token=token,
        retry_after=retry_after_seconds(response.headers.get("Retry-After")),
    )


def retry_after_seconds(value: str | None) -> float | None:
    """A Retry-After header's wait in seconds: delay-seconds or an HTTP date (RFC 9110); None otherwise."""
    if not value or not value.strip():
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max((when - datetime.now(UTC)).total_seconds(), 0.0)
