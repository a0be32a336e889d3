"""ExecuteSql on the BigQuery warehouse: the same guarded query, run by BigQuery in the org's dataset.

The guards do not change with the warehouse: ``check_query`` (sqlglot) and then DuckDB's own parse
tree (``check_parsed``, on an empty in-memory connection holding the views over an empty FOCUS
table) accept the query in the DuckDB dialect callers write. Only then is it translated by sqlglot
to BigQuery, every relation it names qualified to the org's dataset (`project.dataset.name`), and run
as one query job with a bytes-billed cap and a timeout; the job is cancelled when the caller leaves
or the time limit passes.

The seed's views live in the dataset too (``ensure_views``): their DuckDB text is translated the
same way. One expression has a hand-written BigQuery variant (listed in sql/views/SOURCES.md):
Tags as (key, value) pairs, which DuckDB reads by casting the JSON text to a MAP, a type BigQuery
does not have.
"""

from __future__ import annotations

import contextlib
import hashlib
import time
from collections.abc import Iterator
from typing import Protocol

import pyarrow as pa
import sqlglot
from google.api_core import exceptions as google_errors
from google.cloud import bigquery
from sqlglot import exp

from cloudact_shared import duck
from cloudact_shared.errors import CloudactError, InvalidArgument, ResourceExhausted
from cloudact_shared.naming import FOCUS_TABLE
from cloudact_shared.storage import load_schema
from query_svc.adhoc.engine import BATCH_ROWS, PagedRun
from query_svc.adhoc.guard import check_parsed
from query_svc.adhoc.model import SqlColumn, SqlLimits
from query_svc.adhoc.views import QUERYABLE, ViewCatalog, install

TAG_ENTRIES_DUCKDB = "map_entries(TRY_CAST(TRY_CAST(f.Tags AS JSON) AS MAP(VARCHAR, VARCHAR)))"
"""How the views read FOCUS Tags as (key, value) pairs in DuckDB (exactly as sql/views writes it)."""
TAG_ENTRIES_BIGQUERY = (
    "ARRAY(SELECT AS STRUCT k AS key, "
    "COALESCE(JSON_VALUE(Tags, CONCAT('$.\"', k, '\"')), "
    "TO_JSON_STRING(JSON_QUERY(Tags, CONCAT('$.\"', k, '\"')))) AS value "
    "FROM UNNEST(JSON_KEYS(SAFE.PARSE_JSON(Tags), 1)) AS k ORDER BY k)"
)
"""The hand-written BigQuery variant: a string value as itself, any other value as its JSON text.
``Tags`` unqualified: the one FROM table in scope is the FOCUS table (bqemulator fails to bind a
qualified outer column inside this correlated ARRAY subquery; BigQuery binds both)."""
_TAG_MARKER = "cloudact_tag_entries_of_tags"
_HASH_PREFIX = "cloudact-sha256:"


class BigQueryWarehouse(Protocol):
    """What ExecuteSql needs of the BigQuery store (BigQueryTableStore provides it)."""

    @property
    def client(self) -> bigquery.Client: ...

    @property
    def project(self) -> str: ...

    def dataset_id(self, dataset: str) -> str:
        """The BigQuery dataset of a store dataset name (``{org}_prod``)."""
        ...


def to_bigquery(sql: str, project: str, dataset_id: str, names: frozenset[str]) -> str:
    """``sql`` (DuckDB dialect) in BigQuery's, each table in ``names`` qualified to the dataset.

    A CTE of the query keeps its name: only a reference that no WITH of the query defines is
    qualified (the guard already refused every other table).
    """
    tree = sqlglot.parse_one(sql.replace(TAG_ENTRIES_DUCKDB, f"{_TAG_MARKER}(f.Tags)"), read="duckdb")
    ctes = {cte.alias_or_name for cte in tree.find_all(exp.CTE)}
    for table in list(tree.find_all(exp.Table)):
        if table.name in names and table.name not in ctes:
            # One quoted path (`project.dataset.name`), as BigQuery documents for project ids with
            # '-'; the old name stays the alias, so columns qualified with it still resolve.
            path = exp.to_identifier(f"{project}.{dataset_id}.{table.name}", quoted=True)
            alias = table.alias or table.name
            table.replace(exp.Table(this=path, alias=exp.TableAlias(this=exp.to_identifier(alias))))
    text = tree.sql(dialect="bigquery")
    return text.replace(f"{_TAG_MARKER.upper()}(f.Tags)", TAG_ENTRIES_BIGQUERY).replace(
        f"{_TAG_MARKER}(f.Tags)", TAG_ENTRIES_BIGQUERY
    )


def _qualified(project: str, dataset_id: str, name: str) -> str:
    return exp.to_identifier(f"{project}.{dataset_id}.{name}", quoted=True).sql(dialect="bigquery")


def views_sql(catalog: ViewCatalog, project: str, dataset_id: str) -> list[str]:
    """The statements that create the reference tables and the views in the dataset (in order)."""
    statements = []
    for table, rows in catalog.references:
        # Every value a STRING literal (a NULL one cast), so the columns are STRING as on DuckDB.
        values = ", ".join(
            "STRUCT(" + ", ".join(_literal(row[name]) + f" AS {name}" for name in rows.column_names) + ")"
            for row in rows.to_pylist()
        )
        statements.append(
            f"CREATE OR REPLACE TABLE {_qualified(project, dataset_id, table)} AS SELECT * FROM UNNEST([{values}])"
        )
    names = frozenset({*QUERYABLE, *(n for n, _ in catalog.helpers), *(t for t, _ in catalog.references)})
    for name, sql in (*catalog.helpers, *catalog.views):
        statements.append(
            f"CREATE OR REPLACE VIEW {_qualified(project, dataset_id, name)} AS "
            f"{to_bigquery(sql, project, dataset_id, names)}"
        )
    return statements


def _literal(value: object) -> str:
    return "CAST(NULL AS STRING)" if value is None else exp.Literal.string(str(value)).sql(dialect="bigquery")


def ensure_views(warehouse: BigQueryWarehouse, catalog: ViewCatalog, dataset: str) -> bool:
    """Creates or updates the seed views of ``dataset`` when their text changed; True when it ran.

    The text's hash is kept as the description of the reference table ``ref_seed_views``, so an
    unchanged dataset costs one metadata read.
    """
    dataset_id = warehouse.dataset_id(dataset)
    statements = views_sql(catalog, warehouse.project, dataset_id)
    digest = _HASH_PREFIX + hashlib.sha256("\n;\n".join(statements).encode()).hexdigest()
    marker = f"{warehouse.project}.{dataset_id}.ref_seed_views"
    try:
        if warehouse.client.get_table(marker).description == digest:
            return False
    except google_errors.NotFound:
        pass
    for statement in statements:
        warehouse.client.query(statement).result()
    table = warehouse.client.get_table(marker)
    table.description = digest
    warehouse.client.update_table(table, ["description"])
    return True


class BigQuerySqlRun(PagedRun):
    """One guarded query as a BigQuery job; the same blocking steps as ``engine.SqlRun``."""

    def __init__(
        self,
        warehouse: BigQueryWarehouse,
        dataset: str,
        catalog: ViewCatalog,
        limits: SqlLimits,
        deadline: float,
    ) -> None:
        super().__init__(limits, deadline)
        self._warehouse = warehouse
        self._dataset = dataset
        self._catalog = catalog
        self._job: bigquery.QueryJob | None = None
        self._batches: Iterator[pa.RecordBatch] | None = None

    def start(self, sql: str) -> tuple[SqlColumn, ...]:
        """Checks ``sql`` with DuckDB's parser, translates it and runs it in BigQuery (blocking).

        Raises:
            InvalidArgument: the guard refuses it, or BigQuery rejects the query.
            DeadlineExceeded: the time limit passed.
            ResourceExhausted: the query would bill more bytes than the limit.
        """
        with self._lock:
            self._check_time()
            self._check_parsed(sql)
            ensure_views(self._warehouse, self._catalog, self._dataset)
            names = frozenset({*QUERYABLE, *(n for n, _ in self._catalog.helpers)})
            dataset_id = self._warehouse.dataset_id(self._dataset)
            translated = to_bigquery(sql, self._warehouse.project, dataset_id, names)
            config = bigquery.QueryJobConfig(
                maximum_bytes_billed=self._limits.max_bytes_billed,
                job_timeout_ms=max(1, int(self._remaining() * 1000)),
                labels={"cloudact": "execute_sql"},
            )
            try:
                self._job = self._warehouse.client.query(translated, job_config=config, timeout=self._remaining())
                result = self._job.result(page_size=BATCH_ROWS, timeout=self._remaining())
            except google_errors.BadRequest as exc:
                raise self._rejected(exc) from None
            except (TimeoutError, google_errors.DeadlineExceeded, google_errors.RetryError):
                self.stop()
                raise self._timed_out() from None
            columns = tuple(SqlColumn(field.name, field.field_type) for field in result.schema)
            self._batches = iter(result.to_arrow_iterable())
            return columns

    def stop(self) -> None:
        """Cancels the job (the caller left or the deadline passed); any thread."""
        super().stop()
        job = self._job
        if job is not None and job.state != "DONE":
            with contextlib.suppress(google_errors.GoogleAPIError):  # finished or gone: nothing to stop
                job.cancel()

    def close(self) -> None:
        """Releases the result pages."""
        self.stop()
        with self._lock:
            self._batches = None

    def _check_parsed(self, sql: str) -> None:
        """DuckDB's parse of ``sql`` against the same views, over an empty FOCUS table."""
        con = duck.connect(memory_limit="64MiB", threads=1)
        try:
            con.execute("SET python_enable_replacements = false")
            con.register(FOCUS_TABLE, load_schema(FOCUS_TABLE).arrow_schema().empty_table())
            install(con, self._catalog, self._dataset)
            check_parsed(con, sql, self._dataset)
        finally:
            con.close()

    def _next_batch(self) -> pa.RecordBatch | None:
        if self._batches is None:
            return None
        batch = next(self._batches, None)
        if batch is None:
            self._batches = None
        return batch

    def _remaining(self) -> float:
        return max(0.001, self._deadline - time.monotonic())

    def _check_time(self) -> None:
        if time.monotonic() >= self._deadline:
            self.stop()  # the job, which no timer interrupts as DuckDB's is
        super()._check_time()

    def _rejected(self, exc: google_errors.BadRequest) -> CloudactError:
        message = str(getattr(exc, "message", "") or exc).splitlines()[0]
        if "bytes billed" in message.lower():
            return ResourceExhausted(
                f"the query would read more than {self._limits.max_bytes_billed} bytes "
                "(CLOUDACT_SQL_MAX_BYTES_BILLED): select fewer columns or filter on ChargePeriodStart",
                reason="SQL_BYTES_LIMIT",
            )
        return InvalidArgument(f"the query failed: {message}", reason="SQL_QUERY_FAILED")
