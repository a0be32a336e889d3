"""FOCUS conversion of a run's raw slice, and FOCUS table export. No gRPC here."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING

import duckdb
import pyarrow as pa
import pyarrow.dataset as pads

from cloudact_providers.registry import PROVIDERS
from cloudact_shared import duck
from cloudact_shared.errors import FailedPrecondition, InvalidArgument, NotFound
from cloudact_shared.lineage import Lineage
from cloudact_shared.naming import FOCUS_TABLE, dataset_name, raw_table_name, validate_provider
from cloudact_shared.storage import SliceKey, TableStore, load_schema, read_schema
from cloudact_shared.workspace import WorkDirs
from focus_svc import conversion

if TYPE_CHECKING:
    # Imported on the BigQuery warehouse only: Google's client is start-up time the embedded
    # default should not pay (tests/contract/test_import_cost.py).
    from focus_svc.bigquery import BigQueryConversion

# The run's raw slice: its credential's rows of its months, read through the variables _bind sets.
_RAW_SLICE = (
    "CREATE TEMP VIEW raw_slice AS SELECT * FROM raw_all WHERE x_credential_id = getvariable('x_credential_id') "
    "AND list_contains(getvariable('billing_periods'), billing_period)"
)
# A row outside the run's months would escape the slice predicate and duplicate on re-run:
# error() aborts the stream, and with it the whole Delta commit.
_GUARD = (
    "WHERE CASE WHEN list_contains(getvariable('billing_periods'), CAST(BillingPeriodStart AS DATE)) "
    "THEN true ELSE error('FOCUS row outside the run''s billing periods: ' || BillingPeriodStart) END"
)


@dataclass(frozen=True)
class ConversionResult:
    """What a conversion of a run's raw slice did (ConvertToFocus's response)."""

    raw_rows_read: int
    focus_rows_written: int
    focus_table_version: int


class FocusConverter:
    """Runs sql/ over the raw table and replaces the run's FOCUS slice atomically: in DuckDB, or
    inside the warehouse as the stored procedure when the store runs procedures (BigQuery)."""

    def __init__(self, store: TableStore, *, work_dirs: WorkDirs, batch_rows: int, memory_limit: str) -> None:
        self._store = store
        self._work_dirs = work_dirs
        self._batch_rows = batch_rows
        self._memory_limit = memory_limit
        self._in_warehouse: BigQueryConversion | None = None
        if store.capabilities.supports_procedures:
            from focus_svc.bigquery import BigQueryConversion, ProcedureWarehouse

            if not isinstance(store, ProcedureWarehouse):
                raise TypeError(f"{type(store).__name__} runs procedures but exposes no BigQuery client")
            self._in_warehouse = BigQueryConversion(store)

    def convert(self, org_slug: str, provider: str, lineage: Lineage, periods: Sequence[date]) -> ConversionResult:
        """Converts the raw slice (provider, lineage.credential_id, periods) written by ``lineage``'s run.

        Raises:
            InvalidArgument: unknown provider mapping or no periods.
            FailedPrecondition: no raw table, or the slice holds rows of another run (a newer run
                replaced it meanwhile), so converting would mislabel lineage.
        """
        dataset = dataset_name(org_slug)
        raw_table = raw_table_name(validate_provider(provider))
        if not periods:
            raise InvalidArgument("billing_periods is empty: nothing to convert")
        if provider not in conversion.mappings():
            raise InvalidArgument(f"no FOCUS mapping for provider {provider!r}", reason="NO_FOCUS_MAPPING")
        if not self._store.table_exists(dataset, raw_table):
            raise FailedPrecondition(f"{dataset}.{raw_table} does not exist yet; run the pipeline first")
        if self._in_warehouse is not None:
            return self._convert_in_warehouse(self._in_warehouse, dataset, provider, lineage, periods)
        with self._work_dirs.claim(prefix="focus-") as spill:
            con = duck.connect(memory_limit=self._memory_limit, temp_dir=spill)
            # FOCUS rows need no order, and kept in order under a small memory limit DuckDB runs the
            # conversion on fewer threads (measured, CUR 2.0 at 1M rows: 8.8 s ordered, 5.9 s not,
            # under a 316 MiB limit; the same peak). What producers buffer ahead of the writer stays
            # within the limit.
            duck.unordered(con)
            try:
                rows = self._bind(con, dataset, provider, lineage, periods)
                version = self._replace_focus_slice(con, dataset, provider, lineage, periods)
            finally:
                con.close()
        written = self._store.scan(dataset, FOCUS_TABLE).count_rows(
            filter=(pads.field("x_run_id") == lineage.run_id) & (pads.field("x_source_provider") == provider)
        )
        return ConversionResult(rows, int(written), version)

    def _convert_in_warehouse(
        self, procedure: BigQueryConversion, dataset: str, provider: str, lineage: Lineage, periods: Sequence[date]
    ) -> ConversionResult:
        """The conversion as ``sp_cloud_1_convert_to_focus`` in the organisation's dataset (created or
        updated first when its text changed), CALLed under the run's job id."""
        self._store.ensure_table(dataset, load_schema(FOCUS_TABLE))
        procedure.ensure_procedure(dataset)
        called = procedure.call(dataset, provider, lineage.credential_id, lineage.run_id, periods)
        version = self._store.version(dataset, FOCUS_TABLE)
        return ConversionResult(called.raw_rows_read, called.focus_rows_written, version or 0)

    def _bind(
        self, con: duckdb.DuckDBPyConnection, dataset: str, provider: str, lineage: Lineage, periods: Sequence[date]
    ) -> int:
        """Prepares the conversion on ``con`` over the view ``raw_slice``; returns the slice's rows.

        The run's lineage and months are bound as DuckDB variables (a view takes no parameters).

        Raises:
            FailedPrecondition: ``STALE_RUN``, the slice holds rows of another run.
        """
        conversion.prepare(con, [provider])
        duck.set_lineage(con, lineage)
        con.execute("SET VARIABLE billing_periods = ?", [list(periods)])
        # DuckDB reads the version's Parquet files itself: bounded memory, filters pushed into the scan.
        raw_relation = self._store.relation_sql(dataset, read_schema(PROVIDERS[provider].raw_schema_path))
        con.execute(f"CREATE TEMP VIEW raw_all AS SELECT * FROM {raw_relation}")
        con.execute(_RAW_SLICE)
        [(rows, foreign_runs)] = con.execute(
            "SELECT count(*), count(*) FILTER (WHERE x_run_id <> getvariable('x_run_id')) FROM raw_slice"
        ).fetchall()
        if foreign_runs:
            raise FailedPrecondition(
                f"the raw slice holds {foreign_runs} rows of another run than {lineage.run_id}; "
                "a newer run replaced it, so this conversion was not applied",
                reason="STALE_RUN",
            )
        return int(rows)

    def _replace_focus_slice(
        self, con: duckdb.DuckDBPyConnection, dataset: str, provider: str, lineage: Lineage, periods: Sequence[date]
    ) -> int:
        """Streams the FOCUS rows of ``raw_slice`` into the run's FOCUS slice; returns the table version."""
        guarded = f"SELECT * FROM ({conversion.focus_select_sql(provider, 'raw_slice')}) {_GUARD}"
        # con.sql() streams; execute().to_arrow_reader() would first copy every row.
        reader = con.sql(guarded).to_arrow_reader(self._batch_rows)
        slice_key: SliceKey = {
            "x_source_provider": provider,
            "x_credential_id": lineage.credential_id,
            "BillingPeriodStart": list(periods),
        }
        return self._store.replace_slice(dataset, load_schema(FOCUS_TABLE), slice_key, reader)

    def export(self, org_slug: str, start: date | None, end: date | None) -> tuple[pa.Schema, Iterator[pa.RecordBatch]]:
        """The FOCUS table's schema and its rows (ChargePeriodStart within [start, end]) as Arrow batches."""
        dataset = dataset_name(org_slug)
        if not self._store.table_exists(dataset, FOCUS_TABLE):
            raise NotFound(f"organisation {org_slug!r} has no FOCUS table yet", reason="NO_FOCUS_TABLE")
        expression = None
        if start is not None:
            expression = pads.field("ChargePeriodStart") >= pa.scalar(_utc(start), pa.timestamp("us", tz="UTC"))
        if end is not None:
            upper = pads.field("ChargePeriodStart") < pa.scalar(
                _utc(end + timedelta(days=1)), pa.timestamp("us", tz="UTC")
            )
            expression = upper if expression is None else expression & upper
        scanner = self._store.scan(dataset, FOCUS_TABLE).scanner(filter=expression, batch_size=self._batch_rows)
        return scanner.projected_schema, iter(scanner.to_batches())


def _utc(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=UTC)
