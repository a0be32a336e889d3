"""Databricks billing system tables read through the SQL Statement Execution API with databricks-sdk.

Source: ``system.billing.usage`` joined to ``system.billing.list_prices`` (``statements.py``), run on
the credential's SQL warehouse. The client is databricks-sdk's ``WorkspaceClient`` (synchronous,
built on requests): every call runs in ``asyncio.to_thread``; its errors become CloudactErrors in
``_translate`` only.

``list_objects`` counts the usage records of the requested months in one statement and returns one
``SourceObject`` per month that has any (a month without usage is left out, so its slice is replaced
with nothing, as for the GCP export); its ``uri`` names the read (``databricks://<workspace>/
system.billing.usage?usage_month=YYYY-MM&warehouse_id=...``), never a credential.

``download`` reads the month page by page: each page is one statement (the next ``page_records`` usage
records after the last page's ``record_id``, with their prices) executed with the ``INLINE``
disposition and the ``JSON_ARRAY`` format, polled while PENDING or RUNNING (backing off from 0.25 s
to 5 s, cancelled after ``statement_timeout_seconds``), its result read chunk by chunk
(``next_chunk_index`` -> ``get_statement_result_chunk_n``). Each chunk's rows are written to the
local file as they arrive, one JSON object of strings per line (``cloudact_providers.apirows``), so
memory holds one chunk. The runner replaces the (credential, month) slice with what a download
returns, so every run reads its months whole: usage is append-only (corrections are new records),
and a re-run rewrites the same rows.

Retries: databricks-sdk retries 429 and 503 answers itself, sleeping what their Retry-After header
says, for up to ``retry_seconds``; 500 and 504 answers, which it does not retry, are retried here
with tenacity (exponential backoff, same bound). Repeating a statement is harmless: it only reads.

Authentication: a personal access token (``auth_type="pat"``), or a service principal's OAuth
machine-to-machine secret (``auth_type="oauth-m2m"``: the SDK exchanges it at the workspace's OIDC
token endpoint). The auth type is always explicit, so no other credential of the machine (an
environment variable, ``~/.databrickscfg``) is picked up.
"""

from __future__ import annotations

import asyncio
import functools
import re
import time
import traceback
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import date
from pathlib import Path
from typing import Final, TypeVar
from urllib.parse import urlsplit

import requests
from databricks.sdk import WorkspaceClient
from databricks.sdk.config import Config
from databricks.sdk.errors import platform as dbx_errors
from databricks.sdk.errors.base import DatabricksError
from databricks.sdk.service.sql import (
    Disposition,
    ExecuteStatementRequestOnWaitTimeout,
    Format,
    ResultData,
    StatementExecutionAPI,
    StatementParameterListItem,
    StatementResponse,
    StatementState,
)
from tenacity import RetryError, Retrying, retry_if_exception_type, stop_after_delay, wait_exponential

from cloudact_providers.apirows import JsonLinesFile, Record
from cloudact_providers.connector import (
    ResolvedCredential,
    SourceObject,
    TranslatedErrors,
    error_code,
    parse_credential_part,
)
from cloudact_providers.databricks import statements
from cloudact_providers.databricks.credential import DatabricksSecret, DatabricksSourceConfig
from cloudact_shared.errors import (
    CloudactError,
    FailedPrecondition,
    NotFound,
    PermissionDenied,
    Unauthenticated,
    Unavailable,
)

PAGE_RECORDS: Final = 10_000
"""Usage records per statement: with their prices and metadata as JSON, well under INLINE's 25 MiB."""
_POLL_FIRST, _POLL_MAX = 0.25, 5.0
_WAIT_TIMEOUT = "10s"
"""How long the execute call itself waits for the result (then the statement is polled)."""
_HTTP_TIMEOUT_SECONDS = 60
_TERMINAL = {StatementState.SUCCEEDED, StatementState.FAILED, StatementState.CANCELED, StatementState.CLOSED}
_ERROR_CLASS = re.compile(r"^\[([A-Z0-9_.]+)\]")
_T = TypeVar("_T")

# databricks-sdk signs in (and refreshes its OAuth token) in these modules, raising ValueError when the
# token endpoint refuses: the message quotes the endpoint's answer.
_SIGN_IN_MODULES = ("databricks/sdk/oauth.py", "databricks/sdk/credentials_provider.py", "databricks/sdk/config.py")


class DatabricksBillingConnector:
    """One ``SourceObject`` per requested month with usage; each downloaded as JSON lines, page by page."""

    def __init__(self, credential: ResolvedCredential, *, page_records: int = PAGE_RECORDS) -> None:
        self._source = parse_credential_part(
            DatabricksSourceConfig, credential.config, "credential.config", "Databricks"
        )
        self._secret: DatabricksSecret | None = parse_credential_part(
            DatabricksSecret, credential.secret, "credential.secret", "Databricks"
        )
        self._page_records = page_records
        self._workspace = urlsplit(self._source.host).netloc
        self._client: WorkspaceClient | None = None

    async def __aenter__(self) -> DatabricksBillingConnector:
        self._client = await _call(self._connect, f"Databricks workspace {self._workspace}", self._source.retry_seconds)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self._client = None
        self._secret = None  # the client holds what it needs; the plaintext goes with the run's frame

    def _connect(self) -> WorkspaceClient:
        secret = self._secret
        assert secret is not None, "the connector is used once"
        oauth = secret.is_service_principal
        config = Config(
            host=self._source.host.rstrip("/"),
            auth_type="oauth-m2m" if oauth else "pat",
            token=None if oauth else secret.token,
            client_id=secret.client_id if oauth else None,
            client_secret=secret.client_secret if oauth else None,
            # The SDK's retry window: 0 would mean its default of 300 s, so "no retries" is its minimum.
            retry_timeout_seconds=max(1, self._source.retry_seconds),
            http_timeout_seconds=_HTTP_TIMEOUT_SECONDS,
            product="cloudact-costs",
            product_version="0.1.0",
        )
        return WorkspaceClient(config=config)

    def _uri(self, period: date) -> str:
        return (
            f"databricks://{self._workspace}/system.billing.usage"
            f"?usage_month={period:%Y-%m}&warehouse_id={self._source.warehouse_id}"
        )

    async def list_objects(self, periods: Sequence[date]) -> list[SourceObject]:
        if not periods:
            return []
        parameters = statements.count_parameters(min(periods), max(periods))
        location = f"system.billing.usage on Databricks workspace {self._workspace}"
        counted: dict[str, int] = {}
        async for rows, _ in self._pages(statements.month_counts(), parameters, location):
            for year, month, records in rows:
                counted[f"{int(str(year)):04d}-{int(str(month)):02d}"] = int(str(records))
        # The size is unknown until read: the API counts rows, not the bytes of the file.
        return [
            SourceObject(self._uri(p), f"system-billing-usage-{p:%Y-%m}.jsonl", 0, p)
            for p in sorted(set(periods))
            if counted.get(f"{p:%Y-%m}", 0) > 0
        ]

    async def download(self, obj: SourceObject, dest: Path) -> None:
        statement = statements.usage_with_prices(self._page_records)
        after = ""
        with JsonLinesFile(dest) as out:
            while True:
                records, last = 0, after
                parameters = statements.page_parameters(obj.billing_period, after)
                async for rows, names in self._pages(statement, parameters, obj.uri):
                    lines: list[Record] = []
                    for row in rows:
                        line: Record = dict(zip(names, row, strict=True))
                        if line["record_id"] != last:
                            records, last = records + 1, str(line["record_id"])
                        lines.append(line)
                    out.write(lines)
                if records < self._page_records:
                    break
                after = last
        if not out.rows:
            raise FailedPrecondition(f"{obj.uri}: the month's records counted at the start of the run are gone")

    async def _pages(
        self, statement: str, parameters: list[statements.Parameter], location: str
    ) -> AsyncIterator[tuple[list[list[str]], list[str]]]:
        """The result of one statement, chunk by chunk: (rows, column names)."""
        response = await self._run(statement, parameters, location)
        manifest = response.manifest
        if manifest is None or manifest.schema is None or not manifest.schema.columns:
            raise FailedPrecondition(f"{location}: the warehouse answered a statement without a result manifest")
        if manifest.truncated:
            raise FailedPrecondition(f"{location}: the warehouse truncated the result; no row may be dropped")
        names = [str(c.name) for c in manifest.schema.columns]
        chunk: ResultData | None = response.result
        statement_id = str(response.statement_id)
        while chunk is not None:
            rows = chunk.data_array or []
            if any(len(row) != len(names) for row in rows):
                raise FailedPrecondition(f"{location}: a result row does not have the manifest's {len(names)} columns")
            yield rows, names
            if chunk.next_chunk_index is None:
                break
            fetch = functools.partial(self._statements().get_statement_result_chunk_n, statement_id)
            chunk = await self._retried(functools.partial(fetch, chunk.next_chunk_index), location)

    async def _run(self, statement: str, parameters: list[statements.Parameter], location: str) -> StatementResponse:
        """Executes ``statement`` and polls it until it is done; the SUCCEEDED response (with its first chunk)."""
        items = [StatementParameterListItem(name=str(p["name"]), value=p["value"], type=p["type"]) for p in parameters]
        response = await self._retried(
            lambda: self._statements().execute_statement(
                statement=statement,
                warehouse_id=self._source.warehouse_id,
                parameters=items,
                disposition=Disposition.INLINE,
                format=Format.JSON_ARRAY,
                wait_timeout=_WAIT_TIMEOUT,
                on_wait_timeout=ExecuteStatementRequestOnWaitTimeout.CONTINUE,
            ),
            location,
        )
        deadline = time.monotonic() + self._source.statement_timeout_seconds
        pause = _POLL_FIRST
        while _state(response) not in _TERMINAL:
            statement_id = str(response.statement_id)
            if time.monotonic() + pause > deadline:
                await self._retried(functools.partial(self._statements().cancel_execution, statement_id), location)
                raise Unavailable(
                    f"{location}: the statement did not finish within {self._source.statement_timeout_seconds} s "
                    "(the warehouse may be starting or busy); it was cancelled",
                    reason="SOURCE_UNAVAILABLE",
                )
            await asyncio.sleep(pause)
            pause = min(_POLL_MAX, pause * 1.5)
            response = await self._retried(functools.partial(self._statements().get_statement, statement_id), location)
        return _succeeded(response, location)

    async def _retried(self, fn: Callable[[], _T], location: str) -> _T:
        """One client call, its 500 / 504 answers retried (the SDK retries 429 / 503 itself)."""
        seconds = self._source.retry_seconds

        def attempt() -> _T:
            if seconds == 0:
                return fn()
            retrying = Retrying(
                retry=retry_if_exception_type((dbx_errors.InternalError, dbx_errors.DeadlineExceeded)),
                wait=wait_exponential(multiplier=0.5, max=10),
                stop=stop_after_delay(seconds),
                reraise=False,
            )
            return retrying(fn)

        return await _call(attempt, location, seconds)

    def _statements(self) -> StatementExecutionAPI:
        assert self._client is not None, "use the connector as an async context manager"
        return self._client.statement_execution


def _state(response: StatementResponse) -> StatementState | None:
    return response.status.state if response.status is not None else None


def _succeeded(response: StatementResponse, location: str) -> StatementResponse:
    """``response`` when the statement SUCCEEDED; else the error its state and error class call for."""
    state = _state(response)
    if state == StatementState.SUCCEEDED:
        return response
    if state in (StatementState.CANCELED, StatementState.CLOSED):
        raise Unavailable(f"{location}: the statement was {state.value.lower()} (the warehouse may have stopped)")
    error = response.status.error if response.status is not None else None
    message = str(error.message or "") if error is not None else ""
    found = _ERROR_CLASS.match(message)
    error_class = error_code(found[1] if found else (error.error_code.value if error and error.error_code else ""))
    sql_state = response.status.sql_state if response.status is not None else None
    what = f"{location}: the statement failed ({error_class or 'no error class'}"
    what += f", SQLSTATE {error_code(sql_state)})" if sql_state else ")"
    if error_class in ("INSUFFICIENT_PERMISSIONS", "PERMISSION_DENIED") or sql_state == "42501":
        raise PermissionDenied(
            f"{what}: the identity needs USE CATALOG system, USE SCHEMA and SELECT on system.billing",
            reason="SOURCE_PERMISSION_DENIED",
        )
    if error_class in ("TABLE_OR_VIEW_NOT_FOUND", "SCHEMA_NOT_FOUND") or sql_state == "42P01":
        raise NotFound(f"{what}: the billing system tables are not enabled or not visible", reason="SOURCE_NOT_FOUND")
    raise FailedPrecondition(what)


async def _call(fn: Callable[[], _T], location: str, retry_seconds: int) -> _T:
    """Runs one blocking client call in a thread, translating its errors."""
    async with TranslatedErrors(location, lambda exc, where: _translate(exc, where, retry_seconds)):
        return await asyncio.to_thread(fn)


def _translate(exc: BaseException, location: str, retry_seconds: int) -> CloudactError | None:
    """The one place databricks-sdk, requests and tenacity errors become CloudactErrors, naming what was
    read, the error's class and code; never its message, which repeats what the endpoint answered."""
    if isinstance(exc, RetryError):
        last = exc.last_attempt.exception()
        what = type(last).__name__ if last is not None else "an error"
        return Unavailable(
            f"Databricks kept failing on {location} for {retry_seconds} s ({what})", reason="SOURCE_UNAVAILABLE"
        )
    if isinstance(exc, TimeoutError):  # the SDK's own retries (429 / 503 with Retry-After) ran out
        cause = type(exc.__cause__).__name__ if exc.__cause__ is not None else "timeout"
        return Unavailable(
            f"Databricks was throttling or unavailable on {location} for {retry_seconds} s ({cause})",
            reason="SOURCE_UNAVAILABLE",
        )
    if isinstance(exc, DatabricksError):
        return _api_error(exc, location)
    if isinstance(exc, requests.exceptions.ConnectionError | requests.exceptions.Timeout | ConnectionError):
        return Unavailable(f"cannot reach {location}: {type(exc).__name__}", reason="SOURCE_UNAVAILABLE")
    if isinstance(exc, ValueError) and _raised_signing_in(exc):
        if (network := _network_cause(exc)) is not None:
            return Unavailable(f"cannot reach {location} to sign in: {network}", reason="SOURCE_UNAVAILABLE")
        return Unauthenticated(f"the credential cannot sign in to {location} (its OAuth token request was refused)")
    return None


def _raised_signing_in(exc: BaseException) -> bool:
    """Whether ``exc`` was raised by databricks-sdk while it signed in (building the client, or a token refresh)."""
    frames = traceback.extract_tb(exc.__traceback__)
    return any(frame.filename.replace("\\", "/").endswith(_SIGN_IN_MODULES) for frame in frames)


def _network_cause(exc: BaseException) -> str | None:
    """The class name of the network error in ``exc``'s chain of causes, if there is one."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, requests.exceptions.ConnectionError | requests.exceptions.Timeout | ConnectionError):
            return type(seen).__name__
        seen = seen.__cause__ or seen.__context__
    return None


def _api_error(exc: DatabricksError, location: str) -> CloudactError:
    named = error_code(exc.error_code) or type(exc).__name__
    if isinstance(exc, dbx_errors.Unauthenticated):
        return Unauthenticated(f"Databricks rejected the credential reading {location} ({named})")
    if isinstance(exc, dbx_errors.PermissionDenied):
        # A revoked or unknown personal access token is refused with 403 "Invalid access token".
        if "invalid access token" in str(exc).lower():
            return Unauthenticated(f"Databricks rejected the credential reading {location} ({named})")
        return PermissionDenied(
            f"the identity may not use {location} ({named}): it needs CAN USE on the warehouse",
            reason="SOURCE_PERMISSION_DENIED",
        )
    if isinstance(exc, dbx_errors.NotFound):
        return NotFound(f"{location}: the warehouse or statement does not exist ({named})", reason="SOURCE_NOT_FOUND")
    transient = (dbx_errors.TooManyRequests, dbx_errors.TemporarilyUnavailable, dbx_errors.InternalError)
    if isinstance(exc, (*transient, dbx_errors.DeadlineExceeded)):
        return Unavailable(f"Databricks is throttling or failing on {location} ({named})", reason="SOURCE_UNAVAILABLE")
    return FailedPrecondition(f"Databricks refused a request on {location} ({named})")
