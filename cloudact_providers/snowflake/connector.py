"""Snowflake organization cost read with snowflake-connector-python: the FOCUS view, else ORGANIZATION_USAGE.

For each requested month the connector picks ONE source (``views.py``), so no month is counted twice:

- the FOCUS view ``SNOWFLAKE.BILLING.FOCUS_COST_USAGE_V1_3`` for months from 2026-01 (its history
  starts there) when the role can read it: ``list_objects`` probes it once (``SELECT 1 ... LIMIT 1``);
  Snowflake answers error 002003 "does not exist or not authorized" to a role without the
  ``ORGANIZATION_BILLING_VIEWER`` database role (and to an account that is not org-enabled);
- else ``ORGANIZATION_USAGE.USAGE_IN_CURRENCY_DAILY`` with the day's rate from ``RATE_SHEET_DAILY``.

Config ``source`` forces one of them (``focus`` fails on a month before 2026 or a refused view).
``list_objects`` counts each month's rows in its source and returns one ``SourceObject`` per month with
rows; its ``uri`` names the view and the month (``snowflake://<account>/<view>?billing_period=YYYY-MM``),
never a credential. ``download`` runs the month's query and writes the rows as the cursor fetches
them, ``fetchmany`` a page at a time, as JSON lines of text (``views.text_of``): memory holds one
page. The runner replaces the (credential, month) slice with a download, and both views are
restated until a month closes: every run reads its months whole.

The connector is synchronous: the connection and every cursor call run in ``asyncio.to_thread``. It
retries 429 and 5xx answers itself (with backoff) within ``network_timeout``; its errors become
CloudactErrors in ``_translate`` only. The session runs in UTC, so timestamps and the month
boundaries are UTC. Telemetry to Snowflake is off (CloudAct sends nothing but the queries).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, Final, TypeVar
from urllib.parse import urlsplit

import snowflake.connector
from cryptography.hazmat.primitives import serialization
from snowflake.connector import errors as sf_errors
from snowflake.connector.connection import SnowflakeConnection

from cloudact_providers.apirows import JsonLinesFile, Record
from cloudact_providers.connector import (
    ResolvedCredential,
    SourceObject,
    TranslatedErrors,
    error_code,
    parse_credential_part,
)
from cloudact_providers.snowflake import views
from cloudact_providers.snowflake.credential import SnowflakeSecret, SnowflakeSourceConfig
from cloudact_shared.errors import (
    CloudactError,
    FailedPrecondition,
    NotFound,
    PermissionDenied,
    Unauthenticated,
    Unavailable,
)

PAGE_ROWS: Final = 5_000
"""Rows fetched and written at a time."""
_NOT_READABLE: Final = 2003
"""Snowflake's "Object ... does not exist or not authorized" (the two are never told apart)."""
_ROLE_NOT_GRANTED: Final = 390189
_LOGIN_REFUSED = range(390100, 390200)
"""Snowflake's login error codes (wrong password, invalid JWT, locked user ...)."""
_T = TypeVar("_T")


@dataclass(frozen=True)
class _Read:
    """Where one month comes from: the view read, its month query and its count query."""

    view: str
    month_sql: str
    counts_sql: str
    file: str


_FOCUS = _Read(views.FOCUS_VIEW, views.FOCUS_MONTH, views.FOCUS_COUNTS, "focus-cost-usage")
_USAGE = _Read(views.USAGE_VIEW, views.USAGE_MONTH, views.USAGE_COUNTS, "usage-in-currency-daily")


class SnowflakeBillingConnector:
    """One ``SourceObject`` per requested month with rows, from the FOCUS view or ORGANIZATION_USAGE."""

    def __init__(self, credential: ResolvedCredential, *, page_rows: int = PAGE_ROWS) -> None:
        self._source = parse_credential_part(SnowflakeSourceConfig, credential.config, "credential.config", "Snowflake")
        self._secret: SnowflakeSecret | None = parse_credential_part(
            SnowflakeSecret, credential.secret, "credential.secret", "Snowflake"
        )
        self._page_rows = page_rows
        self._where = f"Snowflake account {self._source.account}"
        self._connection: SnowflakeConnection | None = None
        self._reads: dict[date, _Read] = {}

    async def __aenter__(self) -> SnowflakeBillingConnector:
        self._connection = await _call(self._connect, self._where)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        connection, self._connection = self._connection, None
        self._secret = None
        if connection is not None:
            await asyncio.to_thread(connection.close)

    def _connect(self) -> SnowflakeConnection:
        secret = self._secret
        assert secret is not None, "the connector is used once"
        settings: dict[str, Any] = {
            "account": self._source.account,
            "user": self._source.user,
            "warehouse": self._source.warehouse,
            "application": "CloudActCosts",
            "login_timeout": 60,
            "network_timeout": self._source.network_timeout_seconds,
            "client_session_keep_alive": False,
            "session_parameters": {
                "TIMEZONE": "UTC",
                "QUERY_TAG": "cloudact-costs billing",
                "CLIENT_TELEMETRY_ENABLED": False,
                "CLIENT_OUT_OF_BAND_TELEMETRY_ENABLED": False,
            },
        }
        if self._source.role is not None:
            settings["role"] = self._source.role
        if self._source.endpoint is not None:
            parts = urlsplit(self._source.endpoint)
            settings.update(host=parts.hostname, protocol=parts.scheme, port=parts.port or 443)
        if secret.private_key is not None:
            passphrase = secret.private_key_passphrase.encode() if secret.private_key_passphrase else None
            key = serialization.load_pem_private_key(secret.private_key.encode("ascii"), passphrase)
            settings["private_key"] = key.private_bytes(
                serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        else:
            settings["password"] = secret.password
        return snowflake.connector.connect(**settings)

    def _uri(self, period: date, read: _Read) -> str:
        return f"snowflake://{self._source.account}/{read.view}?billing_period={period:%Y-%m}"

    async def list_objects(self, periods: Sequence[date]) -> list[SourceObject]:
        months = sorted({p.replace(day=1) for p in periods})
        if not months:
            return []
        focus_readable = await self._focus_readable(months)
        self._reads = {m: self._read_for(m, focus_readable) for m in months}
        counted: dict[str, int] = {}
        for read in (_FOCUS, _USAGE):
            mine = [m for m in months if self._reads[m] is read]
            if mine:
                sql, parameters = read.counts_sql, views.month_bounds(mine[0], mine[-1])
                for year, month, rows in await self._fetch_all(sql, parameters, read.view):
                    counted[f"{read.view}:{int(year):04d}-{int(month):02d}"] = int(rows)
        return [
            SourceObject(self._uri(m, read), f"snowflake-{read.file}-{m:%Y-%m}.jsonl", 0, m)
            for m in months
            if counted.get(f"{(read := self._reads[m]).view}:{m:%Y-%m}", 0) > 0
        ]

    def _read_for(self, month: date, focus_readable: bool) -> _Read:
        wanted = self._source.source
        if wanted == "usage_in_currency":
            return _USAGE
        in_history = month >= views.FOCUS_HISTORY_START
        if wanted == "focus" and not in_history:
            raise FailedPrecondition(
                f"{views.FOCUS_VIEW} holds no month before {views.FOCUS_HISTORY_START:%Y-%m} ({month:%Y-%m} asked); "
                "set config.source to auto or usage_in_currency",
                reason="SOURCE_NOT_AVAILABLE",
            )
        return _FOCUS if in_history and focus_readable else _USAGE

    async def _focus_readable(self, months: list[date]) -> bool:
        """Whether the role may read the FOCUS view (asked only when a month could come from it)."""
        if self._source.source == "usage_in_currency" or months[-1] < views.FOCUS_HISTORY_START:
            return False
        try:
            await self._fetch_all(views.PROBE_FOCUS, {}, views.FOCUS_VIEW, probe=True)
        except _NotReadable:
            if self._source.source == "focus":
                raise PermissionDenied(
                    f"the role may not read {views.FOCUS_VIEW} on {self._where} (or the account is not org-enabled): "
                    "grant it the SNOWFLAKE.ORGANIZATION_BILLING_VIEWER database role, or set config.source to auto",
                    reason="SOURCE_PERMISSION_DENIED",
                ) from None
            return False
        return True

    async def download(self, obj: SourceObject, dest: Path) -> None:
        read = self._reads.get(obj.billing_period)
        if read is None:
            raise FailedPrecondition(f"{obj.uri}: not listed by this connector (list_objects first)")
        parameters = views.month_bounds(obj.billing_period, obj.billing_period)
        cursor = self._require().cursor()
        try:
            await _call(lambda: cursor.execute(read.month_sql, parameters), f"{read.view} on {self._where}")
            names = [str(d[0]) for d in cursor.description or []]
            with JsonLinesFile(dest) as out:
                while rows := await _call(lambda: cursor.fetchmany(self._page_rows), obj.uri):
                    out.write(_records(names, rows))
        finally:
            await asyncio.to_thread(cursor.close)
        if not out.rows:
            raise FailedPrecondition(f"{obj.uri}: the month's rows counted at the start of the run are gone")

    async def _fetch_all(
        self, sql: str, parameters: dict[str, date], view: str, *, probe: bool = False
    ) -> list[tuple[Any, ...]]:
        def run() -> list[tuple[Any, ...]]:
            with self._require().cursor() as cursor:
                try:
                    cursor.execute(sql, parameters or None)
                except sf_errors.ProgrammingError as exc:
                    if probe and exc.errno == _NOT_READABLE:
                        raise _NotReadable from None
                    raise
                return list(cursor.fetchall())

        return await _call(run, f"{view} on {self._where}")

    def _require(self) -> SnowflakeConnection:
        assert self._connection is not None, "use the connector as an async context manager"
        return self._connection


class _NotReadable(Exception):
    """The FOCUS view cannot be read by the role (Snowflake's 002003)."""


def _records(names: list[str], rows: Sequence[Sequence[Any]]) -> list[Record]:
    return [{name: views.text_of(value) for name, value in zip(names, row, strict=True)} for row in rows]


async def _call(fn: Callable[[], _T], location: str) -> _T:
    """Runs one blocking connector call in a thread, translating its errors."""
    async with TranslatedErrors(location, _translate):
        return await asyncio.to_thread(fn)


def _translate(exc: BaseException, location: str) -> CloudactError | None:
    """The one place snowflake-connector-python errors become CloudactErrors, naming what was read and
    Snowflake's error number and SQLSTATE, never its message (which repeats the server's text)."""
    if not isinstance(exc, sf_errors.Error):
        return None
    number = f"{exc.errno:06d}" if exc.errno and exc.errno > 0 else type(exc).__name__
    state = f", SQLSTATE {error_code(exc.sqlstate)}" if exc.sqlstate else ""
    named = f"{number}{state}"
    if exc.errno == _ROLE_NOT_GRANTED:
        return PermissionDenied(
            f"the role is not granted to the user on {location} ({named})", reason="SOURCE_PERMISSION_DENIED"
        )
    if exc.errno in _LOGIN_REFUSED or exc.sqlstate == "28000":
        return Unauthenticated(f"Snowflake rejected the credential for {location} ({named})")
    if exc.errno == _NOT_READABLE:
        return NotFound(
            f"{location} does not exist or the role may not read it ({named}): ORGANIZATION_USAGE needs ORGADMIN "
            "or the organization usage viewer database role, and the organization account",
            reason="SOURCE_NOT_FOUND",
        )
    if isinstance(exc, sf_errors.OperationalError | sf_errors.InterfaceError | sf_errors.HttpError):
        return Unavailable(f"cannot read {location} now ({named})", reason="SOURCE_UNAVAILABLE")
    return FailedPrecondition(f"Snowflake refused a query on {location} ({named})")
