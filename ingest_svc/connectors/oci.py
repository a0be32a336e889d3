"""OCI cost reports from Oracle-owned Object Storage, read with the (synchronous) ``oci`` SDK.

Layout: namespace ``bling``, bucket = the tenancy OCID, objects ``reports/cost-csv/<sequence>.csv.gz``.
There is no manifest: every object is a complete, immutable, append-only delivery covering a slice
of time (about 6 hours), and a correction arrives as a new row in a later file.

Which billing month a file belongs to is not in its name, so the connector reads it: the
cheapest reliable way. Objects are listed with their creation time; a file created before a
month started cannot hold that month's usage, and one created more than ``late_days`` after the
month ended is assumed not to (so a run does not read a year of files). Each remaining candidate is
downloaded once per run (streamed to the connector's own temporary directory) and its distinct
UTC months of ``lineItem/intervalUsageStart`` are read with DuckDB. A file yields one SourceObject
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
import shutil
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import duckdb
import oci  # type: ignore[import-untyped]
from pydantic import BaseModel, ConfigDict, Field

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
from ingest_svc.connectors.base import ResolvedCredential, SourceObject, parse_credential_part

_CHUNK_BYTES = 8 * 1024 * 1024
_START_COLUMN = "lineItem/intervalUsageStart"
_T = TypeVar("_T")


class OciSourceConfig(BaseModel):
    """Where the reports are; stored as the credential's non-secret config."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    namespace: str = "bling"
    bucket: str | None = None
    """Default: the tenancy OCID of the secret."""
    prefix: str = "reports/cost-csv/"
    endpoint: str | None = None
    late_days: int = Field(default=62, ge=0, le=400)
    max_attempts: int = Field(default=5, ge=1, le=10)


class OciSecret(BaseModel):
    """An OCI API signing key (the fields of an OCI config file, the key inline)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    user: str
    fingerprint: str
    key_content: str
    tenancy: str
    region: str
    pass_phrase: str | None = None


@dataclass(frozen=True)
class _Planned:
    """A listed file cached locally, and what it holds."""

    path: Path
    months: frozenset[date]
    home: date | None
    """The month that also takes the rows whose interval start cannot be parsed."""


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
        first = min(periods)
        last_end = _next_month(max(periods))
        # A file is created after the usage it reports (a day of slack for clock skew), and at most
        # late_days after the month it reports ended.
        created_from = datetime(first.year, first.month, first.day, tzinfo=UTC) - timedelta(days=1)
        created_to = datetime(last_end.year, last_end.month, 1, tzinfo=UTC) + timedelta(days=self._source.late_days)
        location = self._uri(self._source.prefix)
        summaries = await _call(self._list_all, location)
        objects: list[SourceObject] = []
        for summary in sorted(summaries, key=lambda s: str(s.name)):
            name = str(summary.name)
            if name.endswith("/") or not name.lower().endswith((".csv", ".csv.gz", ".gz")):
                continue
            created = summary.time_created
            if created is not None and not created_from <= created < created_to:
                continue
            planned = await self._fetch_and_scan(name, min(periods))
            for month in sorted(planned.months & wanted):
                objects.append(SourceObject(self._uri(name), name, int(summary.size or 0), month))
        return objects

    def _list_all(self) -> list[Any]:
        # Paged by hand: oci.pagination wraps every page call in the SDK's default retry strategy
        # (measured: ~90 s of back-off on a 503 even with NoneRetryStrategy passed), ignoring ours.
        objects: list[Any] = []
        start: str | None = None
        while True:
            page = self._client.list_objects(
                self._source.namespace,
                self._bucket,
                prefix=self._source.prefix,
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
        months, has_unparsable = await asyncio.to_thread(_months_in, path)
        # A file whose months cannot be read goes to the earliest requested month, where reading it
        # fails with the format's precise error instead of the file being silently skipped.
        home = min(months) if months else fallback
        planned = _Planned(path, frozenset(months or {fallback}), home if has_unparsable or not months else None)
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
        await asyncio.to_thread(_write_month, planned.path, dest, obj.billing_period, with_unparsable)


def _month_expr() -> str:
    start = '"' + _START_COLUMN.replace('"', '""') + '"'
    # The same parse as the raw SELECT (oci_formats): text -> TIMESTAMPTZ -> UTC month.
    return f"CAST(date_trunc('month', timezone('UTC', TRY_CAST(NULLIF({start}, '') AS TIMESTAMPTZ))) AS DATE)"


def _read(path: Path) -> str:
    quoted = "'" + str(path).replace("'", "''") + "'"
    return f"read_csv({quoted}, all_varchar = true, header = true, delim = ',', quote = '\"')"


def _months_in(path: Path) -> tuple[set[date], bool]:
    """The UTC months of a cost report's interval starts, and whether some row has none."""
    con = duckdb.connect()
    try:
        con.execute("SET TimeZone = 'UTC'")
        rows = con.execute(f"SELECT DISTINCT {_month_expr()} FROM {_read(path)}").fetchall()
    except duckdb.Error:
        return set(), True
    finally:
        con.close()
    months = {r[0] for r in rows if r[0] is not None}
    return months, any(r[0] is None for r in rows)


def _write_month(src: Path, dest: Path, month: date, with_unparsable: bool) -> None:
    """Writes the rows of ``src`` whose interval starts in ``month`` to ``dest`` (same format)."""
    keep = f"{_month_expr()} = DATE '{month.isoformat()}'"
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


async def _call(fn: Callable[[], _T], location: str) -> _T:
    """Runs one blocking SDK call in a thread, translating its errors."""
    try:
        return await asyncio.to_thread(fn)
    except CloudactError:
        raise
    except Exception as exc:
        raise _translate(exc, location) from exc


def _translate(exc: Exception, location: str) -> CloudactError:
    """The one place OCI SDK errors become CloudactErrors, naming the Object Storage location."""
    if isinstance(exc, oci.exceptions.ServiceError):
        status, code = int(exc.status), str(exc.code)
        if status == 401:
            return Unauthenticated(f"OCI rejected the credential's API key ({code}) reading {location}")
        if status == 403:
            return PermissionDenied(
                f"the credential may not read {location} ({code})", reason="SOURCE_PERMISSION_DENIED"
            )
        if status == 404:
            hint = (
                "; OCI answers NotAuthorizedOrNotFound both for a missing bucket and for a missing "
                "cross-tenancy 'read objects in tenancy usage-report' policy"
                if code in ("NotAuthorizedOrNotFound", "BucketNotFound")
                else ""
            )
            return NotFound(f"{location} does not exist or is not readable ({code}){hint}", reason="SOURCE_NOT_FOUND")
        if status == 429 or status >= 500:
            return Unavailable(
                f"OCI Object Storage error {status} {code} reading {location}", reason="SOURCE_UNAVAILABLE"
            )
        return FailedPrecondition(f"OCI Object Storage error {status} {code} reading {location}: {exc.message}")
    transient = (oci.exceptions.RequestException, oci.exceptions.ConnectTimeout, ConnectionError, TimeoutError)
    if isinstance(exc, transient):
        return Unavailable(
            f"cannot reach OCI Object Storage for {location}: {type(exc).__name__}", reason="SOURCE_UNAVAILABLE"
        )
    if isinstance(exc, OSError):
        return Unavailable(f"I/O error reading {location}: {exc}", reason="SOURCE_UNAVAILABLE")
    return FailedPrecondition(f"unexpected error reading {location}: {type(exc).__name__}: {exc}")
