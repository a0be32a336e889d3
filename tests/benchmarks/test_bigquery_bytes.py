"""benchmarks/bigquery_bytes.py: BigQuery's sizing rules, the columns a conversion reads, the DML billing model."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pytest
from deltalake import write_deltalake

from benchmarks import bigquery_bytes as bq
from cloudact_shared.storage import load_schema


def test_values_are_sized_as_bigquery_bills_them() -> None:
    assert bq.value_bytes(pa.array(["abc", None, "é"])) == (2 + 3) + (2 + 2)  # NULL is 0, UTF-8 bytes
    assert bq.value_bytes(pa.array([Decimal("1.5"), None], pa.decimal128(38, 12))) == 32  # BIGNUMERIC
    assert bq.value_bytes(pa.array([Decimal("1.5")], pa.decimal128(38, 9))) == 16  # NUMERIC
    assert bq.value_bytes(pa.array([True, None, False])) == 2
    assert bq.value_bytes(pa.array([1, None], pa.int64())) == 8
    maps = pa.array([[("k", "vv")], None, [("a", "b"), ("c", "d")]], pa.map_(pa.string(), pa.string()))
    assert bq.value_bytes(maps) == (3 + 4) + 2 * (3 + 3)
    assert bq.value_bytes(maps.slice(2)) == 12  # a slice counts only its own entries
    assert bq.bigquery_type("DECIMAL(38,12)") == "BIGNUMERIC"
    assert bq.bigquery_type("DECIMAL(38,9)") == "NUMERIC"
    assert bq.bigquery_type("JSON") == "STRING"
    assert bq.bigquery_type("MAP<STRING,STRING>") == "REPEATED RECORD"


def test_the_conversion_reads_the_mapped_columns_only() -> None:
    columns = bq.mapping_columns("gcp")
    assert {"cost", "credits", "billing_account_id", "x_credential_id", "billing_period", "x_run_id"} <= set(columns)
    assert "ingestion_date" not in columns  # the partition column is never read by the conversion
    assert len(columns) < len(load_schema("cloud_gcp_billing_raw_daily").columns)


def test_an_unpartitioned_focus_delete_is_billed_the_whole_history() -> None:
    profile = bq.Profile(
        raw_row=1000,
        raw_mapping_row=600,
        raw_key_row=50,
        raw_per_focus_row=1.0,
        focus_row=1300,
        focus_key_row=60,
        focus_check_row=100,
        dashboard_row=100,
        tag_row=250,
    )
    pruned, as_built, unpartitioned = (bq.run_bytes(profile, 1_000_000, 24, layout) for layout in bq.LAYOUTS)
    assert pruned.focus_delete == 1_000_000 * (60 + 1300)
    assert unpartitioned.focus_delete == 24 * pruned.focus_delete
    # Loading the staging table is free; the raw DELETE changes only the old slice's partition.
    assert unpartitioned.raw_replace == 1_000_000 * (50 * 24 + 2 * 1000)
    # Monthly FOCUS partitions by ChargePeriodStart: the DELETE (by BillingPeriodStart) still reads
    # its key columns everywhere but rewrites one month; the raw reads and the counts are not pruned.
    assert as_built.focus_delete == 1_000_000 * (60 * 24 + 1300)
    assert (as_built.raw_replace, as_built.convert) == (unpartitioned.raw_replace, unpartitioned.convert)
    assert as_built.checks == 1_000_000 * (50 * 24 + 100 * 3 * 24)


def test_measures_a_delta_table(tmp_path: Path) -> None:
    schema = load_schema("cost_data_standard_1_3")
    table = pa.table({"ServiceName": ["Amazon EC2", "S3"], "BilledCost": [Decimal("1.5"), Decimal("2")]}).cast(
        pa.schema([schema.arrow_schema().field("ServiceName"), schema.arrow_schema().field("BilledCost")])
    )
    full = pa.table(
        {
            name: table.column(name) if name in table.column_names else pa.nulls(2, field.type)
            for name, field in zip(schema.column_names, schema.arrow_schema(), strict=True)
        }
    )
    write_deltalake(str(tmp_path / "t"), full)
    measured = bq.measure_table(tmp_path / "t", schema, max_rows=None)
    assert measured.rows == 2
    assert measured.column_bytes["ServiceName"] == (2 + 10) + (2 + 2)
    assert measured.column_bytes["BilledCost"] == 2 * 32
    assert measured.per_row() == pytest.approx((16 + 64) / 2)
