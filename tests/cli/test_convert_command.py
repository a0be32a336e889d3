"""``cloudact convert``: files -> FOCUS 1.3 in-process, bad rows quarantined and counted in one pass."""

from __future__ import annotations

import csv
import gzip
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from cloudact_cli.convert import convert_files
from cloudact_shared.errors import FailedPrecondition
from tests.conftest import KOKU_GCP

DATA = Path(__file__).resolve().parents[1] / "data" / "aws"


def test_bad_rows_are_counted_by_reason_and_written_with_their_record(tmp_path: Path) -> None:
    out = tmp_path / "focus.parquet"

    result = convert_files("aws", [DATA / "legacy_small.csv"], out)

    assert result.rows_written == pq.read_metadata(out).num_rows == 1
    assert result.rows_quarantined == 3
    assert result.quarantine_reasons == {
        "missing billing period start (bill/BillingPeriodStartDate)": 1,
        "unparsable decimal in lineItem/UnblendedCost": 1,
        "unparsable timestamp in lineItem/UsageStartDate": 1,
    }
    with (tmp_path / "focus.parquet.quarantine.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert [r["source_row_number"] for r in rows] == ["2", "3", "4"]
    assert "'abc'" in rows[0]["reason"] and '"lineItem/UnblendedCost":"abc"' in rows[0]["record"]


def test_a_clean_input_leaves_no_quarantine_file(tmp_path: Path) -> None:
    out = tmp_path / "focus.csv"

    result = convert_files("aws", [DATA / "cur2_every_line_item_type.csv"], out)

    assert result.rows_quarantined == 0 and result.quarantine_reasons == {}
    assert not (tmp_path / "focus.csv.quarantine.csv").exists()
    with out.open() as handle:
        assert sum(1 for _ in csv.DictReader(handle)) == result.rows_written > 0


def test_a_file_failing_past_its_header_is_refused_as_the_pipeline_refuses_it(tmp_path: Path) -> None:
    lines = (DATA / "legacy_small.csv").read_bytes().splitlines(keepends=True)
    # Far past DuckDB's sniffing sample, so the scan fails mid-stream, inside the conversion.
    broken = tmp_path / "broken.csv.gz"
    broken.write_bytes(gzip.compress(lines[0] + lines[1] * 30_000 + b"a9,\xff\xfe\xfd,broken\n" + lines[1] * 10))

    with pytest.raises(FailedPrecondition) as caught:
        convert_files("aws", [broken], tmp_path / "focus.parquet")

    assert caught.value.reason == "UNREADABLE_FILE" and str(caught.value).startswith(f"{broken}: cannot be read")
    assert "not utf-8" in str(caught.value) and "Original Line" not in str(caught.value)


def _cloudact(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cloudact_cli.entry", *args], capture_output=True, text=True, timeout=120, check=False
    )


def test_command_reports_counts_and_bad_files_clearly(tmp_path: Path) -> None:
    ok = _cloudact(
        "convert",
        "--provider",
        "aws",
        "--input",
        str(DATA / "legacy_small.csv"),
        "--output",
        str(tmp_path / "f.parquet"),
    )
    assert ok.returncode == 0, ok.stderr
    assert "wrote 1 FOCUS rows" in ok.stderr and "3 rows quarantined" in ok.stderr

    empty = tmp_path / "empty.csv"
    empty.write_text("")
    bad = _cloudact("convert", "--provider", "aws", "--input", str(empty), "--output", str(tmp_path / "g.parquet"))
    assert bad.returncode == 1
    assert "error:" in bad.stderr and "empty" in bad.stderr and "Traceback" not in bad.stderr

    missing = _cloudact(
        "convert", "--provider", "aws", "--input", str(tmp_path / "nope.csv"), "--output", str(tmp_path / "h.parquet")
    )
    assert missing.returncode == 2 and "no such file" in missing.stderr


def test_command_converts_gcp_billing_export_files(tmp_path: Path) -> None:
    sample = KOKU_GCP
    done = _cloudact("convert", "--provider", "gcp", "--input", str(sample), "--output", str(tmp_path / "g.parquet"))
    assert done.returncode == 0, done.stderr
    focus = pq.read_table(tmp_path / "g.parquet")
    assert focus.num_rows > 0
    assert set(focus.column("x_source_provider").to_pylist()) == {"gcp"}
    assert set(focus.column("ServiceProviderName").to_pylist()) <= {"Google Cloud"} | set(
        focus.column("PublisherName").to_pylist()
    )
