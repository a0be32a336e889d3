"""``cloudact convert`` keeps the good rows of a damaged export and sets the bad ones aside, one by one.

A row with the wrong number of fields, an unparsable value or an impossible one (a currency that is
not ISO 4217) goes to the quarantine file with its row number, its text and a reason a person can
act on; mixed line endings and a UTF-8 BOM are read; a header-only export is an empty result; a
file that is not an export is refused in one sentence naming what the provider reads.
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from cloudact_cli.convert import ConvertedFiles, convert_files
from cloudact_providers.rawselect import FileFormat
from cloudact_providers.registry import known_providers, registration
from cloudact_shared.errors import FailedPrecondition
from cloudact_shared.lineage import Lineage
from cloudact_shared.storage import read_schema
from ingest_svc.adapters.staging import stage_files
from ingest_svc.adapters.staging_query import ExportFile
from tests.cli.csvedit import column, read_rows, write_rows
from tests.conftest import EA_ACTUAL, KOKU_GCP, LEGACY_CUR_SAMPLE, OCI_COST_REPORT

CUR2_FIXTURE = Path(__file__).resolve().parents[1] / "data" / "aws" / "cur2_every_line_item_type.csv"
DATAHUB_EVENTS = Path(__file__).resolve().parents[1] / "data" / "datahub" / "custom_events.csv"
CSV_SAMPLES = {
    "aws": LEGACY_CUR_SAMPLE,
    "azure": EA_ACTUAL,
    "gcp": KOKU_GCP,
    "oci": OCI_COST_REPORT,
    "datahub": DATAHUB_EVENTS,
}


def _reads_csv(provider: str) -> bool:
    """Whether the provider's exports may be CSV. An API source reads only the JSON lines its own connector
    writes (it refuses any other file by its kind; its rows are tested with the provider)."""
    fmt = registration(provider).raw_select_builder()
    return not isinstance(fmt, FileFormat) or "csv" in fmt.reading.suffixes


CSV_PROVIDERS = [provider for provider in known_providers() if _reads_csv(provider)]


def _cloudact(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cloudact_cli.entry", *args], capture_output=True, text=True, timeout=120, check=False
    )


def _quarantined(output: Path) -> list[dict[str, str]]:
    path = output.with_name(output.name + ".quarantine.csv")
    if not path.exists():
        return []
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def _rows_of(focus: Path) -> list[str]:
    """A FOCUS file's rows, lineage of the run aside, in a stable order (``convert`` writes unordered)."""
    table = pq.read_table(focus).drop_columns(["x_run_id", "x_ingested_at"])
    return sorted(json.dumps(row, default=str, sort_keys=True) for row in table.to_pylist())


def _convert(provider: str, source: Path, output: Path) -> tuple[ConvertedFiles, list[dict[str, str]]]:
    result = convert_files(provider, [source], output, threads=2)
    quarantined = _quarantined(output)
    assert result.rows_quarantined == len(quarantined)
    return result, quarantined


def test_a_ragged_cur_with_mixed_line_endings_keeps_its_good_rows(tmp_path: Path) -> None:
    header, rows = read_rows(LEGACY_CUR_SAMPLE)
    rows = rows[:1000]
    rows[99] = rows[99][:-1]  # one field short
    rows[499] = [*rows[499], "surplus"]  # one field too many
    rows[899] = rows[899][:20]  # cut short
    source = write_rows(tmp_path / "cur.csv", header, rows, endings="mixed")
    output = tmp_path / "focus.parquet"

    done = _cloudact("convert", "--provider", "aws", "--input", str(source), "--output", str(output))

    assert done.returncode == 0, done.stderr
    assert "wrote 997 FOCUS rows" in done.stderr and "3 rows quarantined" in done.stderr
    assert pq.read_metadata(output).num_rows == 997
    quarantined = _quarantined(output)
    assert [q["source_row_number"] for q in quarantined] == ["100", "500", "900"]
    assert [q["reason"].split(":")[0] for q in quarantined] == [
        f"the row has {len(header) - 1} of the header's {len(header)} fields",
        f"the row has more fields than the header's {len(header)}",
        f"the row has 20 of the header's {len(header)} fields",
    ]
    assert quarantined[1]["reason"].startswith(f"the row has more fields than the header's 94: '{rows[499][0]},")
    assert json.loads(quarantined[1]["record"])["(fields past the header)"] == "surplus"
    assert "Invalid Input Error" not in done.stderr and "sniff" not in done.stderr


def test_a_bom_and_crlf_file_reads_as_the_plain_one(tmp_path: Path) -> None:
    header, rows = read_rows(OCI_COST_REPORT)
    plain = write_rows(tmp_path / "plain.csv", header, rows)
    dos = tmp_path / "dos.csv"
    dos.write_bytes(b"\xef\xbb\xbf" + plain.read_bytes().replace(b"\n", b"\r\n"))

    a, _ = _convert("oci", plain, tmp_path / "a.parquet")
    b, _ = _convert("oci", dos, tmp_path / "b.parquet")

    assert a.rows_written == b.rows_written == len(rows) and a.rows_quarantined == b.rows_quarantined == 0
    assert _rows_of(tmp_path / "a.parquet") == _rows_of(tmp_path / "b.parquet")


def test_azure_cost_details_count_each_quarantined_row_once(tmp_path: Path) -> None:
    header, rows = read_rows(EA_ACTUAL)
    rows = rows[:2]
    rows[1][column(header, "Cost")] = "twelve"
    source = write_rows(tmp_path / "actual.csv", header, rows)

    result, quarantined = _convert("azure", source, tmp_path / "focus.parquet")

    assert result.rows_quarantined == 1 == len(quarantined)
    assert result.quarantine_reasons == {"unparsable decimal in Cost": 1}


@pytest.mark.parametrize("provider", CSV_PROVIDERS)
def test_a_header_only_export_is_an_empty_result(provider: str, tmp_path: Path) -> None:
    header, _ = read_rows(CSV_SAMPLES[provider])
    source = write_rows(tmp_path / "empty-period.csv", header, [])
    output = tmp_path / "focus.parquet"

    done = _cloudact("convert", "--provider", provider, "--input", str(source), "--output", str(output))

    assert done.returncode == 0, done.stderr
    assert "wrote 0 FOCUS rows" in done.stderr and "no data rows" in done.stderr
    assert pq.read_metadata(output).num_rows == 0 and "BilledCost" in pq.read_schema(output).names
    assert not _quarantined(output)


@pytest.mark.parametrize("provider", CSV_PROVIDERS)
@pytest.mark.parametrize(
    ("content", "found"),
    [(b"name,amount\nfoo,1\n", "name, amount"), (b"\x00\x01\x02garbage\xff\xfe" * 50, "not UTF-8 text")],
)
def test_a_file_that_is_not_an_export_is_refused_in_one_sentence(
    provider: str, content: bytes, found: str, tmp_path: Path
) -> None:
    source = tmp_path / "other.csv"
    source.write_bytes(content)

    with pytest.raises(FailedPrecondition) as caught:
        convert_files(provider, [source], tmp_path / "focus.parquet")

    message = str(caught.value)
    fmt = registration(provider).raw_select_builder()
    assert isinstance(fmt, FileFormat) and fmt.layouts
    assert message.startswith(f"{source}: not ") and found in message and "\n" not in message
    assert all(layout.name in message for layout in fmt.layouts), message
    assert "Error" not in message and "sniff" not in message.lower() and "column0" not in message


@pytest.mark.parametrize(
    ("provider", "source", "dropped", "named"),
    [
        ("oci", OCI_COST_REPORT, "cost/myCost", "cost/myCost"),
        ("aws", LEGACY_CUR_SAMPLE, "lineItem/UnblendedCost", "lineItem/UnblendedCost"),
        ("azure", EA_ACTUAL, "BillingPeriodStartDate", "BillingPeriodStartDate"),
    ],
)
def test_a_missing_column_is_named_as_the_header_spells_it(
    provider: str, source: Path, dropped: str, named: str, tmp_path: Path
) -> None:
    header, rows = read_rows(source)
    at = column(header, dropped)
    spoilt = write_rows(tmp_path / "part.csv", header[:at] + header[at + 1 :], [r[:at] + r[at + 1 :] for r in rows])

    with pytest.raises(FailedPrecondition, match=f"required columns missing: {named}$"):
        convert_files(provider, [spoilt], tmp_path / "focus.parquet")


def test_an_invalid_currency_code_quarantines_its_row(tmp_path: Path) -> None:
    header, rows = read_rows(EA_ACTUAL)
    rows[2][column(header, "BillingCurrency")] = "MC"
    source = write_rows(tmp_path / "actual.csv", header, rows)

    result, quarantined = _convert("azure", source, tmp_path / "focus.parquet")

    assert result.quarantine_reasons == {"invalid currency code in BillingCurrency": 1}
    assert [q["source_row_number"] for q in quarantined] == ["3"] and "'MC'" in quarantined[0]["reason"]
    assert set(pq.read_table(tmp_path / "focus.parquet").column("BillingCurrency").to_pylist()) == {"USD"}


def test_a_row_without_a_currency_takes_the_files_single_currency(tmp_path: Path) -> None:
    header, rows = read_rows(OCI_COST_REPORT)
    rows[7][column(header, "cost/myCost")] = "0"  # as OCI writes free usage
    rows[7][column(header, "cost/currencyCode")] = ""
    source = write_rows(tmp_path / "report.csv", header, rows)

    result, _ = _convert("oci", source, tmp_path / "focus.parquet")

    assert result.rows_quarantined == 0 and result.rows_written == len(rows)
    focus = pq.read_table(tmp_path / "focus.parquet")
    assert set(focus.column("BillingCurrency").to_pylist()) == {"USD"}


def test_a_row_without_a_currency_in_a_file_of_several_is_quarantined(tmp_path: Path) -> None:
    header, rows = read_rows(OCI_COST_REPORT)
    rows[0][column(header, "cost/currencyCode")] = "EUR"
    rows[1][column(header, "cost/currencyCode")] = ""
    source = write_rows(tmp_path / "report.csv", header, rows)

    result, quarantined = _convert("oci", source, tmp_path / "focus.parquet")

    assert [q["source_row_number"] for q in quarantined] == ["2"]
    assert result.quarantine_reasons == {"missing currency code (cost/currencyCode)": 1}
    assert set(pq.read_table(tmp_path / "focus.parquet").column("BillingCurrency").to_pylist()) == {"USD", "EUR"}


def test_a_currency_that_is_not_iso_4217_quarantines_its_row_for_every_provider(tmp_path: Path) -> None:
    header, rows = read_rows(KOKU_GCP)
    rows[0][column(header, "currency")] = "usd$"
    gcp = write_rows(tmp_path / "gcp.csv", header, rows)
    header, rows = read_rows(CUR2_FIXTURE)
    rows[1][column(header, "pricing_currency")] = "XYZ"
    aws = write_rows(tmp_path / "cur2.csv", header, rows)

    gcp_result, gcp_quarantined = _convert("gcp", gcp, tmp_path / "gcp.parquet")
    aws_result, aws_quarantined = _convert("aws", aws, tmp_path / "aws.parquet")

    assert gcp_result.quarantine_reasons == {"invalid currency code in currency": 1}
    assert [q["source_row_number"] for q in gcp_quarantined] == ["1"]
    assert aws_result.quarantine_reasons == {"invalid currency code in pricing_currency": 1}
    assert [q["source_row_number"] for q in aws_quarantined] == ["2"] and "'XYZ'" in aws_quarantined[0]["reason"]


def test_a_usage_date_outside_the_billing_period_quarantines_its_row(tmp_path: Path) -> None:
    header, rows = read_rows(LEGACY_CUR_SAMPLE)
    rows[4][column(header, "lineItem/UsageStartDate")] = "2023-12-05T00:00:00.000Z"  # the period is November
    source = write_rows(tmp_path / "cur.csv", header, rows)

    result, quarantined = _convert("aws", source, tmp_path / "focus.parquet")

    assert result.quarantine_reasons == {"usage start outside the billing period": 1}
    assert [q["source_row_number"] for q in quarantined] == ["5"] and "2023-12-05" in quarantined[0]["reason"]
    assert result.rows_written == len(rows) - 1


@pytest.mark.parametrize("broken", [3, 24_000], ids=["early: lenient from the start", "late: after a refused scan"])
def test_a_quoted_line_break_reads_leniently(tmp_path: Path, broken: int) -> None:
    """DuckDB's parallel CSV scanner cannot pad short rows once a quoted value holds a line break: a
    file quoting one in its first megabytes is read on one thread from the start, a file whose first
    one comes later runs again on one thread; every row comes out as the file has it."""
    header, rows = read_rows(LEGACY_CUR_SAMPLE)
    described = column(header, "lineItem/LineItemDescription")
    rows = [list(row) for _ in range(20) for row in rows]  # 25,620 rows: several of the parallel scanner's chunks
    rows[broken][described] = "first line\nsecond line"  # row 24,000: past the first megabytes
    rows[20_001] = rows[20_001][:10]  # a short row, padded
    source = write_rows(tmp_path / "cur.csv", header, rows)
    output = tmp_path / "focus.parquet"

    result, quarantined = _convert("aws", source, output)

    assert (result.rows_written, result.rows_quarantined) == (len(rows) - 1, 1)
    assert [q["source_row_number"] for q in quarantined] == ["20002"]
    descriptions = pq.read_table(output, columns=["ChargeDescription"]).column(0).to_pylist()
    assert "first line\nsecond line" in descriptions


def test_convert_sets_a_row_aside_for_a_value_it_converts_never_for_one_it_does_not_read(tmp_path: Path) -> None:
    """``convert`` keeps no raw table, so it parses only what its FOCUS columns read; the pipeline
    keeps every raw column in the raw table, so its staging sets aside a row for any bad value."""
    header, rows = read_rows(LEGACY_CUR_SAMPLE)
    rows[2][column(header, "lineItem/BlendedCost")] = "not a cost"  # no FOCUS column reads a blended cost
    rows[3][column(header, "lineItem/UnblendedCost")] = "not a cost"  # BilledCost is the unblended cost
    source = write_rows(tmp_path / "cur.csv", header, rows)

    result, quarantined = _convert("aws", source, tmp_path / "focus.parquet")
    spec = registration("aws")
    staged = stage_files(
        [ExportFile(source, f"file://{source.name}")],
        Lineage.new_run("aws/cost/billing", "local-files"),
        tmp_path,
        read_schema(spec.raw_schema_path),
        spec.raw_select_builder(),
        memory_limit="256MB",
        batch_rows=1000,
    )

    assert [q["source_row_number"] for q in quarantined] == ["4"]
    assert result.quarantine_reasons == {"unparsable decimal in lineItem/UnblendedCost": 1}
    assert result.rows_written == len(rows) - 1
    assert staged.rows_quarantined == 2 and staged.quarantine == {
        "unparsable decimal in lineItem/BlendedCost": 1,
        "unparsable decimal in lineItem/UnblendedCost": 1,
    }
