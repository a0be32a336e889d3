"""The BigQuery backend: one dataset per organisation, ``{bigquery_dataset_prefix}{org}_prod``.

Types (schema file -> BigQuery):

====================  ==========================================================================
STRING, INT64,        as is
FLOAT64, BOOL,
DATE, TIMESTAMP
JSON                  STRING (the embedded path and the SQL treat JSON columns as text)
DECIMAL(p,s), s <= 9  NUMERIC(p,s) (e.g. DECIMAL(38,9) -> NUMERIC(38,9))
DECIMAL(p,s), s > 9   BIGNUMERIC(p,s): NUMERIC's scale stops at 9, and money must stay exact to
                      its last decimal (DECIMAL(38,12) -> BIGNUMERIC(38,12))
MAP<K,V>              ARRAY<STRUCT<key K, value V>> (REPEATED RECORD), the shape of DuckDB's
                      map_entries and of the GCP export's labels; Arrow map columns are written
                      as list<struct<key, value>> and read back as maps
ARRAY<T>              ARRAY<T> (REPEATED T)
mode REQUIRED         NOT NULL (kept)
====================  ==========================================================================

BigQuery has no NULL arrays: a NULL MAP or ARRAY value is stored, and read back, empty.

Tables are created with DDL (``CREATE TABLE IF NOT EXISTS``: race-free, and the one form that
creates BIGNUMERIC(p,s) columns on bqemulator, whose REST tables.insert cannot), DAY-partitioned on
the schema's partition column when it is a DATE or TIMESTAMP, else by its ``time_partition`` (the
FOCUS table: MONTH of ChargePeriodStart), with partition expiration ``retention_days``, clustering
on ``sort_by`` (BigQuery's limit: 4 columns), and descriptions.
Schema changes are additive: missing columns are added, descriptions and clustering follow the
schema; a changed or vanished column is refused, never dropped.

A slice is replaced by loading the new rows, streamed into Parquet files of bounded size, into a
staging table with load jobs, then one multi-statement transaction deletes the slice, inserts the
staged rows and bumps the table's row in ``_cloudact_versions``. BigQuery rolls the transaction back
on any error, so the previous slice stays whole. Job ids derive from the caller's ``job_key``: a
retry finds the jobs of an earlier attempt and waits for them instead of applying the write again.

Versions: BigQuery's ``lastModifiedTime`` grows with DML by anyone, but bqemulator does not update it
on DML (checked with 1.4.0), so each write also bumps a counter in ``_cloudact_versions`` inside its
transaction; the version is the larger of the two, which grows with every write on both.

Reads go through the Storage Read API (Arrow), with column selection and row restrictions pushed
down. ``vacuum`` has nothing to do: BigQuery keeps time travel and storage itself.
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import random
import re
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as pads
import pyarrow.parquet as pq
from google.api_core import exceptions as gexc
from google.api_core.client_options import ClientOptions
from google.api_core.retry import Retry, if_transient_error
from google.cloud import bigquery

from cloudact_shared.errors import Aborted, FailedPrecondition, InvalidArgument, NotFound, Unavailable
from cloudact_shared.naming import ORG_SLUG_PATTERN
from cloudact_shared.storage.batches import fixed_size_tables
from cloudact_shared.storage.protocol import Condition, SliceKey, StoreCapabilities
from cloudact_shared.storage.schema import Column, TableSchema

if TYPE_CHECKING:
    from google.cloud.bigquery_storage_v1 import BigQueryReadClient

    from cloudact_shared.settings import CloudactSettings

_log = logging.getLogger(__name__)

VERSIONS_TABLE = "_cloudact_versions"
STAGE_PREFIX = "_stage_"
_MAX_CLUSTERING_COLUMNS = 4
# Types BigQuery can cluster on (not FLOAT64, not arrays or records).
_CLUSTERABLE = {"STRING", "INT64", "NUMERIC", "BIGNUMERIC", "DATE", "TIMESTAMP", "BOOL"}
_NUMERIC_MAX_SCALE = 9
_NUMERIC_MAX_INTEGER_DIGITS = 29
_DECIMAL = re.compile(r"^DECIMAL\((\d+),\s*(\d+)\)$")
_MAP = re.compile(r"^MAP<(.+?),\s*(.+)>$")
_ARRAY = re.compile(r"^ARRAY<(.+)>$")
_SIMPLE = {"STRING": "STRING", "JSON": "STRING", "INT64": "INT64", "FLOAT64": "FLOAT64", "BOOL": "BOOL"}
_SIMPLE |= {"DATE": "DATE", "TIMESTAMP": "TIMESTAMP"}
# REST (legacy) type names -> standard SQL names.
_REST_TYPES = {"INTEGER": "INT64", "FLOAT": "FLOAT64", "BOOLEAN": "BOOL", "STRUCT": "RECORD"}
_EMULATED_DECIMAL = re.compile(r"(?:BIG)?NUMERIC(?:\(\d+, \d+\))?")
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,299}$")
_CONFLICT = re.compile(r"concurrent update|could not serialize|aborted due to concurrent", re.IGNORECASE)
_COMMIT_ATTEMPTS = 5
_GENERATIONS = 8
_BACKOFF_FIRST_SECONDS = 0.5
_BACKOFF_MAX_SECONDS = 10.0
_SCOPES = ("https://www.googleapis.com/auth/bigquery", "https://www.googleapis.com/auth/cloud-platform")


# -- the schema in BigQuery's terms --------------------------------------------------------------
def bigquery_type(type_name: str) -> str:
    """The BigQuery (standard SQL) type of a schema type name, as DDL writes it."""
    name = type_name.strip().upper()
    if name in _SIMPLE:
        return _SIMPLE[name]
    if match := _DECIMAL.match(name):
        precision, scale = int(match[1]), int(match[2])
        if scale <= _NUMERIC_MAX_SCALE and precision - scale <= _NUMERIC_MAX_INTEGER_DIGITS:
            return f"NUMERIC({precision}, {scale})"
        return f"BIGNUMERIC({precision}, {scale})"
    if match := _MAP.match(name):
        return f"ARRAY<STRUCT<key {bigquery_type(match[1])}, value {bigquery_type(match[2])}>>"
    if match := _ARRAY.match(name):
        return f"ARRAY<{bigquery_type(match[1])}>"
    raise ValueError(f"unknown column type {type_name!r}")


def schema_field(column: Column) -> bigquery.SchemaField:
    """The REST schema field of a column (what tables.get reports for it on BigQuery)."""
    return _field(column.name, bigquery_type(column.type), column.nullable, column.description)


def _field(name: str, sql_type: str, nullable: bool, description: str | None) -> bigquery.SchemaField:
    if sql_type.startswith("ARRAY<"):
        item = _field(name, sql_type[len("ARRAY<") : -1], True, description)
        return bigquery.SchemaField(
            name, item.field_type, mode="REPEATED", description=description or "", fields=item.fields
        )
    if sql_type.startswith("STRUCT<"):
        inner = sql_type[len("STRUCT<") : -1]
        key, value = (part.strip().split(" ", 1) for part in _split_struct(inner))
        children = [_field(key[0], key[1], True, None), _field(value[0], value[1], True, None)]
        return bigquery.SchemaField(name, "RECORD", mode="NULLABLE", description=description or "", fields=children)
    mode = "NULLABLE" if nullable else "REQUIRED"
    if match := re.match(r"^(BIGNUMERIC|NUMERIC)\((\d+), (\d+)\)$", sql_type):
        return bigquery.SchemaField(
            name, match[1], mode=mode, description=description or "", precision=int(match[2]), scale=int(match[3])
        )
    return bigquery.SchemaField(name, sql_type, mode=mode, description=description or "")


def _split_struct(inner: str) -> list[str]:
    """``key K, value V`` split at its top-level comma (V may hold commas itself)."""
    depth = 0
    for i, char in enumerate(inner):
        if char in "<(":
            depth += 1
        elif char in ">)":
            depth -= 1
        elif char == "," and depth == 0:
            return [inner[:i], inner[i + 1 :]]
    raise ValueError(f"not a key/value struct: {inner!r}")


def partition_column(schema: TableSchema) -> Column | None:
    """The column the table is time-partitioned on: the first partition_by column, when it is a
    DATE or TIMESTAMP (BigQuery partitions on one time or integer column; a STRING one cannot be),
    else the schema's ``time_partition`` column."""
    columns = {c.name: c for c in schema.columns}
    names = [*schema.partition_by[:1], *([schema.time_partition[0]] if schema.time_partition else [])]
    for name in names:
        column = columns.get(name)
        if column is not None and bigquery_type(column.type) in ("DATE", "TIMESTAMP"):
            return column
    return None


def partition_granularity(schema: TableSchema) -> str:
    """DAY, or the schema's ``time_partition`` granularity when that is the partition column."""
    column = partition_column(schema)
    if column is not None and schema.time_partition and schema.time_partition[0] == column.name:
        return schema.time_partition[1]
    return "DAY"


def partition_expression(schema: TableSchema) -> str | None:
    """The DDL's ``PARTITION BY`` expression, None for an unpartitioned table."""
    column = partition_column(schema)
    if column is None:
        return None
    name, granularity = _ident(column.name), partition_granularity(schema)
    if bigquery_type(column.type) == "DATE":
        return name if granularity == "DAY" else f"DATE_TRUNC({name}, {granularity})"
    return f"DATE({name})" if granularity == "DAY" else f"TIMESTAMP_TRUNC({name}, {granularity})"


def clustering_columns(schema: TableSchema) -> list[str]:
    """The schema's sort columns BigQuery can cluster on, at most 4 (its limit)."""
    types = {c.name: bigquery_type(c.type).split("(")[0] for c in schema.columns}
    return [c for c in schema.sort_by if types.get(c) in _CLUSTERABLE][:_MAX_CLUSTERING_COLUMNS]


def create_table_ddl(table_ref: str, schema: TableSchema) -> str:
    """``CREATE TABLE IF NOT EXISTS`` for ``schema`` at ``table_ref`` (backquoted project.dataset.table)."""
    lines = [f"  {_column_ddl(c)}" for c in schema.columns]
    ddl = f"CREATE TABLE IF NOT EXISTS {table_ref} (\n" + ",\n".join(lines) + "\n)"
    options = [f"description = {quote_string(schema.description)}"]
    if (partition := partition_expression(schema)) is not None:
        ddl += f"\nPARTITION BY {partition}"
        if schema.retention_days is not None:
            options.append(f"partition_expiration_days = {int(schema.retention_days)}")
    if clustering := clustering_columns(schema):
        ddl += "\nCLUSTER BY " + ", ".join(_ident(c) for c in clustering)
    return ddl + "\nOPTIONS (" + ", ".join(options) + ")"


def _column_ddl(column: Column, *, nullable: bool | None = None) -> str:
    sql_type = bigquery_type(column.type)
    required = not (column.nullable if nullable is None else nullable) and not sql_type.startswith("ARRAY<")
    text = f"{_ident(column.name)} {sql_type}{' NOT NULL' if required else ''}"
    if column.description:
        text += f" OPTIONS (description = {quote_string(column.description)})"
    return text


def stage_table_ddl(table_ref: str, schema: TableSchema, expires: datetime) -> str:
    """The staging table of a write: the schema's columns, all NULLABLE (NOT NULL is enforced by the
    target table, inside the transaction), expiring at ``expires`` should the writer never drop it."""
    lines = ",\n".join(f"  {_column_ddl(Column(c.name, c.type, True, ''), nullable=True)}" for c in schema.columns)
    return (
        f"CREATE TABLE IF NOT EXISTS {table_ref} (\n{lines}\n)\n"
        f"OPTIONS (expiration_timestamp = {timestamp_literal(expires)})"
    )


# -- literals and parameters -----------------------------------------------------------------------
def quote_string(text: str) -> str:
    """A BigQuery string literal of ``text``: backslash escapes for the quote, the backslash and every
    control or non-ASCII character, so no input can end the literal or change its meaning."""
    out = []
    for char in text:
        if char in ("'", "\\"):
            out.append("\\" + char)
        elif " " <= char <= "~":
            out.append(char)
        else:
            out.append(f"\\U{ord(char):08x}")
    return "'" + "".join(out) + "'"


def timestamp_literal(value: datetime) -> str:
    """``TIMESTAMP '...+00:00'`` of ``value`` in UTC (a naive datetime is taken as UTC)."""
    utc = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return f"TIMESTAMP '{utc.strftime('%Y-%m-%d %H:%M:%S.%f')}+00:00'"


def literal(sql_type: str, value: object) -> str:
    """``value`` as a literal of ``sql_type`` (a scalar standard SQL type name).

    Raises:
        InvalidArgument: the value does not fit the type.
    """
    base = sql_type.split("(")[0]
    if base == "STRING" and isinstance(value, str):
        return quote_string(value)
    if base == "DATE" and isinstance(value, date) and not isinstance(value, datetime):
        return f"DATE '{value.isoformat()}'"
    if base == "TIMESTAMP" and isinstance(value, datetime):
        return timestamp_literal(value)
    if base == "TIMESTAMP" and isinstance(value, date):
        return timestamp_literal(datetime(value.year, value.month, value.day, tzinfo=UTC))
    if base == "INT64" and isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if base in ("NUMERIC", "BIGNUMERIC") and isinstance(value, Decimal | int) and not isinstance(value, bool):
        number = Decimal(value)
        if number.is_finite():
            # A NUMERIC literal would round away decimals past the 9th: such a value is a BIGNUMERIC
            # (compared with a NUMERIC column, BigQuery widens the column).
            exponent = number.as_tuple().exponent
            wide = isinstance(exponent, int) and exponent < -_NUMERIC_MAX_SCALE
            return f"{'BIGNUMERIC' if wide else base} '{number:f}'"
    if base == "FLOAT64" and isinstance(value, int | float | Decimal) and not isinstance(value, bool):
        real = float(value)
        if real == real and abs(real) != float("inf"):  # NaN and infinities have no plain literal
            return repr(real)
    if base == "BOOL" and isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    raise InvalidArgument(f"value {type(value).__name__} does not fit a {sql_type} column", reason="BAD_CONDITION")


def _ident(name: str) -> str:
    if not _IDENTIFIER.fullmatch(name):
        raise InvalidArgument(f"invalid column name {name!r}", reason="BAD_COLUMN_NAME")
    return f"`{name}`"


@dataclass
class Bindings:
    """Values of a statement: query parameters (``@p0``...) or, for bqemulator, literals.

    bqemulator 1.4.0 ignores query parameters in multi-statement scripts ("Values were not provided
    for the following prepared statement parameters"), so against it the same statement is rendered
    with literals, quoted by ``literal``; against BigQuery every value is a query parameter.
    """

    inline: bool
    parameters: list[bigquery.ScalarQueryParameter | bigquery.ArrayQueryParameter] = field(default_factory=list)

    def one(self, sql_type: str, value: object) -> str:
        rendered = literal(sql_type, value)  # validates the value in both modes
        if self.inline:
            return rendered
        name = f"p{len(self.parameters)}"
        self.parameters.append(bigquery.ScalarQueryParameter(name, _parameter_type(sql_type), value))  # type: ignore[arg-type]
        return f"@{name}"

    def many(self, sql_type: str, values: Sequence[object]) -> str:
        rendered = [literal(sql_type, v) for v in values]
        if self.inline:
            return "[" + ", ".join(rendered) + "]"
        name = f"p{len(self.parameters)}"
        self.parameters.append(bigquery.ArrayQueryParameter(name, _parameter_type(sql_type), list(values)))
        return f"@{name}"


def _parameter_type(sql_type: str) -> str:
    return sql_type.split("(")[0]


def slice_predicate(schema: TableSchema, slice_key: SliceKey, bindings: Bindings) -> str:
    """The slice key as a predicate over ``schema``'s table, its values bound through ``bindings``:
    one value -> ``col = @p``, several -> ``col IN UNNEST(@p)``; a date on a TIMESTAMP column
    compares ``DATE(col)`` (UTC), as the embedded store casts it.

    Raises:
        InvalidArgument: an empty key, a column the schema lacks, no values, a value of another type.
    """
    if not slice_key:
        raise InvalidArgument("a slice key needs at least one column", reason="BAD_SLICE_KEY")
    types = {c.name: bigquery_type(c.type) for c in schema.columns}
    clauses = []
    for column, value in slice_key.items():
        if column not in types:
            raise InvalidArgument(f"slice column {column!r} is not in {schema.table}", reason="BAD_SLICE_KEY")
        values: list[object] = [value] if isinstance(value, str | date) else list(value)
        if not values:
            raise InvalidArgument(f"slice column {column} has no values", reason="BAD_SLICE_KEY")
        target = _ident(column)
        sql_type = types[column]
        if sql_type == "TIMESTAMP" and all(isinstance(v, date) and not isinstance(v, datetime) for v in values):
            target, sql_type = f"DATE({target})", "DATE"
        if isinstance(value, str | date):
            clauses.append(f"{target} = {bindings.one(sql_type, value)}")
        else:
            clauses.append(f"{target} IN UNNEST({bindings.many(sql_type, values)})")
    return " AND ".join(clauses)


def replace_script(
    table_ref: str, stage_ref: str, versions_ref: str, schema: TableSchema, slice_key: SliceKey, bindings: Bindings
) -> str:
    """The transaction that swaps the slice for the staged rows and bumps the table's version."""
    predicate = slice_predicate(schema, slice_key, bindings)
    columns = ", ".join(_ident(c) for c in schema.column_names)
    table = bindings.one("STRING", schema.table)
    return (
        "BEGIN TRANSACTION;\n"
        f"DELETE FROM {table_ref} WHERE {predicate};\n"
        f"INSERT INTO {table_ref} ({columns}) SELECT {columns} FROM {stage_ref};\n"
        f"{version_bump_sql(versions_ref, table)};\n"
        "COMMIT TRANSACTION;"
    )


def version_bump_sql(versions_ref: str, table: str) -> str:
    """The MERGE that bumps ``table``'s write counter in ``_cloudact_versions`` (``table``: a SQL string
    expression). Every writer of a table runs it inside its write transaction (the slice replace here,
    focus_svc's procedure), so ``version`` sees writes even where lastModifiedTime does not move."""
    return (
        f"MERGE {versions_ref} AS v USING (SELECT {table} AS table_name) AS s ON v.table_name = s.table_name\n"
        "WHEN MATCHED THEN UPDATE SET version = GREATEST(v.version + 1, UNIX_MILLIS(CURRENT_TIMESTAMP()))\n"
        "WHEN NOT MATCHED THEN INSERT (table_name, version) VALUES (s.table_name, UNIX_MILLIS(CURRENT_TIMESTAMP()))"
    )


def row_restriction(types: dict[str, str], where: Sequence[Condition]) -> str | None:
    """``where`` as a Storage Read API row restriction (literals only: it takes no parameters), or
    None when a condition can match nothing (an empty "in").

    Raises:
        InvalidArgument: a column not in ``types`` or not filterable, a bad operator or value.
    """
    clauses = []
    for condition in where:
        sql_type = types.get(condition.column)
        if sql_type is None:
            raise InvalidArgument(f"no column {condition.column!r} to filter on", reason="UNKNOWN_COLUMN")
        if sql_type.startswith(("ARRAY", "RECORD")):
            raise InvalidArgument(f"column {condition.column} cannot be filtered on", reason="BAD_CONDITION")
        column = _ident(condition.column)
        value = condition.value
        if condition.op == "in":
            if isinstance(value, str) or not isinstance(value, Sequence):
                raise InvalidArgument(f"'in' on {condition.column} needs a sequence of values", reason="BAD_CONDITION")
            if not value:
                return None
            clauses.append(f"{column} IN ({', '.join(literal(sql_type, v) for v in value)})")
        elif condition.op in ("=", ">=", "<"):
            if isinstance(value, Sequence) and not isinstance(value, str):
                raise InvalidArgument(f"{condition.op!r} on {condition.column} needs one value", reason="BAD_CONDITION")
            clauses.append(f"{column} {condition.op} {literal(sql_type, value)}")
        else:
            raise InvalidArgument(f"unknown condition operator {condition.op!r}", reason="BAD_CONDITION")
    return " AND ".join(clauses)


# -- the store -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Target:
    """One write's names and ids."""

    table_ref: str
    stage: str
    stage_ref: str
    versions_ref: str
    ids: Callable[[str], str]


class BigQueryTableStore:
    """Tables in BigQuery datasets; writes by load jobs and transactions, reads by the Storage Read API."""

    capabilities = StoreCapabilities(sql_dialect="bigquery", supports_procedures=True, max_identifier_length=1024)

    def __init__(
        self,
        project: str,
        *,
        location: str = "US",
        dataset_prefix: str = "",
        credentials_file: Path | None = None,
        endpoint: str | None = None,
        read_endpoint: str | None = None,
        batch_rows: int = 65_536,
        file_rows: int = 1_000_000,
        api_deadline: float = 120.0,
        job_timeout: float = 3600.0,
        stage_max_age: timedelta = timedelta(days=1),
    ) -> None:
        """A store in ``project``.

        ``endpoint``: a loopback emulator's REST endpoint (then no credentials are sent);
        ``read_endpoint``: its Storage Read API as plaintext gRPC ``host:port``. ``batch_rows`` rows
        are held at a time when writing, ``file_rows`` rows go into each loaded Parquet file.

        Raises:
            ValueError: an endpoint that is not on loopback, or a bad size.
        """
        if batch_rows < 1 or file_rows < batch_rows:
            raise ValueError("batch_rows must be positive and file_rows at least batch_rows")
        self._project = project
        self._location = location
        self._prefix = dataset_prefix
        self._emulated = endpoint is not None
        self._read_endpoint = read_endpoint
        self._batch_rows = batch_rows
        self._file_rows = file_rows
        self._retry = Retry(deadline=api_deadline)
        # Storage Read: RESOURCE_EXHAUSTED there is a message over the server's size, which a retry
        # only repeats (bqemulator's 11 MB limit); every other transient error is retried.
        self._read_retry = Retry(
            predicate=lambda exc: if_transient_error(exc) and not isinstance(exc, gexc.ResourceExhausted),
            deadline=api_deadline,
        )
        self._job_timeout = job_timeout
        self._stage_max_age = stage_max_age
        if endpoint is not None:
            _require_loopback(endpoint, "bigquery_endpoint")
            from google.auth.credentials import AnonymousCredentials

            self._credentials: Any = AnonymousCredentials()  # type: ignore[no-untyped-call]
            options: ClientOptions | None = ClientOptions(api_endpoint=endpoint)
        else:
            self._credentials = _credentials(credentials_file)
            options = None
        self._client = bigquery.Client(
            project=project, credentials=self._credentials, location=location, client_options=options
        )
        self._read_client: BigQueryReadClient | None = None

    @classmethod
    def from_settings(cls, settings: CloudactSettings) -> BigQueryTableStore:
        """The store the ``bigquery_*`` settings describe, streaming by the memory plan's batch."""
        if not settings.bigquery_project:
            raise ValueError("warehouse 'bigquery' needs bigquery_project (CLOUDACT_BIGQUERY_PROJECT)")
        batch_rows = settings.memory_plan.batch_rows
        return cls(
            settings.bigquery_project,
            location=settings.bigquery_location,
            dataset_prefix=settings.bigquery_dataset_prefix,
            credentials_file=settings.bigquery_credentials_file,
            endpoint=settings.bigquery_endpoint,
            read_endpoint=settings.bigquery_read_endpoint,
            batch_rows=batch_rows,
            file_rows=max(batch_rows, 1_000_000),
        )

    @property
    def client(self) -> bigquery.Client:
        """The BigQuery client (for the SQL that runs in the warehouse, e.g. the FOCUS procedure)."""
        return self._client

    @property
    def project(self) -> str:
        """The project holding the organisations' datasets."""
        return self._project

    def dataset_id(self, dataset: str) -> str:
        """The BigQuery dataset of a logical dataset name ({org}_prod -> {prefix}{org}_prod)."""
        if not ORG_SLUG_PATTERN.fullmatch(dataset.removesuffix("_prod")):
            raise InvalidArgument(f"invalid dataset name {dataset!r}", reason="BAD_DATASET_NAME")
        return f"{self._prefix}{dataset}"

    def _ref(self, dataset: str, table: str) -> str:
        if not _IDENTIFIER.fullmatch(table):
            raise InvalidArgument(f"invalid table name {table!r}", reason="BAD_TABLE_NAME")
        return f"`{self._project}.{self.dataset_id(dataset)}.{table}`"

    def _table_id(self, dataset: str, table: str) -> str:
        return self._ref(dataset, table).strip("`")

    # -- onboarding ---------------------------------------------------------------------------------
    def ensure_table(self, dataset: str, schema: TableSchema) -> None:
        """``onboard`` of one table."""
        self.onboard(dataset, [schema])

    def onboard(self, dataset: str, schemas: Sequence[TableSchema]) -> None:
        """Creates the dataset (in the store's location) and every table, or migrates them additively.

        Raises:
            FailedPrecondition: a column changed type or mode, left the schema, or is a new REQUIRED
                one (BigQuery adds NULLABLE columns only); or the partitioning changed.
            Unavailable: BigQuery could not be reached.
        """
        with _mapped_errors(f"onboarding {dataset}"):
            self._ensure_dataset(dataset)
            self._ensure_versions_table(dataset)
            for schema in schemas:
                self._ensure_one(dataset, schema)

    def _ensure_dataset(self, dataset: str) -> None:
        reference = bigquery.DatasetReference(self._project, self.dataset_id(dataset))
        try:
            self._client.get_dataset(reference, retry=self._retry)
        except gexc.NotFound:
            wanted = bigquery.Dataset(reference)
            wanted.location = self._location
            self._client.create_dataset(wanted, exists_ok=True, retry=self._retry)

    def _ensure_versions_table(self, dataset: str) -> None:
        try:
            self._client.get_table(self._table_id(dataset, VERSIONS_TABLE), retry=self._retry)
        except gexc.NotFound:
            self._query(
                f"CREATE TABLE IF NOT EXISTS {self._ref(dataset, VERSIONS_TABLE)} "
                "(table_name STRING NOT NULL, version INT64 NOT NULL) "
                "OPTIONS (description = 'Write counter of each table, bumped inside every write transaction')"
            )

    def _ensure_one(self, dataset: str, schema: TableSchema) -> None:
        table_id = self._table_id(dataset, schema.table)
        try:
            table = self._client.get_table(table_id, retry=self._retry)
        except gexc.NotFound:
            self._query(create_table_ddl(self._ref(dataset, schema.table), schema))
            table = self._client.get_table(table_id, retry=self._retry)
        else:
            added = self._check_and_add_columns(dataset, table, schema)
            if added:
                table = self._client.get_table(table_id, retry=self._retry)
        self._converge_metadata(table, schema)

    def _check_and_add_columns(self, dataset: str, table: bigquery.Table, schema: TableSchema) -> list[Column]:
        """Refuses changed or vanished columns; adds the schema's missing ones; returns them."""
        name = f"{dataset}.{schema.table}"
        actual = {f.name: f for f in table.schema}
        wanted = {c.name for c in schema.columns}
        for gone in actual.keys() - wanted:
            raise FailedPrecondition(
                f"{name}: column {gone} is in the table but not in the schema; columns are never dropped",
                reason="SCHEMA_COLUMN_REMOVED",
            )
        missing = []
        for column in schema.columns:
            if column.name not in actual:
                missing.append(column)
            elif problem := self._difference(actual[column.name], schema_field(column)):
                raise FailedPrecondition(
                    f"{name}: column {column.name} is {problem}; a column's type is never changed in place",
                    reason="SCHEMA_COLUMN_CHANGED",
                )
        self._check_partitioning(table, schema)
        for column in missing:
            if not column.nullable:
                raise FailedPrecondition(
                    f"{name}: new column {column.name} is REQUIRED; only NULLABLE columns can be added",
                    reason="SCHEMA_REQUIRED_COLUMN_ADDED",
                )
        for column in missing:
            _log.info("%s: adding column %s", name, column.name)
            self._query(
                f"ALTER TABLE {self._ref(dataset, schema.table)} ADD COLUMN IF NOT EXISTS {_column_ddl(column)}"
            )
        return missing

    def _difference(self, actual: bigquery.SchemaField, expected: bigquery.SchemaField) -> str | None:
        """How ``actual`` differs from ``expected`` in type or mode, or None."""
        got, want = _type_name(actual), _type_name(expected)
        if self._emulated:
            # bqemulator's catalog reports DDL-created NUMERIC(p,s) and BIGNUMERIC(p,s) columns as a
            # bare NUMERIC (while storing DECIMAL(p,s) exactly); BigQuery reports both with parameters.
            got, want = _EMULATED_DECIMAL.sub("NUMERIC", got), _EMULATED_DECIMAL.sub("NUMERIC", want)
        if got != want:
            return f"{got} in the table, {want} in the schema"
        if actual.mode != expected.mode:
            return f"{actual.mode} in the table, {expected.mode} in the schema"
        return None

    def _check_partitioning(self, table: bigquery.Table, schema: TableSchema) -> None:
        """Partitioning cannot change in place: another column or granularity is refused. A table
        with none where the schema now wants one (a FOCUS table created before it was partitioned)
        is kept as it is and works, only unpruned; the warning says how to move it.

        Raises:
            FailedPrecondition: the table is partitioned otherwise than the schema says.
        """
        expected = partition_column(schema)
        partitioning = table.time_partitioning
        if partitioning is None or partitioning.field is None:
            if expected is not None:
                _log.warning(
                    "%s: not partitioned; the schema partitions it by %s of %s. Queries work, unpruned: to "
                    "partition it, copy it with CREATE TABLE ... PARTITION BY %s AS SELECT and swap the names",
                    table.table_id,
                    partition_granularity(schema),
                    expected.name,
                    partition_expression(schema),
                )
            return
        actual = (partitioning.field, partitioning.type_)
        wanted = (expected.name, partition_granularity(schema)) if expected is not None else None
        if actual != wanted:
            raise FailedPrecondition(
                f"{table.table_id}: partitioned by {actual[1]} of {actual[0]!r}, the schema says "
                f"{'none' if wanted is None else f'{wanted[1]} of {wanted[0]!r}'}; partitioning cannot change",
                reason="SCHEMA_PARTITION_CHANGED",
            )

    def _converge_metadata(self, table: bigquery.Table, schema: TableSchema) -> None:
        """Patches descriptions, clustering, partition expiration and columns the table's metadata
        lacks to what the schema says (one tables.patch, only when something differs).

        Column descriptions and clustering set by DDL reach BigQuery's metadata but not bqemulator's,
        and a column added by ALTER TABLE is missing from bqemulator's metadata; the patch fixes both
        there, and on BigQuery it is how a changed description or sort order reaches the table.
        """
        changed = []
        if (table.description or "") != schema.description:
            table.description = schema.description
            changed.append("description")
        by_name = {c.name: c for c in schema.columns}
        fields = []
        schema_changed = False
        for current in table.schema:
            column = by_name[current.name]
            if (current.description or "") != column.description:
                api = current.to_api_repr()
                api["description"] = column.description
                current = bigquery.SchemaField.from_api_repr(api)
                schema_changed = True
            fields.append(current)
        present = {f.name for f in fields}
        for column in schema.columns:
            if column.name not in present:
                fields.append(schema_field(column))
                schema_changed = True
        if schema_changed:
            table.schema = fields
            changed.append("schema")
        clustering = clustering_columns(schema) or None
        if (table.clustering_fields or None) != clustering:
            table.clustering_fields = clustering
            changed.append("clustering_fields")
        partitioning = table.time_partitioning
        if partitioning is not None and schema.retention_days is not None:
            expiration = schema.retention_days * 86_400_000
            if partitioning.expiration_ms != expiration:
                partitioning.expiration_ms = expiration
                table.time_partitioning = partitioning
                changed.append("time_partitioning")
        if changed:
            self._client.update_table(table, changed, retry=self._retry)

    # -- writes -------------------------------------------------------------------------------------
    def replace_slice(
        self,
        dataset: str,
        schema: TableSchema,
        slice_key: SliceKey,
        data: pa.RecordBatchReader,
        *,
        job_key: str | None = None,
    ) -> int:
        """Replaces the slice: ``data`` streamed into Parquet files, loaded into a staging table, then
        swapped in by one transaction (see the module doc); returns the table version after it.

        Raises:
            InvalidArgument: a bad slice key.
            Aborted: concurrent writers of the table kept conflicting; nothing was written.
            FailedPrecondition: the write failed (bad data, BigQuery error); previous rows kept.
            Unavailable: BigQuery could not be reached; previous rows kept.
        """
        slice_predicate(schema, slice_key, Bindings(inline=True))  # a bad key fails before any work
        name = f"{dataset}.{schema.table}"
        self.ensure_table(dataset, schema)
        with _mapped_errors(f"writing {name}", suffix=", previous data kept"):
            target, earlier = self._plan(dataset, schema, job_key)
            if earlier is not None:
                _log.info("%s: job %s of an earlier attempt with this key: waiting for it", name, earlier.job_id)
                earlier.result(retry=self._retry, timeout=self._job_timeout)
                version = self.version(dataset, schema.table)
                assert version is not None
                return version
            try:
                self._query(
                    stage_table_ddl(target.stage_ref, schema, datetime.now(UTC) + timedelta(days=1)),
                )
                rows = self._load(target, schema, data)
                staged = self._count(target.stage_ref)
                if staged != rows:
                    raise FailedPrecondition(
                        f"writing {name} failed, previous data kept: {staged} rows staged of {rows} sent",
                        reason="TABLE_WRITE_FAILED",
                    )
                self._commit(name, target, schema, slice_key)
            finally:
                self._drop_stage(target)
            version = self.version(dataset, schema.table)
            assert version is not None
            return version

    def _plan(self, dataset: str, schema: TableSchema, job_key: str | None) -> tuple[_Target, Any]:
        """The names and job ids of this write, or the commit job of an earlier attempt with ``job_key``.

        Attempts with one key go through generations: a generation whose commit succeeded (or still
        runs) is the write; one whose commit failed, or whose loads ran without a commit (a writer
        that died, whose staging table may be gone), is passed over for the next.
        """
        base = self.dataset_id(dataset)
        refs = (self._ref(dataset, schema.table), self._ref(dataset, VERSIONS_TABLE))

        def target(stage: str, ids: Callable[[str], str]) -> _Target:
            return _Target(refs[0], stage, f"`{self._project}.{base}.{stage}`", refs[1], ids)

        if job_key is None:
            token = uuid.uuid4().hex
            return target(f"{STAGE_PREFIX}{token}", lambda step: f"cloudact_{token}_{step}"), None
        digest = hashlib.sha256(f"{base}/{schema.table}/{job_key}".encode()).hexdigest()[:40]
        for generation in range(_GENERATIONS):

            def ids(step: str, generation: int = generation) -> str:
                return f"cloudact_{digest}_{generation}_{step}"

            for attempt in range(_COMMIT_ATTEMPTS):
                commit = self._existing_job(ids(f"commit{attempt}"))
                if commit is None:
                    break
                if commit.state != "DONE" or commit.error_result is None:
                    return target("", ids), commit
            else:
                continue  # every commit attempt of this generation failed
            if attempt == 0 and self._existing_job(ids("load0")) is None:
                return target(f"{STAGE_PREFIX}{digest}_{generation}", ids), None
        raise Aborted(
            f"writing {dataset}.{schema.table}: {_GENERATIONS} attempts with this job key failed; use a new key",
            reason="TABLE_WRITE_ATTEMPTS_EXHAUSTED",
        )

    def _existing_job(self, job_id: str) -> Any:
        try:
            return self._client.get_job(job_id, location=self._location, retry=self._retry)
        except gexc.NotFound:
            return None

    def _run_job(self, job_id: str, submit: Callable[[str], Any]) -> Any:
        """Runs the job ``job_id``, or waits for the one already created under that id (an earlier
        attempt's, raced to by a concurrent one); returns it done.

        Raises:
            the job's error (google.api_core.exceptions), when it failed.
        """
        try:
            job = submit(job_id)
        except gexc.Conflict:
            job = self._client.get_job(job_id, location=self._location, retry=self._retry)
        job.result(retry=self._retry, timeout=self._job_timeout)
        return job

    def _load(self, target: _Target, schema: TableSchema, data: pa.RecordBatchReader) -> int:
        """Streams ``data`` into Parquet files of at most ``file_rows`` rows, each loaded into the
        staging table and deleted before the next is written; returns the rows sent."""
        config = bigquery.LoadJobConfig(
            source_format=bigquery.SourceFormat.PARQUET,
            write_disposition=bigquery.WriteDisposition.WRITE_APPEND,
            create_disposition=bigquery.CreateDisposition.CREATE_NEVER,
            decimal_target_types=["NUMERIC", "BIGNUMERIC"],
        )
        parquet = bigquery.ParquetOptions()  # type: ignore[no-untyped-call]
        parquet.enable_list_inference = True
        config.parquet_options = parquet
        destination = target.stage_ref.strip("`")
        total = 0
        folder = Path(tempfile.mkdtemp(prefix="cloudact-bq-load-"))
        try:
            for index, (path, rows) in enumerate(
                _parquet_files(data, schema, folder, self._batch_rows, self._file_rows)
            ):
                with path.open("rb") as source:

                    def submit(job_id: str, source: Any = source) -> Any:
                        return self._client.load_table_from_file(
                            source, destination, job_id=job_id, job_config=config, location=self._location
                        )

                    self._run_job(target.ids(f"load{index}"), submit)
                path.unlink()
                total += rows
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        return total

    def _commit(self, name: str, target: _Target, schema: TableSchema, slice_key: SliceKey) -> None:
        bindings = Bindings(inline=self._emulated)
        script = replace_script(target.table_ref, target.stage_ref, target.versions_ref, schema, slice_key, bindings)
        config = bigquery.QueryJobConfig(query_parameters=bindings.parameters)
        for attempt in range(_COMMIT_ATTEMPTS):
            try:
                self._run_job(
                    target.ids(f"commit{attempt}"),
                    lambda job_id: self._client.query(
                        script, job_config=config, job_id=job_id, location=self._location, job_retry=None
                    ),
                )
                return
            except gexc.GoogleAPICallError as exc:
                if not _CONFLICT.search(str(exc)):
                    raise
                ceiling = min(_BACKOFF_MAX_SECONDS, _BACKOFF_FIRST_SECONDS * 2**attempt)
                pause = ceiling / 2 + random.uniform(0, ceiling / 2)
                _log.info("%s: transaction conflict on attempt %d, retrying in %.1fs", name, attempt + 1, pause)
                time.sleep(pause)
        raise Aborted(
            f"writing {name} failed: concurrent writes to the table conflicted {_COMMIT_ATTEMPTS} times in a row; "
            "nothing was changed, retry later",
            reason="TABLE_COMMIT_CONFLICT",
        )

    def _count(self, table_ref: str) -> int:
        rows = list(self._query(f"SELECT COUNT(*) AS n FROM {table_ref}"))
        return int(rows[0]["n"])

    def _drop_stage(self, target: _Target) -> None:
        if not target.stage:
            return
        try:
            self._client.delete_table(target.stage_ref.strip("`"), not_found_ok=True, retry=self._retry)
        except gexc.GoogleAPICallError as exc:
            # It expires within a day anyway, and recover_abandoned_writes drops it sooner.
            _log.warning("dropping staging table %s failed: %s", target.stage, str(exc).splitlines()[0])

    def _query(self, sql: str) -> Any:
        job = self._client.query(sql, location=self._location, retry=self._retry, job_retry=None)
        return job.result(retry=self._retry, timeout=self._job_timeout)

    # -- housekeeping -------------------------------------------------------------------------------
    def recover_abandoned_writes(self) -> int:
        """Drops staging tables older than ``stage_max_age`` (their writers died); returns how many."""
        dropped = 0
        now = datetime.now(UTC)
        with _mapped_errors("recovering abandoned writes"):
            for dataset_id in self._dataset_ids():
                for item in self._client.list_tables(dataset_id, retry=self._retry):
                    if not item.table_id.startswith(STAGE_PREFIX):
                        continue
                    if item.created is not None and now - item.created < self._stage_max_age:
                        continue  # a write may be using it
                    self._client.delete_table(item.reference, not_found_ok=True, retry=self._retry)
                    dropped += 1
        if dropped:
            _log.warning("dropped %d abandoned staging tables", dropped)
        return dropped

    def vacuum(self, dataset: str, table: str, *, retention_hours: int) -> int:
        """Nothing to do: BigQuery keeps time travel and deletes replaced storage itself; returns 0."""
        if retention_hours < 0:
            raise ValueError(f"retention_hours must be >= 0, not {retention_hours}")
        return 0

    def _dataset_ids(self) -> list[str]:
        found = []
        for item in self._client.list_datasets(self._project, retry=self._retry):
            name: str = item.dataset_id
            if name.startswith(self._prefix) and ORG_SLUG_PATTERN.fullmatch(
                name.removeprefix(self._prefix).removesuffix("_prod")
            ):
                found.append(name)
        return sorted(found)

    def list_tables(self) -> list[tuple[str, str]]:
        with _mapped_errors("listing tables"):
            return sorted(
                (dataset_id.removeprefix(self._prefix), item.table_id)
                for dataset_id in self._dataset_ids()
                for item in self._client.list_tables(dataset_id, retry=self._retry)
                if not item.table_id.startswith("_")
            )

    def table_exists(self, dataset: str, table: str) -> bool:
        with _mapped_errors(f"looking up {dataset}.{table}"):
            try:
                self._client.get_table(self._table_id(dataset, table), retry=self._retry)
            except gexc.NotFound:
                return False
            return True

    def version(self, dataset: str, table: str) -> int | None:
        """The larger of the table's lastModifiedTime (ms) and its write counter; None if no table."""
        with _mapped_errors(f"reading the version of {dataset}.{table}"):
            try:
                found = self._client.get_table(self._table_id(dataset, table), retry=self._retry)
            except gexc.NotFound:
                return None
            modified = int(found.modified.timestamp() * 1000) if found.modified is not None else 0
            counter = 0
            try:
                rows = self._client.list_rows(self._table_id(dataset, VERSIONS_TABLE), retry=self._retry)
                counter = max((int(r["version"]) for r in rows if r["table_name"] == table), default=0)
            except gexc.NotFound:
                pass  # a table made before onboarding: no write of ours yet
            return max(modified, counter)

    def relation_sql(self, dataset: str, schema: TableSchema) -> str:
        return self._ref(dataset, schema.table)

    # -- reads --------------------------------------------------------------------------------------
    def scan(self, dataset: str, table: str) -> pads.Dataset:
        """The whole table read into memory as an Arrow dataset (prefer ``read`` for parts of it)."""
        return pads.dataset(self.read(dataset, table).read_all())

    def read(
        self, dataset: str, table: str, *, columns: Sequence[str] | None = None, where: Sequence[Condition] = ()
    ) -> pa.RecordBatchReader:
        """A Storage Read API session with ``columns`` as selected fields and ``where`` as its row
        restriction; its streams are read one after the other, a page at a time."""
        from google.cloud.bigquery_storage_v1 import types

        with _mapped_errors(f"reading {dataset}.{table}"):
            try:
                found = self._client.get_table(self._table_id(dataset, table), retry=self._retry)
            except gexc.NotFound as exc:
                raise NotFound(f"table {dataset}.{table} does not exist", reason="TABLE_NOT_FOUND") from exc
            fields = {f.name: f for f in found.schema}
            selected = list(columns) if columns is not None else list(fields)
            for name in selected:
                if name not in fields:
                    raise InvalidArgument(f"table {dataset}.{table} has no column {name!r}", reason="UNKNOWN_COLUMN")
            types_ = {name: _sql_type(f) for name, f in fields.items()}
            restriction = row_restriction(types_, where)
            declared = pa.schema([pa.field(name, _arrow_type(fields[name])) for name in selected])
            if restriction is None:
                return pa.RecordBatchReader.from_batches(declared, iter(()))
            session = self._reader().create_read_session(
                parent=f"projects/{self._project}",
                read_session=types.ReadSession(
                    table=f"projects/{self._project}/datasets/{self.dataset_id(dataset)}/tables/{table}",
                    data_format=types.DataFormat.ARROW,
                    read_options=types.ReadSession.TableReadOptions(
                        selected_fields=selected, row_restriction=restriction
                    ),
                ),
                max_stream_count=0,
                retry=self._retry,
            )
        if not session.streams:
            return pa.RecordBatchReader.from_batches(declared, iter(()))
        wire = pa.ipc.read_schema(pa.py_buffer(session.arrow_schema.serialized_schema))
        out = pa.schema(
            [
                pa.field(name, _result_type(fields[name], wire.field(name).type, declared.field(name).type))
                for name in selected
            ]
        )
        query = f"SELECT {', '.join(_ident(n) for n in selected)} FROM {self._ref(dataset, table)}"
        query += f" WHERE {restriction}" if restriction else ""
        batches = self._batches(session, wire, out, dataset, table, query)
        return pa.RecordBatchReader.from_batches(out, batches)

    def _batches(
        self, session: Any, wire: pa.Schema, out: pa.Schema, dataset: str, table: str, query: str
    ) -> Iterator[pa.RecordBatch]:
        reader = self._reader()
        for stream in session.streams:
            with _mapped_errors(f"reading {dataset}.{table}"):
                try:
                    for response in reader.read_rows(stream.name, retry=self._read_retry):  # type: ignore[no-untyped-call]
                        payload = response.arrow_record_batch.serialized_record_batch
                        batch = pa.ipc.read_record_batch(pa.py_buffer(payload), wire)
                        yield _convert(batch.select(out.names), out)
                except gexc.ResourceExhausted:
                    # bqemulator sends 65,536 rows a message and refuses one over 11 MB (wide FOCUS
                    # rows, the first message); BigQuery sizes its messages itself. Against an emulator
                    # only, the same read then runs as a query whose pages come over REST.
                    if not (self._emulated and len(session.streams) == 1):
                        raise
                    _log.info("bqemulator refused a Storage Read message as too large: reading by query")
                    yield from self._batches_by_query(query, out)

    def _batches_by_query(self, query: str, out: pa.Schema) -> Iterator[pa.RecordBatch]:
        result = self._client.query(query).result(page_size=self._batch_rows)
        for batch in result.to_arrow_iterable():
            yield _convert(batch.select(out.names), out)

    def _reader(self) -> BigQueryReadClient:
        if self._read_client is None:
            from google.cloud.bigquery_storage_v1 import BigQueryReadClient

            if self._emulated:
                if self._read_endpoint is None:
                    raise FailedPrecondition(
                        "bigquery_endpoint is set (an emulator) without bigquery_read_endpoint: "
                        "reads would go to Google without credentials",
                        reason="READ_ENDPOINT_MISSING",
                    )
                import grpc
                from google.cloud.bigquery_storage_v1.services.big_query_read.transports import (
                    BigQueryReadGrpcTransport,
                )

                _require_loopback(f"grpc://{self._read_endpoint}", "bigquery_read_endpoint")
                # Unlimited like the library's own channels: bqemulator sends a stream as one message.
                options = [("grpc.max_receive_message_length", -1)]
                channel = grpc.insecure_channel(self._read_endpoint, options=options)
                self._read_client = BigQueryReadClient(  # type: ignore[no-untyped-call]
                    transport=BigQueryReadGrpcTransport(channel=channel)
                )
            else:
                self._read_client = BigQueryReadClient(credentials=self._credentials)  # type: ignore[no-untyped-call]
        return self._read_client


# -- helpers -----------------------------------------------------------------------------------------
def _credentials(credentials_file: Path | None) -> Any:
    """A service account key file's credentials, or None for Application Default Credentials."""
    if credentials_file is None:
        return None
    from google.oauth2 import service_account

    try:
        return service_account.Credentials.from_service_account_file(  # type: ignore[no-untyped-call]
            str(credentials_file), scopes=list(_SCOPES)
        )
    except (OSError, ValueError) as exc:
        # The message names the file only: its content is a secret.
        raise FailedPrecondition(
            f"bigquery_credentials_file {credentials_file} is not a readable service account key",
            reason="BIGQUERY_CREDENTIALS_INVALID",
        ) from exc


def _require_loopback(endpoint: str, setting: str) -> None:
    """Anonymous, plaintext endpoints are for emulators on this machine only."""
    host = urlsplit(endpoint if "//" in endpoint else f"//{endpoint}").hostname or ""
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise ValueError(f"{setting} {endpoint!r} is not on loopback: it is meant for a local emulator only")


@contextmanager
def _mapped_errors(what: str, *, suffix: str = "") -> Iterator[None]:
    """Turns google.api_core errors into CloudAct errors naming ``what`` (the message's first line)."""
    try:
        yield
    except gexc.GoogleAPIError as exc:
        message = (str(exc).splitlines() or [type(exc).__name__])[0]
        if isinstance(exc, gexc.ServerError | gexc.RetryError | gexc.TooManyRequests):
            raise Unavailable(f"{what} failed{suffix}: {message}", reason="BIGQUERY_UNAVAILABLE") from exc
        raise FailedPrecondition(f"{what} failed{suffix}: {message}", reason="TABLE_WRITE_FAILED") from exc
    except pa.ArrowException as exc:
        message = (str(exc).splitlines() or [type(exc).__name__])[0]
        raise FailedPrecondition(f"{what} failed{suffix}: {message}", reason="TABLE_WRITE_FAILED") from exc


def _type_name(item: bigquery.SchemaField) -> str:
    """A field's type as one comparable string (standard SQL names, with parameters and children)."""
    base = _REST_TYPES.get(item.field_type.upper(), item.field_type.upper())
    if item.precision is not None:
        base += f"({item.precision}, {item.scale or 0})"
    if base == "RECORD":
        base += "<" + ", ".join(f"{f.name} {_type_name(f)}" for f in item.fields) + ">"
    return f"ARRAY<{base}>" if item.mode == "REPEATED" else base


def _sql_type(item: bigquery.SchemaField) -> str:
    if item.mode == "REPEATED":
        return "ARRAY"
    return _REST_TYPES.get(item.field_type.upper(), item.field_type.upper())


def _is_map(item: bigquery.SchemaField) -> bool:
    return (
        item.mode == "REPEATED"
        and _sql_type(bigquery.SchemaField(item.name, item.field_type)) == "RECORD"
        and [f.name for f in item.fields] == ["key", "value"]
    )


def _scalar_arrow(item: bigquery.SchemaField) -> pa.DataType:
    kind = _REST_TYPES.get(item.field_type.upper(), item.field_type.upper())
    if kind in ("NUMERIC", "BIGNUMERIC"):
        precision = item.precision or (38 if kind == "NUMERIC" else 76)
        scale = item.scale if item.scale is not None else (9 if kind == "NUMERIC" else 38)
        return pa.decimal128(precision, scale) if precision <= 38 else pa.decimal256(precision, scale)
    simple = {
        "STRING": pa.string(),
        "INT64": pa.int64(),
        "FLOAT64": pa.float64(),
        "BOOL": pa.bool_(),
        "DATE": pa.date32(),
        "TIMESTAMP": pa.timestamp("us", tz="UTC"),
        "BYTES": pa.binary(),
    }
    if kind in simple:
        return simple[kind]
    if kind == "RECORD":
        return pa.struct([pa.field(f.name, _arrow_type(f)) for f in item.fields])
    return pa.string()


def _arrow_type(item: bigquery.SchemaField) -> pa.DataType:
    """The Arrow type a column reads back as: maps for REPEATED RECORD<key, value>, lists for
    other REPEATED columns, the declared decimal precision and scale."""
    if _is_map(item):
        key, value = item.fields
        return pa.map_(_scalar_arrow(key), _scalar_arrow(value))
    scalar = _scalar_arrow(item)
    return pa.list_(scalar) if item.mode == "REPEATED" else scalar


def _result_type(item: bigquery.SchemaField, wire: pa.DataType, declared: pa.DataType) -> pa.DataType:
    # A decimal column without declared parameters keeps what the stream carries (bqemulator reports
    # BIGNUMERIC(38, 12) as a bare NUMERIC but streams decimal128(38, 12) exactly).
    if pa.types.is_decimal(wire) and item.precision is None and item.mode != "REPEATED":
        return wire
    return declared


def _convert(batch: pa.RecordBatch, out: pa.Schema) -> pa.RecordBatch:
    """A batch as the Storage Read API sends it, in the store's Arrow types (maps rebuilt)."""
    arrays = []
    for array, target in zip(batch.columns, out, strict=True):
        if pa.types.is_map(target.type) and not pa.types.is_map(array.type):
            array = _list_to_map(array, target.type)
        elif array.type != target.type:
            array = array.cast(target.type)
        if (pa.types.is_map(target.type) or pa.types.is_list(target.type)) and array.null_count:
            # BigQuery has no NULL arrays (it sends them empty); bqemulator sends NULL: same result on both.
            array = pc.fill_null(array, pa.scalar([], type=target.type))
        arrays.append(array)
    return pa.RecordBatch.from_arrays(arrays, schema=out)


def _list_to_map(array: pa.Array, target: pa.MapType) -> pa.Array:
    entries = array.values
    if isinstance(entries, pa.ChunkedArray):  # pragma: no cover - record batch columns are arrays
        entries = entries.combine_chunks()
    keys, items = entries.flatten()
    return pa.MapArray.from_arrays(
        array.offsets, keys.cast(target.key_type), items.cast(target.item_type), type=target, mask=array.is_null()
    )


def _writable_schema(schema: TableSchema) -> pa.Schema:
    """The schema's Arrow schema with maps as list<struct<key, value>> (what BigQuery loads)."""
    fields = []
    for item in schema.arrow_schema():
        kind = item.type
        if pa.types.is_map(kind):
            kind = pa.list_(pa.struct([pa.field("key", kind.key_type), pa.field("value", kind.item_type)]))
        fields.append(pa.field(item.name, kind))
    return pa.schema(fields)


def _parquet_files(
    data: pa.RecordBatchReader, schema: TableSchema, folder: Path, batch_rows: int, file_rows: int
) -> Iterator[tuple[Path, int]]:
    """``data`` written to Parquet files of at most ``file_rows`` rows, one row group per
    ``batch_rows``; yields each file once closed, with its row count. At least one file (maybe empty),
    so an empty slice still runs the same load and transaction."""
    target = schema.arrow_schema()
    writable = _writable_schema(schema)
    index, rows, writer, path = 0, 0, None, folder / "part-0.parquet"
    try:
        for table in fixed_size_tables(data, batch_rows):
            try:
                cast = table if table.schema.equals(target) else table.cast(target)
            except (ValueError, pa.ArrowException) as exc:
                raise FailedPrecondition(
                    f"the rows do not fit {schema.table}'s schema: {str(exc).splitlines()[0]}",
                    reason="TABLE_WRITE_FAILED",
                ) from exc
            if writer is None:
                path = folder / f"part-{index}.parquet"
                writer = pq.ParquetWriter(path, writable, compression="snappy")
            writer.write_table(cast.cast(writable), row_group_size=max(cast.num_rows, 1))
            rows += cast.num_rows
            if rows >= file_rows:
                writer.close()
                writer = None
                yield path, rows
                index, rows = index + 1, 0
        if writer is not None or index == 0:
            if writer is None:
                writer = pq.ParquetWriter(path, writable, compression="snappy")
            writer.close()
            writer = None
            yield path, rows
    finally:
        if writer is not None:
            writer.close()
