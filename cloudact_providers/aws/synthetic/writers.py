"""Writes synthetic legacy CUR CSVs and CUR 2.0 deliveries (data files, then the manifest)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Literal

import duckdb

from cloudact_providers.aws.synthetic.catalog import _PAYER, CUR2_COLUMNS, LEGACY_CUR_COLUMNS
from cloudact_providers.aws.synthetic.rows import _cur2_select, _legacy_select, _period, _sql_str


@dataclass(frozen=True)
class Cur2Export:
    """A CUR 2.0 delivery written by :func:`generate_cur2`."""

    manifest_path: Path
    data_files: tuple[Path, ...]
    rows: int
    billing_period: str  # YYYY-MM


def athena_column_name(legacy: str) -> str:
    """Returns the Athena/CUR 2.0-style snake_case name of a legacy CUR column.

    ``bill/BillType`` -> ``bill_bill_type``, ``reservation/ReservationARN`` ->
    ``reservation_reservation_a_r_n``, ``product/regionCode`` -> ``product_region_code``.
    """
    category, _, name = legacy.partition("/")
    return f"{_snake(category)}_{_snake(name)}"


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)([A-Z])", r"_\1", name).lower()


def generate_legacy_cur_csv(
    path: Path,
    rows: int,
    *,
    seed: int = 7,
    billing_period: date = date(2025, 1, 1),
    gzip: bool = False,
    header: Literal["legacy", "athena"] = "legacy",
    threads: int | None = None,
) -> Path:
    """Writes a legacy CUR CSV (94 columns of the real export) of ``rows`` synthetic line items.

    Args:
        path: output file; parent directories are created. Written to ``{path}.tmp`` then renamed.
        rows: number of line items.
        seed: every value is a function of (row number, seed): same seed, same bytes.
        billing_period: any day of the billing month.
        gzip: gzip-compress the CSV (name the file ``*.csv.gz``).
        header: ``legacy`` (``bill/BillType``) or ``athena`` (``bill_bill_type``) column names.
        threads: DuckDB threads (default: all cores).

    Returns:
        ``path``.
    """
    names = list(LEGACY_CUR_COLUMNS)
    if header == "athena":
        names = [athena_column_name(c) for c in names]
    select = _legacy_select(names, 0, rows, seed, billing_period)
    options = "FORMAT csv, HEADER true" + (", COMPRESSION gzip" if gzip else "")
    _copy(select, path, options, threads)
    return path


def generate_cur2(
    out_dir: Path,
    rows: int,
    *,
    export_name: str = "cur2",
    seed: int = 7,
    billing_period: date = date(2025, 1, 1),
    file_format: Literal["parquet", "csv.gz"] = "parquet",
    rows_per_file: int = 500_000,
    bucket: str = "billing",
    prefix: str = "exports",
    threads: int | None = None,
    growth: float = 0.0,
) -> Cur2Export:
    """Writes a CUR 2.0 Data Exports delivery (data chunks, then the manifest) under ``out_dir``.

    Args:
        out_dir: local stand-in for the bucket root.
        rows: number of line items in the billing period.
        export_name: the Data Exports export name (file and folder names).
        seed: every value is a function of (row number, seed): same seed, same data.
        billing_period: any day of the billing month.
        file_format: ``parquet`` (``*.snappy.parquet``) or ``csv.gz`` (maps as JSON strings).
        rows_per_file: rows per data chunk.
        bucket: bucket name used in the manifest's ``s3://`` data file URIs.
        prefix: S3 prefix in front of the export name.
        threads: DuckDB threads (default: all cores).
        growth: the month's change against the baseline month (0): compute usage rows are picked
            ``1 + growth`` times as often and a new service (Amazon SageMaker) ramps up with it; the
            same rows and seed with another ``growth`` give the same company a month later.

    Returns:
        The manifest path, the data files in order and the row count.
    """
    if rows_per_file <= 0:
        raise ValueError("rows_per_file must be positive")
    if not -1.0 < growth <= 10.0:
        raise ValueError(f"growth must be in (-1, 10], got {growth}")
    start, end = _period(billing_period)
    partition = f"BILLING_PERIOD={start:%Y-%m}"
    base = f"{prefix}/{export_name}" if prefix else export_name
    data_dir = out_dir / base / "data" / partition
    meta_dir = out_dir / base / "metadata" / partition
    data_dir.mkdir(parents=True, exist_ok=True)
    meta_dir.mkdir(parents=True, exist_ok=True)
    suffix = "snappy.parquet" if file_format == "parquet" else "csv.gz"
    options = (
        "FORMAT parquet, COMPRESSION snappy"
        if file_format == "parquet"
        else "FORMAT csv, HEADER true, COMPRESSION gzip"
    )
    files: list[Path] = []
    for n, lo in enumerate(range(0, max(rows, 1), rows_per_file), start=1):
        hi = min(lo + rows_per_file, rows)
        target = data_dir / f"{export_name}-{n:05d}.{suffix}"
        select = _cur2_select(lo, hi, seed, billing_period, csv=file_format == "csv.gz", growth=growth)
        _copy(select, target, options, threads)
        files.append(target)
    digest = f"{seed:08x}{rows:016x}"[-24:]
    manifest = {
        "version": "1.0",
        "exportArn": f"arn:aws:bcm-data-exports:us-east-1:{_PAYER}:export/{export_name}-{digest[:8]}",
        "assemblyId": f"{digest[:8]}-{digest[8:12]}-4{digest[13:16]}-8{digest[17:20]}-{digest[:12]}",
        "executionId": f"{digest[12:20]}-{digest[:4]}-4{digest[5:8]}-9{digest[9:12]}-{digest[12:24]}",
        "exportName": export_name,
        "exportDataFormat": "parquet" if file_format == "parquet" else "textORcsv",
        "compression": "PARQUET" if file_format == "parquet" else "GZIP",
        "billingPeriod": {"start": f"{start:%Y-%m-%d}T00:00:00.000Z", "end": f"{end:%Y-%m-%d}T00:00:00.000Z"},
        "columns": [{"name": name, "type": typ} for name, typ in CUR2_COLUMNS],
        "dataFiles": [f"s3://{bucket}/{base}/data/{partition}/{f.name}" for f in files],
        "reportDataRowCount": rows,
    }
    manifest_path = meta_dir / f"{export_name}-Manifest.json"
    tmp = manifest_path.with_name(manifest_path.name + ".tmp")
    tmp.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    tmp.replace(manifest_path)
    return Cur2Export(manifest_path, tuple(files), rows, f"{start:%Y-%m}")


# --------------------------------------------------------------------------------------------------
# SQL generation


def _copy(select: str, path: Path, options: str, threads: int | None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    con = duckdb.connect(config={"preserve_insertion_order": True})
    try:
        con.execute("SET enable_progress_bar = false")
        if threads:
            con.execute(f"SET threads = {int(threads)}")
        con.execute(f"COPY ({select}) TO '{_sql_str(str(tmp))}' ({options})")
    finally:
        con.close()
    tmp.replace(path)
