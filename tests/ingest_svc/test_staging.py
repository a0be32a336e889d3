"""Staging names a bad file by its source object, never by the server temp file it was downloaded to; both
reach the raw SELECT as values, whatever characters they hold."""

from __future__ import annotations

import gzip
import uuid
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb
import pytest

from cloudact_providers.aws import formats as aws_formats
from cloudact_providers.azure import formats as azure_formats
from cloudact_providers.connector import RawSelectBuilder
from cloudact_providers.gcp import formats as gcp_formats
from cloudact_providers.oci import formats as oci_formats
from cloudact_shared import duck
from cloudact_shared.errors import FailedPrecondition
from cloudact_shared.lineage import Lineage
from cloudact_shared.storage import load_schema
from ingest_svc.adapters.staging import stage_files
from ingest_svc.adapters.staging_query import ExportFile
from tests.conftest import EA_ACTUAL, KOKU_GCP, OCI_COST_REPORT

LEGACY = Path(__file__).resolve().parents[1] / "data" / "aws" / "legacy_small.csv"
SAMPLES = {"aws": LEGACY, "azure": EA_ACTUAL, "gcp": KOKU_GCP, "oci": OCI_COST_REPORT}
NOV = date(2023, 11, 1)
BUILDERS: dict[str, tuple[RawSelectBuilder, str, str]] = {
    "aws": (aws_formats.build_raw_select, "cloud_aws_billing_raw_daily", "s3://acme-billing/cur/part-1.csv"),
    "azure": (
        azure_formats.build_raw_select,
        "cloud_azure_billing_raw_daily",
        "https://acme.blob.core.windows.net/exports/costexports/e/part_1.csv#dataset=actual",
    ),
    "oci": (oci_formats.build_raw_select, "cloud_oci_billing_raw_daily", "oci://bling/ocid1.tenancy.oc1..t/r/1.csv"),
    "gcp": (gcp_formats.build_raw_select, "cloud_gcp_billing_raw_daily", "bigquery://p/d/t?invoice.month=202311"),
}


def _run_dir(tmp_path: Path) -> Path:
    """A directory shaped like the pipeline's per-run scratch directory."""
    work = tmp_path / "data" / "tmp" / f"run-{uuid.uuid4()}-x"
    work.mkdir(parents=True)
    return work


def _stage(provider: str, work: Path, local: Path) -> FailedPrecondition:
    builder, raw_table, uri = BUILDERS[provider]
    lineage = Lineage("x/cost/billing", str(uuid.uuid4()), str(uuid.uuid4()), datetime.now(UTC), date.today())
    with pytest.raises(FailedPrecondition) as caught:
        stage_files(
            [ExportFile(local, uri, NOV)],
            lineage,
            work,
            load_schema(raw_table),
            builder,
            memory_limit="256MB",
            batch_rows=1000,
        )
    return caught.value


def _assert_named_by_object(error: FailedPrecondition, provider: str, tmp_path: Path) -> None:
    shown = BUILDERS[provider][2].partition("#dataset=")[0]
    assert str(error).startswith(f"{shown}: "), str(error)
    assert str(tmp_path) not in str(error) and "/tmp/" not in str(error) and "run-" not in str(error)
    assert "#dataset=" not in str(error)


@pytest.mark.parametrize("provider", sorted(BUILDERS))
@pytest.mark.parametrize(
    ("name", "content", "says"),
    [
        ("00000-part.csv", b"", "the file is empty"),
        ("00000-part.csv", b"\x00\x01\x02garbage\xff\xfe" * 50, ": the file is not UTF-8 text"),
        ("00000-part.csv", b"just,a,header\n", "(found the columns just, a, header), required columns missing"),
        ("00000-part.csv", b"a,b\n1,2\n", "required columns missing"),
        ("00000-part.csv.gz", b"\x1f\x8b\x08\x00not really gzip", ": the file is not valid gzip data"),
    ],
)
def test_a_file_refused_by_its_parser_is_named_by_its_object(
    provider: str, name: str, content: bytes, says: str, tmp_path: Path
) -> None:
    work = _run_dir(tmp_path)
    local = work / name
    local.write_bytes(content)
    error = _stage(provider, work, local)
    _assert_named_by_object(error, provider, tmp_path)
    assert says in str(error)


@pytest.mark.parametrize("compress", [False, True])
def test_a_file_failing_past_its_header_check_is_named_by_its_object(compress: bool, tmp_path: Path) -> None:
    lines = LEGACY.read_bytes().splitlines(keepends=True)
    # Far past DuckDB's sniffing sample, so the header check passes and the scan fails mid-stream.
    body = lines[0] + lines[1] * 30_000 + b"a9,\xff\xfe\xfd,broken\n" + lines[1] * 10
    work = _run_dir(tmp_path)
    local = work / ("00000-part.csv.gz" if compress else "00000-part.csv")
    local.write_bytes(gzip.compress(body) if compress else body)
    error = _stage("aws", work, local)
    _assert_named_by_object(error, "aws", tmp_path)
    assert error.reason == "UNREADABLE_FILE" and "not utf-8" in str(error)
    assert "Original Line" not in str(error) and "broken" not in str(error)


def test_rows_of_another_month_than_their_delivery_are_quarantined_file_by_file(tmp_path: Path) -> None:
    builder, raw_table, uri = BUILDERS["aws"]
    work = _run_dir(tmp_path)
    lineage = Lineage("aws/cost/billing", str(uuid.uuid4()), str(uuid.uuid4()), datetime.now(UTC), date.today())
    december = ExportFile(LEGACY, "s3://acme-billing/cur/december.csv", date(2023, 12, 1))

    staged = stage_files(
        [ExportFile(LEGACY, uri, NOV), december],
        lineage,
        work,
        load_schema(raw_table),
        builder,
        memory_limit="256MB",
        batch_rows=1000,
    )

    assert (staged.rows_read, staged.rows_good) == (8, 1)  # the one good row, of its November delivery
    assert staged.quarantine["row billing period 2023-11-01 differs from its delivery's period 2023-12-01"] == 1
    quarantined = staged.quarantined_rows(load_schema("cloud_aws_billing_quarantine")).read_all().to_pylist()
    moved = [row for row in quarantined if "differs" in row["reason"]]
    assert [(row["source_object"], row["billing_period"]) for row in moved] == [
        (december.source_object, december.billing_period)
    ]


@pytest.mark.parametrize("provider", sorted(BUILDERS))
def test_paths_and_object_names_are_values_not_sql(provider: str, tmp_path: Path) -> None:
    # Quotes in the local path and in the object name must reach DuckDB as values: never pasted into SQL.
    odd = tmp_path / 'it\'s "odd"; --' / SAMPLES[provider].name
    odd.parent.mkdir()
    odd.write_bytes(SAMPLES[provider].read_bytes())
    builder, _, uri = BUILDERS[provider]
    shown = uri.partition("#")[0] + '?o\'clock="1"'
    with duckdb.connect() as con:
        duck.set_lineage(con, Lineage("x/cost/billing", "c", "r", datetime.now(UTC), date.today()))
        sql = builder(con, odd, source_object=shown + uri.partition("#")[1] + uri.partition("#")[2])
        objects = con.execute(f"SELECT DISTINCT source_object FROM ({sql})").fetchall()
    assert objects == [(shown,)]
