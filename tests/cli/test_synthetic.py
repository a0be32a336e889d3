"""Synthetic AWS exports: header, row counts, line item mix, manifest, determinism, cost consistency."""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path

import duckdb
import pytest

from cloudact_providers.aws.synthetic import (
    CUR2_COLUMNS,
    LEGACY_CUR_COLUMNS,
    LINE_ITEM_TYPES,
    athena_column_name,
    generate_cur2,
    generate_legacy_cur_csv,
)
from tests.conftest import LEGACY_CUR_SAMPLE

SAMPLE = LEGACY_CUR_SAMPLE
ROWS = 2_000


@pytest.fixture(scope="module")
def legacy_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generate_legacy_cur_csv(tmp_path_factory.mktemp("legacy") / "cur.csv", ROWS, seed=11)


def _q(con: duckdb.DuckDBPyConnection, sql: str) -> list[tuple[object, ...]]:
    return con.execute(sql).fetchall()


def test_legacy_header_is_the_real_exports_header(legacy_csv: Path) -> None:
    with legacy_csv.open(newline="") as fh:
        header = next(csv.reader(fh))
    assert header == list(LEGACY_CUR_COLUMNS)
    assert len(header) == 94
    with SAMPLE.open(newline="") as fh:
        assert header == next(csv.reader(fh))


def test_legacy_row_count_and_duckdb_reads_it(legacy_csv: Path) -> None:
    con = duckdb.connect()
    assert _q(con, f"SELECT count(*) FROM read_csv('{legacy_csv}')") == [(ROWS,)]
    with legacy_csv.open(newline="") as fh:
        assert sum(1 for _ in csv.reader(fh)) == ROWS + 1


def test_legacy_line_item_type_mix(legacy_csv: Path) -> None:
    con = duckdb.connect()
    sql = f"""SELECT "lineItem/LineItemType", count(*) FROM read_csv('{legacy_csv}') GROUP BY 1"""
    counts: dict[object, int] = {k: int(str(v)) for k, v in _q(con, sql)}
    assert set(LINE_ITEM_TYPES) <= set(counts)
    assert counts["Usage"] > ROWS / 2
    assert counts["SavingsPlanNegation"] == counts["SavingsPlanCoveredUsage"]
    market = _q(con, f"""SELECT DISTINCT "lineItem/LegalEntity" FROM read_csv('{legacy_csv}')
                         WHERE "bill/BillingEntity" = 'AWS Marketplace'""")  # fmt: skip
    assert market and all(entity != "Amazon Web Services, Inc." for (entity,) in market)
    accounts = _q(con, f"""SELECT count(DISTINCT "lineItem/UsageAccountId"),
                                  count(DISTINCT "product/regionCode"),
                                  count(DISTINCT "lineItem/ProductCode")
                           FROM read_csv('{legacy_csv}')""")  # fmt: skip
    n_accounts, n_regions, n_products = (int(str(v)) for v in accounts[0])
    assert n_accounts >= 5 and n_regions >= 5 and n_products >= 15


def test_legacy_costs_are_consistent(legacy_csv: Path) -> None:
    con = duckdb.connect()
    src = f"read_csv('{legacy_csv}', all_varchar = true)"
    d = "TRY_CAST({} AS DOUBLE)"
    rate, amount, cost = (
        d.format('"lineItem/UnblendedRate"'),
        d.format('"lineItem/UsageAmount"'),
        d.format('"lineItem/UnblendedCost"'),
    )
    od_rate, od_cost = d.format('"pricing/publicOnDemandRate"'), d.format('"pricing/publicOnDemandCost"')
    usage = "('Usage', 'DiscountedUsage', 'SavingsPlanCoveredUsage', 'SavingsPlanNegation')"
    bad = _q(con, f"""SELECT count(*) FROM {src} WHERE "lineItem/LineItemType" IN {usage}
                      AND abs({cost} - {rate} * {amount}) > 1e-8 + 1e-9 * abs({cost})""")  # fmt: skip
    assert bad == [(0,)]
    bad_od = _q(con, f"""SELECT count(*) FROM {src}
                         WHERE "lineItem/LineItemType" IN ('Usage', 'DiscountedUsage', 'SavingsPlanCoveredUsage')
                         AND abs({od_cost} - {od_rate} * {amount}) > 1e-8 + 1e-9 * abs({od_cost})""")  # fmt: skip
    assert bad_od == [(0,)]
    ri = _q(con, f"""SELECT count(*), count(*) FILTER (WHERE abs(
                       TRY_CAST("reservation/EffectiveCost" AS DOUBLE)
                       - TRY_CAST("reservation/AmortizedUpfrontCostForUsage" AS DOUBLE)
                       - TRY_CAST("reservation/RecurringFeeForUsage" AS DOUBLE)) < 1e-8
                       AND {cost} = 0 AND "reservation/SubscriptionId" IS NOT NULL)
                     FROM {src} WHERE "lineItem/LineItemType" = 'DiscountedUsage'""")  # fmt: skip
    assert ri[0][0] == ri[0][1] and int(str(ri[0][0])) > 0
    sp = _q(con, f"""SELECT count(*) FILTER (WHERE "savingsPlan/SavingsPlanARN" IS NULL)
                     FROM {src} WHERE "lineItem/LineItemType" LIKE 'SavingsPlan%'""")  # fmt: skip
    assert sp == [(0,)]
    # Negations cancel the on-demand cost of the covered usage exactly.
    sp_types = "('SavingsPlanCoveredUsage', 'SavingsPlanNegation')"
    net = _q(con, f"""SELECT round(sum({cost}), 6) FROM {src} WHERE "lineItem/LineItemType" IN {sp_types}""")
    assert net == [(0.0,)]


def test_legacy_timestamps_are_iso_utc_inside_the_period(legacy_csv: Path) -> None:
    con = duckdb.connect()
    src = f"read_csv('{legacy_csv}', all_varchar = true)"
    rows = _q(con, f"""SELECT count(*) FILTER (WHERE NOT regexp_full_match("lineItem/UsageStartDate",
                                 '\\d{{4}}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.000Z')),
                              count(*) FILTER (WHERE NOT regexp_full_match("identity/TimeInterval",
                                 '\\d{{4}}-\\d\\d-\\d\\dT00:00:00Z/\\d{{4}}-\\d\\d-\\d\\dT00:00:00Z')),
                              min("lineItem/UsageStartDate"), max("lineItem/UsageEndDate")
                       FROM {src}""")  # fmt: skip
    bad_start, bad_interval, first, last = rows[0]
    assert (bad_start, bad_interval) == (0, 0)
    assert str(first) >= "2025-01-01T00:00:00.000Z" and str(last) <= "2025-02-01T00:00:00.000Z"


def test_legacy_is_deterministic_for_a_seed(tmp_path: Path) -> None:
    def digest(p: Path) -> str:
        return hashlib.sha256(p.read_bytes()).hexdigest()

    a = generate_legacy_cur_csv(tmp_path / "a.csv", 1_500, seed=3)
    b = generate_legacy_cur_csv(tmp_path / "b.csv", 1_500, seed=3)
    c = generate_legacy_cur_csv(tmp_path / "c.csv", 1_500, seed=4)
    assert digest(a) == digest(b)
    assert digest(a) != digest(c)


def test_legacy_gzip_and_athena_header(tmp_path: Path) -> None:
    path = generate_legacy_cur_csv(tmp_path / "cur.csv.gz", 300, gzip=True, header="athena")
    con = duckdb.connect()
    cols = [r[0] for r in _q(con, f"DESCRIBE SELECT * FROM read_csv('{path}')")]
    assert cols[:3] == ["identity_line_item_id", "identity_time_interval", "bill_invoice_id"]
    assert athena_column_name("reservation/ReservationARN") == "reservation_reservation_a_r_n"
    assert athena_column_name("product/regionCode") == "product_region_code"
    assert _q(con, f"SELECT count(*) FROM read_csv('{path}')") == [(300,)]


@pytest.mark.parametrize("file_format", ["parquet", "csv.gz"])
def test_cur2_layout_manifest_and_rows(tmp_path: Path, file_format: str) -> None:
    export = generate_cur2(tmp_path, 2_500, export_name="acme-cur2", rows_per_file=1_000, file_format=file_format)  # type: ignore[arg-type]
    part = "BILLING_PERIOD=2025-01"
    suffix = "snappy.parquet" if file_format == "parquet" else "csv.gz"
    base = tmp_path / "exports" / "acme-cur2"
    assert [p.name for p in export.data_files] == [f"acme-cur2-0000{i}.{suffix}" for i in (1, 2, 3)]
    assert all(p.parent == base / "data" / part for p in export.data_files)
    assert export.manifest_path == base / "metadata" / part / "acme-cur2-Manifest.json"
    # The manifest is the commit marker: written after every data file.
    assert export.manifest_path.stat().st_mtime_ns >= max(p.stat().st_mtime_ns for p in export.data_files)
    manifest = json.loads(export.manifest_path.read_text())
    assert manifest["dataFiles"] == [f"s3://billing/exports/acme-cur2/data/{part}/{p.name}" for p in export.data_files]
    assert manifest["billingPeriod"] == {"start": "2025-01-01T00:00:00.000Z", "end": "2025-02-01T00:00:00.000Z"}
    assert manifest["exportName"] == "acme-cur2" and manifest["reportDataRowCount"] == 2_500
    assert [c["name"] for c in manifest["columns"]] == [n for n, _ in CUR2_COLUMNS]
    for key in ("version", "exportArn", "assemblyId", "executionId", "exportDataFormat", "compression"):
        assert manifest[key]
    reader = "read_parquet" if file_format == "parquet" else "read_csv"
    files = "[" + ", ".join(f"'{p}'" for p in export.data_files) + "]"
    con = duckdb.connect()
    assert _q(con, f"SELECT count(*) FROM {reader}({files})") == [(2_500,)]
    types = set(r[0] for r in _q(con, f"SELECT DISTINCT line_item_line_item_type FROM {reader}({files})"))
    assert set(LINE_ITEM_TYPES) <= types


def test_cur2_parquet_types_and_maps(tmp_path: Path) -> None:
    export = generate_cur2(tmp_path, 1_200, rows_per_file=10_000)
    con = duckdb.connect()
    f = export.data_files[0]
    types = dict(
        (r[0], r[1]) for r in _q(con, f"DESCRIBE SELECT * FROM read_parquet('{f}', hive_partitioning = false)")
    )
    assert types["product"] == "MAP(VARCHAR, VARCHAR)"
    assert types["resource_tags"] == "MAP(VARCHAR, VARCHAR)"
    assert types["cost_category"] == "MAP(VARCHAR, VARCHAR)"
    assert types["discount"] == "MAP(VARCHAR, DOUBLE)"
    assert types["line_item_usage_start_date"] == "TIMESTAMP WITH TIME ZONE"
    assert types["line_item_unblended_cost"] == "DOUBLE"
    schema = Path(__file__).resolve().parents[2] / "sql" / "schemas" / "cloud_aws_billing_raw_daily.json"
    schema_names = {c["name"] for c in json.loads(schema.read_text())["columns"]}
    assert set(types) <= schema_names
    tagged = _q(con, f"""SELECT count(*) FROM read_parquet('{f}')
                         WHERE resource_tags['user_team'] IS NOT NULL""")  # fmt: skip
    assert int(str(tagged[0][0])) > 0
    market = _q(con, f"""SELECT DISTINCT product['product_name'], line_item_legal_entity FROM read_parquet('{f}')
                         WHERE bill_billing_entity = 'AWS Marketplace'""")  # fmt: skip
    assert market and all(legal != "Amazon Web Services, Inc." for _, legal in market)
    ri = _q(con, f"""SELECT count(*) FROM read_parquet('{f}') WHERE line_item_line_item_type = 'DiscountedUsage'
                     AND reservation_reservation_a_r_n LIKE 'arn:aws:ec2:%:reserved-instances/%'""")  # fmt: skip
    assert int(str(ri[0][0])) > 0


def test_cur2_is_deterministic(tmp_path: Path) -> None:
    a = generate_cur2(tmp_path / "a", 900, seed=5)
    b = generate_cur2(tmp_path / "b", 900, seed=5)
    con = duckdb.connect()
    q = "SELECT * EXCLUDE (product, resource_tags, cost_category, discount) FROM read_parquet('{}') ORDER BY ALL"
    assert _q(con, q.format(a.data_files[0])) == _q(con, q.format(b.data_files[0]))
