"""GCP Cloud Billing export in BigQuery, read with the (synchronous) google-cloud-bigquery client.

Source: the customer's export table ``{project}.{dataset}.{table}``, either the standard
(``gcp_billing_export_v1_<ACCOUNT>``) or the detailed (``gcp_billing_export_resource_v1_<ACCOUNT>``,
adding ``resource`` and ``price``) usage cost export. Google appends rows to it all day, partitioned
by ingestion time (``_PARTITIONTIME``); rows have no id, and late or corrected rows arrive with a later
``export_time``, even after their invoice month closed.

Incremental read, and why it is idempotent with the runner's slice replacement: the runner replaces
the (credential, billing month) slice of the raw table with what the connector returns for that
month, so the connector returns, for every requested ``invoice.month``, the WHOLE month as of one
snapshot cutoff, never a delta:

1. ``list_objects`` takes the cutoff from BigQuery's own clock (``CURRENT_TIMESTAMP()``: export_time
   is stamped by Google, so the local clock's skew cannot move it), then counts each requested month's
   rows with ``export_time <= cutoff`` and returns one SourceObject per month that has rows.
2. ``download`` runs one query per month, ``invoice.month = M AND export_time <= cutoff``, and streams
   its Arrow result, page by page, into a local Parquet file that ``formats.build_raw_select``
   parses like any extracted export (nested records kept).

A late row (later export_time, same month) is therefore picked up by the next run of its month, which
rereads and replaces the month: nothing is counted twice, and a re-run with no new rows rewrites the
same rows. The cutoff keeps every query of a run on the same rows: rows Google streams in during the
run carry an export_time after the cutoff and wait for the next run; a row stamped before the cutoff
but visible only after the month's query is, again, read by the next run. Each query also bounds its
scan below, so it does not read the table's whole history: usage is exported after it happens, so
``export_time`` and ``_PARTITIONTIME`` (NULL while rows sit in the streaming buffer, so NULL is kept)
start on the first day of the month BEFORE the invoice month (a month of slack for charges billed
ahead, e.g. subscription fees); only an ingestion-time partitioned table gets the partition filter.

Not done: skipping a month whose (row count, max export_time) did not change since the last run,
because the runner replaces the slice of every requested month, so a skipped month would be emptied.
The result is paged over REST (``tabledata.list``); the BigQuery Storage Read API would be faster for
very large months but needs another package and is not served by the emulator.

Authentication: the secret is a service account key (the JSON key file's fields), loaded with
``google.oauth2.service_account.Credentials``: the client signs a JWT grant with it and exchanges it at
the key's ``token_uri`` for OAuth access tokens (the standard flow; BigQuery does not reliably accept
self-signed JWTs). When config ``api_endpoint`` names an emulator, requests go unauthenticated
(``AnonymousCredentials``): the emulator serves no token endpoint, and service account credentials call
Google on their own (the token exchange, and since google-auth 2.5x a Regional Access Boundary lookup at
iamcredentials.googleapis.com after every refresh), which must not leave the machine in tests. The key
is still validated and its private key loaded, so a malformed key fails there as it would in production.

The client is synchronous (requests): every call runs in ``asyncio.to_thread``; its errors become
CloudactErrors in ``_translate`` only.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import google.auth.exceptions
import pyarrow.parquet as pq
import requests
from google.api_core import exceptions as api_exceptions
from google.api_core.client_options import ClientOptions
from google.api_core.retry import Retry
from google.auth.credentials import AnonymousCredentials, Credentials
from google.cloud import bigquery
from google.cloud.bigquery.retry import DEFAULT_JOB_RETRY, DEFAULT_RETRY
from google.oauth2 import service_account

from cloudact_providers.connector import (
    ResolvedCredential,
    SourceObject,
    TranslatedErrors,
    error_code,
    parse_credential_part,
)
from cloudact_providers.gcp.credential import GcpServiceAccountKey, GcpSourceConfig
from cloudact_providers.gcp.formats import REQUIRED_PATHS
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

# Running query jobs needs the bigquery scope (bigquery.readonly cannot create jobs); IAM still limits
# the service account to what it was granted (BigQuery Data Viewer + Job User).
_SCOPES = ("https://www.googleapis.com/auth/bigquery",)
_REQUIRED_FIELDS = (*REQUIRED_PATHS, "export_time")
_THROTTLED = {"rateLimitExceeded", "quotaExceeded"}
_NO_RETRY = Retry(predicate=lambda exc: False)
_T = TypeVar("_T")


@dataclass(frozen=True)
class _Snapshot:
    """What one run reads: rows exported up to ``cutoff``, and which partition filter applies."""

    cutoff: datetime
    partitioned_by_ingestion: bool


class BigQueryBillingExportConnector:
    """Returns one SourceObject per requested invoice month holding rows, and extracts each to Parquet."""

    def __init__(self, credential: ResolvedCredential) -> None:
        self._source = parse_credential_part(GcpSourceConfig, credential.config, "credential.config", "GCP")
        key = parse_credential_part(GcpServiceAccountKey, credential.secret, "credential.secret", "GCP")
        self._credentials: Credentials | None = _credentials(key, emulator=self._source.api_endpoint is not None)
        seconds = self._source.retry_seconds
        # The client's default retries last 10 minutes; a run has a deadline, so they are bounded.
        self._retry: Retry = DEFAULT_RETRY.with_timeout(seconds) if seconds else _NO_RETRY
        self._job_retry: Retry | None = DEFAULT_JOB_RETRY.with_timeout(seconds) if seconds else None
        self._client: bigquery.Client | None = None
        self._snapshot: _Snapshot | None = None

    @property
    def _table_id(self) -> str:
        return f"{self._source.project}.{self._source.dataset}.{self._source.table}"

    async def __aenter__(self) -> BigQueryBillingExportConnector:
        options = ClientOptions(api_endpoint=self._source.api_endpoint) if self._source.api_endpoint else None
        self._client = bigquery.Client(
            project=self._source.project,
            credentials=self._credentials,
            location=self._source.location,
            client_options=options,
        )
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._client is not None:
            self._client.close()  # type: ignore[no-untyped-call]
            self._client = None
        self._credentials = None

    def _uri(self, period: date) -> str:
        assert self._snapshot is not None
        cutoff = self._snapshot.cutoff.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        path = f"{self._source.project}/{self._source.dataset}/{self._source.table}"
        return f"bigquery://{path}?invoice.month={period:%Y%m}&export_time<={cutoff}"

    async def list_objects(self, periods: Sequence[date]) -> list[SourceObject]:
        if not periods:
            return []
        partitioned = await self._check_table()
        cutoff = await _call(self._server_now, f"BigQuery project {self._source.project}")
        self._snapshot = _Snapshot(cutoff, partitioned)
        counts = await _call(lambda: self._month_counts(periods), f"BigQuery table {self._table_id}")
        # The size is unknown until extracted: BigQuery counts rows, not file bytes, before the query.
        return [
            SourceObject(self._uri(p), f"{self._source.table}-{p:%Y%m}.parquet", 0, p)
            for p in sorted(periods)
            if counts.get(f"{p:%Y%m}", 0) > 0
        ]

    async def download(self, obj: SourceObject, dest: Path) -> None:
        await _call(lambda: self._extract(obj.billing_period, dest, obj.uri), obj.uri)

    async def _check_table(self) -> bool:
        """Fails precisely on a missing dataset or table, or a table that is not a billing export.

        Returns whether the table is partitioned by ingestion time (``_PARTITIONTIME`` exists).
        """
        client = self._require_client()
        dataset = f"{self._source.project}.{self._source.dataset}"
        await _call(lambda: client.get_dataset(dataset, retry=self._retry), f"BigQuery dataset {dataset}")
        table = await _call(
            lambda: client.get_table(self._table_id, retry=self._retry), f"BigQuery table {self._table_id}"
        )
        present = set(_field_paths(table.schema))
        missing = [p for p in _REQUIRED_FIELDS if p not in present]
        if missing:
            raise FailedPrecondition(
                f"BigQuery table {self._table_id} is not a Cloud Billing export: it has no {', '.join(missing)}",
                reason="NOT_A_GCP_BILLING_EXPORT",
            )
        partitioning = table.time_partitioning
        return partitioning is not None and partitioning.field is None

    def _require_client(self) -> bigquery.Client:
        assert self._client is not None, "use the connector as an async context manager"
        return self._client

    def _query(self, sql: str, params: list[Any]) -> bigquery.table.RowIterator:
        job = self._require_client().query(
            sql,
            job_config=bigquery.QueryJobConfig(query_parameters=params, use_legacy_sql=False),
            retry=self._retry,
            job_retry=self._job_retry,
        )
        return job.result(retry=self._retry)

    def _server_now(self) -> datetime:
        rows = list(self._query("SELECT CURRENT_TIMESTAMP() AS now", []))
        return rows[0]["now"]  # type: ignore[no-any-return]

    def _where(self, month_filter: str) -> str:
        """The run's filter: the months, the cutoff, and the scan's lower bound (``@lower``)."""
        assert self._snapshot is not None
        clauses = [month_filter, "export_time <= @cutoff", "export_time >= @lower"]
        if self._snapshot.partitioned_by_ingestion:
            clauses.append("(_PARTITIONTIME >= @lower OR _PARTITIONTIME IS NULL)")
        return " AND ".join(clauses)

    def _bounds(self, first: date) -> list[Any]:
        assert self._snapshot is not None
        before = first.replace(day=1) - timedelta(days=1)
        lower = datetime(before.year, before.month, 1, tzinfo=UTC)
        return [
            bigquery.ScalarQueryParameter("cutoff", "TIMESTAMP", self._snapshot.cutoff),
            bigquery.ScalarQueryParameter("lower", "TIMESTAMP", lower),
        ]

    def _month_counts(self, periods: Sequence[date]) -> dict[str, int]:
        months = sorted(f"{p:%Y%m}" for p in periods)
        sql = (
            f"SELECT invoice.month AS month, COUNT(*) AS row_count FROM `{self._table_id}` "
            f"WHERE {self._where('invoice.month IN UNNEST(@months)')} GROUP BY month"
        )
        params = [bigquery.ArrayQueryParameter("months", "STRING", months), *self._bounds(min(periods))]
        return {str(row["month"]): int(row["row_count"]) for row in self._query(sql, params)}

    def _extract(self, period: date, dest: Path, uri: str) -> None:
        """Streams the month's rows (as of the cutoff) into ``dest`` as Parquet, one page at a time."""
        sql = f"SELECT * FROM `{self._table_id}` WHERE {self._where('invoice.month = @month')}"
        params = [bigquery.ScalarQueryParameter("month", "STRING", f"{period:%Y%m}"), *self._bounds(period)]
        writer: pq.ParquetWriter | None = None
        try:
            for batch in self._query(sql, params).to_arrow_iterable(bqstorage_client=None):
                if writer is None:
                    writer = pq.ParquetWriter(dest, batch.schema)
                writer.write_batch(batch)
        finally:
            if writer is not None:
                writer.close()
        if writer is None:
            raise FailedPrecondition(f"{uri}: the month's rows counted at the start of the run are gone")


def _credentials(key: GcpServiceAccountKey, *, emulator: bool) -> Credentials:
    """The key as google-auth credentials; anonymous against an emulator (see the module doc).

    Raises:
        InvalidArgument: the private key cannot be loaded (the message never quotes it).
    """
    try:
        loaded = service_account.Credentials.from_service_account_info(  # type: ignore[no-untyped-call]
            key.model_dump(exclude_none=True), scopes=_SCOPES
        )
    except ValueError:
        raise InvalidArgument(
            "credential.secret.private_key is not a usable PEM private key",
            reason="BAD_CREDENTIAL_CONFIG",
            violations=[FieldViolation("credential.secret.private_key", "not a PEM private key")],
        ) from None
    credentials: Credentials = AnonymousCredentials() if emulator else loaded  # type: ignore[no-untyped-call]
    return credentials


def _field_paths(fields: Sequence[bigquery.SchemaField], prefix: str = "") -> list[str]:
    """Every dotted field path of a BigQuery schema (``invoice.month``)."""
    paths: list[str] = []
    for field in fields:
        path = prefix + field.name
        paths.append(path)
        paths.extend(_field_paths(field.fields, path + "."))
    return paths


async def _call(fn: Callable[[], _T], location: str) -> _T:
    """Runs one blocking client call in a thread, translating its errors."""
    async with TranslatedErrors(location, _translate):
        return await asyncio.to_thread(fn)


def _translate(exc: BaseException, location: str) -> CloudactError | None:
    """The one place BigQuery and google-auth errors become CloudactErrors, naming what was read, the
    HTTP status and the error reasons; never the errors' messages, which repeat the response body of
    whatever answered at the endpoint or token_uri."""
    if isinstance(exc, google.auth.exceptions.RefreshError):
        return Unauthenticated(f"Google rejected the service account key ({_oauth_error(exc)}) reading {location}")
    if isinstance(exc, api_exceptions.Unauthorized):
        return Unauthenticated(f"BigQuery rejected the credential reading {location} ({_status(exc)})")
    if isinstance(exc, api_exceptions.Forbidden) and not _reasons(exc) & _THROTTLED:
        return PermissionDenied(
            f"the service account may not read {location} ({_status(exc)})", reason="SOURCE_PERMISSION_DENIED"
        )
    if isinstance(exc, api_exceptions.NotFound):
        return NotFound(f"{location} does not exist or the service account cannot see it", reason="SOURCE_NOT_FOUND")
    if isinstance(exc, api_exceptions.Forbidden | api_exceptions.TooManyRequests | api_exceptions.ServerError):
        return Unavailable(
            f"BigQuery is throttling or failing on {location} ({_status(exc)})", reason="SOURCE_UNAVAILABLE"
        )
    if isinstance(exc, api_exceptions.RetryError | google.auth.exceptions.TransportError):
        cause = exc.cause if isinstance(exc, api_exceptions.RetryError) else exc.__cause__
        what = type(cause or exc).__name__
        return Unavailable(f"cannot reach BigQuery for {location}: {what}", reason="SOURCE_UNAVAILABLE")
    if isinstance(exc, requests.exceptions.ConnectionError | requests.exceptions.Timeout | ConnectionError):
        return Unavailable(f"cannot reach BigQuery for {location}: {type(exc).__name__}", reason="SOURCE_UNAVAILABLE")
    if isinstance(exc, api_exceptions.GoogleAPICallError):
        return FailedPrecondition(f"BigQuery refused a request on {location} ({_status(exc)})")
    if isinstance(exc, google.auth.exceptions.GoogleAuthError):
        return Unauthenticated(f"the credential cannot sign in reading {location} ({type(exc).__name__})")
    return None


def _status(exc: api_exceptions.GoogleAPICallError) -> str:
    """``HTTP 400 invalidQuery``: the status and the error reasons, without the message."""
    reasons = sorted(error_code(r) for r in _reasons(exc))
    return " ".join([f"HTTP {exc.code}" if exc.code else type(exc).__name__, *reasons])


def _oauth_error(exc: google.auth.exceptions.RefreshError) -> str:
    """The OAuth error code of a refused token request (``invalid_grant``), without its description."""
    response = exc.args[1] if len(exc.args) > 1 else None
    code = error_code(response.get("error")) if isinstance(response, dict) else ""
    return code or "token request refused"


def _reasons(exc: api_exceptions.GoogleAPICallError) -> set[str]:
    """The ``reason`` of each error BigQuery returned (e.g. rateLimitExceeded)."""
    return {str(e["reason"]) for e in exc.errors if isinstance(e, dict) and e.get("reason")}
