"""AWS export files -> raw-table rows: formats, legacy naming, quarantine and whole-file errors."""

from __future__ import annotations

import gzip
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pytest

from cloudact_providers.aws.formats import build_raw_select, legacy_to_snake
from cloudact_shared.errors import FailedPrecondition
from cloudact_shared.lineage import Lineage
from cloudact_shared.storage import load_schema
from focus_svc.conversion import set_lineage

DATA = Path(__file__).resolve().parents[1] / "data" / "aws"
LEGACY = DATA / "legacy_small.csv"
CUR2 = DATA / "cur2_every_line_item_type.csv"
LINEAGE = Lineage(
    "aws/cost/billing", "cred-1", "run-1", datetime(2024, 4, 2, 3, 4, 5, tzinfo=UTC), datetime(2024, 4, 2).date()
)


@pytest.fixture
def con() -> duckdb.DuckDBPyConnection:
    connection = duckdb.connect()
    set_lineage(connection, LINEAGE)
    return connection


def _rows(con: duckdb.DuckDBPyConnection, path: Path) -> list[dict[str, Any]]:
    sql = build_raw_select(con, path, source_object=f"s3://bucket/{path.name}")
    cur = con.execute(
        f"SELECT * EXCLUDE (bill_billing_period_start_date, bill_billing_period_end_date, "
        f"line_item_usage_start_date, line_item_usage_end_date, x_ingested_at) FROM ({sql})"
    )
    names = [d[0] for d in cur.description]
    return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]


@pytest.mark.parametrize(
    ("legacy", "snake"),
    [
        ("reservation/ReservationARN", "reservation_reservation_a_r_n"),
        ("lineItem/LineItemType", "line_item_line_item_type"),
        ("pricing/publicOnDemandCost", "pricing_public_on_demand_cost"),
        ("savingsPlan/SavingsPlanEffectiveCost", "savings_plan_savings_plan_effective_cost"),
        ("bill/PayerAccountId", "bill_payer_account_id"),
    ],
)
def test_legacy_names(legacy: str, snake: str) -> None:
    assert legacy_to_snake(legacy) == snake


def test_select_yields_schema_columns_then_quarantine_columns(con: duckdb.DuckDBPyConnection) -> None:
    sql = build_raw_select(con, CUR2, source_object="x")
    names = [r[0] for r in con.execute(f"DESCRIBE {sql}").fetchall()]
    assert names == [*load_schema("cloud_aws_billing_raw_daily").column_names, "_quarantine_reason",
                     "_source_row_number", "_record"]  # fmt: skip


def test_legacy_row_folds_maps_and_keeps_extra_columns(con: duckdb.DuckDBPyConnection) -> None:
    good = _rows(con, LEGACY)[0]
    assert good["_quarantine_reason"] is None and good["_record"] is None
    assert good["source_format"] == "cur_legacy_csv" and good["source_object"] == "s3://bucket/legacy_small.csv"
    assert good["product"] == {
        "product_name": "Amazon Simple Storage Service", "region_code": "us-east-1",
        "product_family": "Storage", "servicecode": "AmazonS3", "sku": "SKU9",
    }  # fmt: skip
    assert (good["product_region_code"], good["product_product_family"], good["product_sku"]) == (
        "us-east-1", "Storage", "SKU9",
    )  # fmt: skip
    assert good["resource_tags"] == {"user:Team": "core"}
    assert good["cost_category"] == {"Env": "prod"}
    assert good["extra_columns"] == {"lineItem/BrandNewColumn": "hello"}
    assert good["reservation_reservation_a_r_n"] is None  # empty string is NULL
    assert str(good["line_item_unblended_cost"]) == "1.000000000000"
    assert str(good["billing_period"]) == "2023-11-01"
    assert (good["x_run_id"], good["x_pipeline_id"], str(good["ingestion_date"])) == (
        "run-1",
        "aws/cost/billing",
        "2024-04-02",
    )
    assert good["_source_row_number"] == 1


def test_bad_rows_are_quarantined_with_reason_and_record(con: duckdb.DuckDBPyConnection) -> None:
    rows = _rows(con, LEGACY)
    reasons = {r["_source_row_number"]: r["_quarantine_reason"] for r in rows}
    assert reasons == {
        1: None,
        2: "unparsable decimal in lineItem/UnblendedCost: 'abc'",
        3: "missing billing period start (bill/BillingPeriodStartDate)",
        4: "unparsable timestamp in lineItem/UsageStartDate: 'not-a-date'",
    }
    assert '"lineItem/UnblendedCost":"abc"' in rows[1]["_record"]


def test_odd_headers_are_identifiers_and_keys_not_sql(con: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    odd = "we\"ird'col; --"
    lines = LEGACY.read_text().splitlines()
    path = tmp_path / "odd.csv"
    path.write_text("\n".join([lines[0] + ',"we""ird\'col; --"', *(line + ",kept" for line in lines[1:])]) + "\n")
    good = _rows(con, path)[0]
    assert good["extra_columns"] == {"lineItem/BrandNewColumn": "hello", odd: "kept"}


def test_cur2_csv_maps_arrive_as_json(con: duckdb.DuckDBPyConnection) -> None:
    first = _rows(con, CUR2)[0]
    assert first["source_format"] == "cur2_csv"
    assert first["resource_tags"] == {"user:Team": "core", "aws:createdBy": "alice"}
    assert first["product"]["product_name"] == "Amazon Elastic Compute Cloud"
    assert first["extra_columns"] == {"x_custom_note": "kept"}


def test_gzip_csv_and_parquet_give_the_same_rows(con: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    gz = tmp_path / "export-00001.csv.gz"
    with CUR2.open("rb") as src, gzip.open(gz, "wb") as dst:
        shutil.copyfileobj(src, dst)
    parquet = tmp_path / "export-00001.snappy.parquet"
    sql = build_raw_select(con, CUR2, source_object="x")
    # A CUR 2.0 Parquet file: typed columns and real MAP columns.
    con.execute(
        f"COPY (SELECT * EXCLUDE (billing_period, source_format, source_object, ingestion_date, x_pipeline_id, "
        f"x_credential_id, x_run_id, x_ingested_at, x_pipeline_run_date, extra_columns, _quarantine_reason, "
        f"_source_row_number, _record) REPLACE (CAST(line_item_unblended_cost AS DOUBLE) AS line_item_unblended_cost, "
        f"timezone('UTC', line_item_usage_start_date) AS line_item_usage_start_date) FROM ({sql})) "
        f"TO '{parquet}' (FORMAT parquet)"
    )
    from_gz, from_parquet = _rows(con, gz), _rows(con, parquet)
    assert from_parquet[0]["source_format"] == "cur2_parquet"
    for a, b in zip(_rows(con, CUR2), from_gz, strict=True):
        assert {k: v for k, v in a.items() if k != "source_object"} == {
            k: v for k, v in b.items() if k != "source_object"
        }
    assert [r["line_item_unblended_cost"] for r in from_parquet] == [r["line_item_unblended_cost"] for r in from_gz]
    assert [r["_source_row_number"] for r in from_parquet] == list(range(1, len(from_gz) + 1))
    assert all(r["_quarantine_reason"] is None for r in from_parquet)
    assert from_parquet[0]["resource_tags"] == {"user:Team": "core", "aws:createdBy": "alice"}


def test_empty_file(con: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(FailedPrecondition, match=r"^s3://bucket/empty\.csv: the file is empty") as caught:
        build_raw_select(con, empty, source_object="s3://bucket/empty.csv")
    assert str(tmp_path) not in str(caught.value)


def test_a_header_only_file_is_an_export_without_rows(con: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    header = tmp_path / "header.csv"
    header.write_text(CUR2.read_text().splitlines()[0] + "\n")
    sql = build_raw_select(con, header, source_object="s3://b/header.csv")
    assert con.execute(f"SELECT count(*) FROM ({sql})").fetchall() == [(0,)]


def test_not_a_cur_export(con: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    other = tmp_path / "other.csv"
    other.write_text("a,b,line_item_line_item_type\n1,2,Usage\n")
    expected = r"^s3://b/other\.csv: not a CUR 2\.0 export, required columns missing: line_item_usage_start_date, "
    with pytest.raises(FailedPrecondition, match=expected + "line_item_unblended_cost"):
        build_raw_select(con, other, source_object="s3://b/other.csv")


def test_unsupported_suffix(con: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    other = tmp_path / "x.json"
    other.write_text("{}")
    with pytest.raises(FailedPrecondition, match="not a CUR export file"):
        build_raw_select(con, other, source_object="x")
