"""OCI cost or FOCUS reports from Oracle-owned Object Storage, read with the (synchronous) ``oci`` SDK.

Layout: namespace ``bling``, bucket = the tenancy OCID; cost reports are objects
``reports/cost-csv/<sequence>.csv.gz``, OCI's FOCUS reports ``FOCUS Reports/<YYYY>/<MM>/<DD>/<name>.csv.gz``.
Both describe the same charges, so a credential reads exactly one of them (config ``report``:
``cost-csv``, the default, or ``focus``; the prefix must match it, and every file read must be of
that kind): nothing is counted twice. There is no manifest: every object is a complete, immutable,
append-only delivery covering a slice of time (about 6 hours), and a correction arrives as a new
row in a later file.

Which billing month a file's rows belong to is in its rows, so the connector reads it: the cheapest
reliable way. It first narrows the candidates without reading them. Cost report names carry no
date, so they are listed with their creation time: a file created before a month started cannot
hold that month's usage, and one created more than ``late_days`` after the month ended is assumed
not to (so a run does not read a year of files). FOCUS report names carry their day, so only the
month folders from the first requested month to ``late_days`` after the last are listed, and only
files dated in that window kept. Each remaining candidate is downloaded once per run (streamed to
the connector's own temporary directory) and its distinct UTC months (``lineItem/intervalUsageStart``
or ``BillingPeriodStart``, as ``formats`` parses them) are read with DuckDB. A file yields one SourceObject
per requested month it holds. ``download`` then copies the cached file, or, for a file spanning
several months, writes only that month's rows (so the pipeline's per-month slice check passes).
Rows whose interval start cannot be parsed go with the file's earliest month, where they are
quarantined. Each run of a month therefore loads every file holding that month once, and replaces
the month's slice: reprocessing never duplicates rows.

The SDK is synchronous (requests): every call runs in ``asyncio.to_thread``; its errors are
translated into CloudactErrors in ``_translate`` only.
"""

from __future__ import annotations

import asyncio
import functools
import re
import shutil
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import duckdb
import oci  # type: ignore[import-untyped]

from cloudact_providers.connector import (
    ResolvedCredential,
    SourceObject,
    TranslatedErrors,
    error_code,
    parse_credential_part,
)
from cloudact_providers.oci.credential import OciSecret, OciSourceConfig
from cloudact_providers.oci.formats import month_sql, read_header, report_kind
from cloudact_shared.errors import (
    CloudactError,
    FailedPrecondition,
    FieldViolation,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    Unauthenticated,
    Unavailable,
)

_CHUNK_BYTES = 8 * 1024 * 1024
_DAY_PATH = re.compile(r"(\d{4})/(\d{2})/(\d{2})/[^/]+$")
_T = TypeVar("_T")


@dataclass(frozen=True)
class _Planned:
    """A listed file cached locally, and what it holds."""

    path: Path
    months: frozenset[date]
    home: date | None
    """The month that also takes the rows whose interval start cannot be parsed."""
    month_sql: str
    """The file's month expression (over its own columns), to split it by month."""


class OciObjectStorageConnector:
    """Lists the cost report files holding the requested months and downloads them."""

    def __init__(self, credential: ResolvedCredential) -> None:
        self._source = parse_credential_part(OciSourceConfig, credential.config, "credential.config", "OCI")
        secret = parse_credential_part(OciSecret, credential.secret, "credential.secret", "OCI")
        self._bucket = self._source.bucket or secret.tenancy
        self._config: dict[str, Any] = {
            "user": secret.user,
            "fingerprint": secret.fingerprint,
            "key_content": secret.key_content,
            "tenancy": secret.tenancy,
            "region": secret.region,
        }
        if secret.pass_phrase:
            self._config["pass_phrase"] = secret.pass_phrase
        try:
            oci.config.validate_config(self._config)
        except oci.exceptions.InvalidConfig as exc:
            # Only the field names and the kind of problem: values may be secret.
            errors = exc.args[0] if exc.args and isinstance(exc.args[0], dict) else {}
            violations = [FieldViolation(f"credential.secret.{k}", str(v)) for k, v in errors.items()]
            raise InvalidArgument(
                "credential.secret is not a valid OCI API key: "
                + ("; ".join(f"{v.field}: {v.description}" for v in violations) or "invalid"),
                reason="BAD_CREDENTIAL_CONFIG",
                violations=violations,
            ) from None
        self._client: Any = None
        self._retry: Any = None
        self._work: Path | None = None
        self._plan: dict[str, _Planned] = {}

    async def __aenter__(self) -> OciObjectStorageConnector:
        self._client = await _call(self._new_client, "the OCI Object Storage client")
        self._work = Path(tempfile.mkdtemp(prefix="cloudact-oci-"))
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self._config.clear()
        self._client = None
        if self._work is not None:
            shutil.rmtree(self._work, ignore_errors=True)
            self._work = None

    def _new_client(self) -> Any:
        if self._source.max_attempts == 1:
            retry: Any = oci.retry.NoneRetryStrategy()
        else:
            retry = oci.retry.RetryStrategyBuilder(
                max_attempts_check=True,
                max_attempts=self._source.max_attempts,
                total_elapsed_time_check=True,
                total_elapsed_time_seconds=300,
            ).get_retry_strategy()
        self._retry = retry
        kwargs: dict[str, Any] = {"retry_strategy": retry, "timeout": (10, 60)}
        if self._source.endpoint:
            kwargs["service_endpoint"] = self._source.endpoint
        try:
            return oci.object_storage.ObjectStorageClient(self._config, **kwargs)
        except (ValueError, TypeError) as exc:
            # Raised for a key_content that is not a readable PEM private key; no value is echoed.
            raise InvalidArgument(
                f"credential.secret.key_content is not a usable PEM private key ({type(exc).__name__})",
                reason="BAD_CREDENTIAL_CONFIG",
                violations=[FieldViolation("credential.secret.key_content", "not a PEM private key")],
            ) from None

    def _uri(self, name: str) -> str:
        return f"oci://{self._source.namespace}/{self._bucket}/{name}"

    async def list_objects(self, periods: Sequence[date]) -> list[SourceObject]:
        if not periods:
            return []
        wanted = set(periods)
        first = datetime(min(periods).year, min(periods).month, 1, tzinfo=UTC)
        last_end = _next_month(max(periods))
        # A file is created after the usage it reports (a day of slack for clock skew), and at most
        # late_days after the month it reports ended.
        window = (
            first - timedelta(days=1),
            datetime(last_end.year, last_end.month, 1, tzinfo=UTC) + timedelta(days=self._source.late_days),
        )
        objects: list[SourceObject] = []
        for summary in await self._candidates(window):
            name = str(summary.name)
            planned = await self._fetch_and_scan(name, min(periods))
            for month in sorted(planned.months & wanted):
                objects.append(SourceObject(self._uri(name), name, int(summary.size or 0), month))
        return objects

    async def _candidates(self, window: tuple[datetime, datetime]) -> list[Any]:
        """The report files that may hold usage of the window, by name, without reading them."""
        if self._source.report == "focus":
            # FOCUS Reports/<YYYY>/<MM>/<DD>/: list only the window's month folders, keep its days.
            prefixes = [f"{self._source.prefix}{m.year:04d}/{m.month:02d}/" for m in _months(*window)]
        else:
            prefixes = [self._source.prefix]
        summaries: list[Any] = []
        for prefix in prefixes:
            summaries += await _call(functools.partial(self._list_all, prefix), self._uri(prefix))
        keep = []
        for summary in sorted(summaries, key=lambda s: str(s.name)):
            name = str(summary.name)
            if name.endswith("/") or not name.lower().endswith((".csv", ".csv.gz", ".gz")):
                continue
            when = _path_day(name) if self._source.report == "focus" else summary.time_created
            if when is not None and not window[0] <= when < window[1]:
                continue
            keep.append(summary)
        return keep

    def _list_all(self, prefix: str) -> list[Any]:
        # Paged by hand: oci.pagination wraps every page call in the SDK's default retry strategy
        # (measured: ~90 s of back-off on a 503 even with NoneRetryStrategy passed), ignoring ours.
        objects: list[Any] = []
        start: str | None = None
        while True:
            page = self._client.list_objects(
                self._source.namespace,
                self._bucket,
                prefix=prefix,
                fields="name,size,timeCreated",
                start=start,
                retry_strategy=self._retry,
            ).data
            objects.extend(page.objects or [])
            start = page.next_start_with
            if not start:
                return objects

    async def _fetch_and_scan(self, name: str, fallback: date) -> _Planned:
        assert self._work is not None, "use the connector as an async context manager"
        suffix = ".csv.gz" if name.lower().endswith(".gz") else ".csv"
        path = self._work / f"{len(self._plan):06d}{suffix}"
        await _call(lambda: self._stream_to(name, path), self._uri(name))
        header = await asyncio.to_thread(_header_of, path)
        if header is not None and (kind := report_kind(header)) != self._source.report:
            raise FailedPrecondition(
                f"{self._uri(name)} is an OCI {kind} report, but the credential reads {self._source.report} "
                "reports (config report); a credential reads one kind, so no charge is counted twice",
                reason="NOT_AN_OCI_REPORT",
            )
        expression = month_sql(header or [])
        months, has_unparsable = await asyncio.to_thread(_months_in, path, expression)
        # A file whose months cannot be read goes to the earliest requested month, where reading it
        # fails with the format's precise error instead of the file being silently skipped.
        home = min(months) if months else fallback
        planned = _Planned(
            path, frozenset(months or {fallback}), home if has_unparsable or not months else None, expression
        )
        self._plan[name] = planned
        return planned

    def _stream_to(self, name: str, dest: Path) -> None:
        response = self._client.get_object(self._source.namespace, self._bucket, name, retry_strategy=self._retry)
        with dest.open("wb") as handle:
            for chunk in response.data.raw.stream(_CHUNK_BYTES, decode_content=False):
                handle.write(chunk)

    async def download(self, obj: SourceObject, dest: Path) -> None:
        planned = self._plan.get(obj.key)
        if planned is None:
            await _call(lambda: self._stream_to(obj.key, dest), obj.uri)
            return
        if len(planned.months) == 1:
            await asyncio.to_thread(shutil.copyfile, planned.path, dest)
            return
        with_unparsable = obj.billing_period == planned.home
        try:
            await asyncio.to_thread(
                _write_month, planned.path, dest, planned.month_sql, obj.billing_period, with_unparsable
            )
        except duckdb.Error as exc:
            # DuckDB's message names the connector's temporary copy: name the object instead.
            raise FailedPrecondition(
                f"{obj.uri}: cannot be split by billing month ({type(exc).__name__})", reason="NOT_AN_OCI_REPORT"
            ) from None


def _read(path: Path) -> str:
    quoted = "'" + str(path).replace("'", "''") + "'"
    return f"read_csv({quoted}, all_varchar = true, header = true, delim = ',', quote = '\"')"


def _header_of(path: Path) -> list[str] | None:
    """The report's column names, or None when it cannot be read as a report (its load says why)."""
    con = duckdb.connect()
    try:
        return read_header(con, path)
    except (CloudactError, duckdb.Error):
        return None
    finally:
        con.close()


def _months_in(path: Path, month_expression: str) -> tuple[set[date], bool]:
    """The UTC months of a report's rows, and whether some row has none."""
    con = duckdb.connect()
    try:
        con.execute("SET TimeZone = 'UTC'")
        rows = con.execute(f"SELECT DISTINCT {month_expression} FROM {_read(path)}").fetchall()
    except duckdb.Error:
        return set(), True
    finally:
        con.close()
    months = {r[0] for r in rows if r[0] is not None}
    return months, any(r[0] is None for r in rows)


def _write_month(src: Path, dest: Path, month_expression: str, month: date, with_unparsable: bool) -> None:
    """Writes the rows of ``src`` that belong to ``month`` to ``dest`` (same format)."""
    keep = f"{month_expression} = DATE '{month.isoformat()}'"
    if with_unparsable:
        keep = f"({keep}) IS NOT FALSE"
    compression = "gzip" if dest.name.lower().endswith(".gz") else "none"
    quoted = "'" + str(dest).replace("'", "''") + "'"
    con = duckdb.connect()
    try:
        con.execute("SET TimeZone = 'UTC'")
        con.execute("SET preserve_insertion_order = true")
        con.execute(
            f"COPY (SELECT * FROM {_read(src)} WHERE {keep}) TO {quoted} "
            f"(FORMAT csv, HEADER true, COMPRESSION {compression})"
        )
    finally:
        con.close()


def _next_month(day: date) -> date:
    return date(day.year + day.month // 12, day.month % 12 + 1, 1)


def _months(start: datetime, end: datetime) -> list[date]:
    """The calendar months that [start, end) touches."""
    month, months = date(start.year, start.month, 1), []
    while datetime(month.year, month.month, 1, tzinfo=UTC) < end:
        months.append(month)
        month = _next_month(month)
    return months


def _path_day(name: str) -> datetime | None:
    """``FOCUS Reports/2025/01/14/x.csv.gz`` -> 2025-01-14 00:00 UTC; None when the path has no day."""
    match = _DAY_PATH.search(name)
    if match is None:
        return None
    try:
        return datetime(int(match[1]), int(match[2]), int(match[3]), tzinfo=UTC)
    except ValueError:
        return None


async def _call(fn: Callable[[], _T], location: str) -> _T:
    """Runs one blocking SDK call in a thread, translating its errors."""
    async with TranslatedErrors(location, _translate):
        return await asyncio.to_thread(fn)


def _translate(exc: BaseException, location: str) -> CloudactError | None:
    """The one place OCI SDK errors become CloudactErrors, naming the Object Storage location, the
    status and the error code; never the SDK's message, which repeats what the endpoint answered."""
    if not isinstance(exc, Exception):
        return None  # cancellation and the like pass through
    if isinstance(exc, oci.exceptions.ServiceError):
        return _from_service_error(exc, location)
    transient = (oci.exceptions.RequestException, oci.exceptions.ConnectTimeout, ConnectionError, TimeoutError)
    if isinstance(exc, transient):
        return Unavailable(
            f"cannot reach OCI Object Storage for {location}: {type(exc).__name__}", reason="SOURCE_UNAVAILABLE"
        )
    if isinstance(exc, OSError):
        return Unavailable(f"I/O error reading {location}: {type(exc).__name__}", reason="SOURCE_UNAVAILABLE")
    return FailedPrecondition(f"unexpected error reading {location}: {type(exc).__name__}")


def _from_service_error(exc: Any, location: str) -> CloudactError:
    """An error status from Object Storage (or whatever answered at the endpoint)."""
    status, code = int(exc.status), error_code(exc.code)
    said = code or f"HTTP {status}"
    if status == 401:
        return Unauthenticated(f"OCI rejected the credential's API key ({said}) reading {location}")
    if status == 403:
        return PermissionDenied(f"the credential may not read {location} ({said})", reason="SOURCE_PERMISSION_DENIED")
    if status == 404:
        hint = (
            "; OCI answers NotAuthorizedOrNotFound both for a missing bucket and for a missing "
            "cross-tenancy 'read objects in tenancy usage-report' policy"
            if code in ("NotAuthorizedOrNotFound", "BucketNotFound")
            else ""
        )
        return NotFound(f"{location} does not exist or is not readable ({said}){hint}", reason="SOURCE_NOT_FOUND")
    what = f"{status} {code}".strip()
    if status == 429 or status >= 500:
        return Unavailable(f"OCI Object Storage error {what} reading {location}", reason="SOURCE_UNAVAILABLE")
    return FailedPrecondition(f"OCI Object Storage error {what} reading {location}")
