"""An optimistic read (``RawSelectBuilder``'s ``optimistic``) gives the careful read's rows, or fails.

``cloudact convert`` first reads an export as if it were clean: a CSV file without padding its rows
(``SourceFile.strict_width``: no overflow column, empty cells NULL), and no Python function to fill
a row's missing billing currency. These tests hold it to the careful read on every provider's real
sample (every raw column, empty cells included); show that a ragged row, or a row without its
currency, fails the optimistic read with an error the caller knows to retry on; and that
``convert`` then sets that row aside, or fills it, as before.
"""

from __future__ import annotations

import csv
from pathlib import Path

import duckdb
import pytest

from cloudact_cli.convert import convert_files
from cloudact_providers.rawselect import optimism_refused
from cloudact_providers.registry import registration
from cloudact_shared import duck
from cloudact_shared.lineage import Lineage
from ingest_svc.adapters.staging_query import ExportFile, StagingQuery
from tests.cli.csvedit import column, read_rows, write_rows
from tests.conftest import EA_ACTUAL, EA_AMORTIZED, EA_FOCUS_CONVERTERS, KOKU_GCP, LEGACY_CUR_SAMPLE, OCI_COST_REPORT

SAMPLES = [
    ("aws", LEGACY_CUR_SAMPLE),
    ("azure", EA_ACTUAL),
    ("azure", EA_AMORTIZED),
    ("azure", EA_FOCUS_CONVERTERS),
    ("gcp", KOKU_GCP),
    ("oci", OCI_COST_REPORT),
]


def _staging(provider: str, path: Path) -> tuple[duckdb.DuckDBPyConnection, StagingQuery]:
    con = duck.connect()
    lineage = Lineage.new_run(f"{provider}/cost/billing", "local-files")
    builder = registration(provider).raw_select_builder()
    return con, StagingQuery(con, [ExportFile(path, path.name)], builder, lineage)


@pytest.mark.parametrize(("provider", "path"), SAMPLES, ids=[p.name for _, p in SAMPLES])
def test_an_optimistic_read_gives_every_raw_value_of_the_careful_one(provider: str, path: Path) -> None:
    con, staging = _staging(provider, path)
    careful = staging.sql(row_numbers=False, reasons=False)
    optimistic = staging.sql(row_numbers=False, reasons=False, optimistic=True)
    assert "null_padding" in careful and "null_padding" not in optimistic
    rows = con.execute(f"SELECT count(*) FROM ({optimistic})").fetchone()
    assert rows is not None and rows[0] > 0
    for one, other in ((careful, optimistic), (optimistic, careful)):
        differing = con.execute(f"SELECT count(*) FROM (({one}) EXCEPT ALL ({other}))").fetchone()
        assert differing == (0,)


def _ragged(tmp_path: Path) -> tuple[Path, int]:
    """The AWS sample with its 10th data row cut to three fields; and the header's fields."""
    lines = LEGACY_CUR_SAMPLE.read_text(encoding="utf-8").splitlines(keepends=True)
    lines[10] = ",".join(lines[10].split(",")[:3]) + "\n"
    path = tmp_path / "ragged.csv"
    path.write_text("".join(lines), encoding="utf-8")
    return path, len(next(csv.reader(lines[:1])))


def test_a_ragged_row_fails_the_optimistic_read_with_an_error_the_caller_retries_on(tmp_path: Path) -> None:
    path, _ = _ragged(tmp_path)
    con, staging = _staging("aws", path)
    with pytest.raises(duckdb.Error) as refused:
        con.execute(f"SELECT count(*) FROM ({staging.sql(row_numbers=False, reasons=False, optimistic=True)})")
    assert optimism_refused(refused.value)
    padded = con.execute(f"SELECT count(_quarantine_reason) FROM ({staging.sql(row_numbers=False)})").fetchone()
    assert padded == (1,)


def test_convert_sets_a_ragged_row_aside_and_writes_the_others_as_from_a_clean_file(tmp_path: Path) -> None:
    path, width = _ragged(tmp_path)
    converted = convert_files("aws", [path], tmp_path / "ragged.parquet")
    assert converted.rows_quarantined == 1
    assert converted.quarantine_reasons == {f"the row has 3 of the header's {width} fields": 1}
    clean = convert_files("aws", [LEGACY_CUR_SAMPLE], tmp_path / "clean.parquet")
    con = duckdb.connect()
    differing = con.execute(
        "SELECT count(*) FROM (SELECT * EXCLUDE (x_run_id, x_ingested_at) FROM read_parquet(?) "
        "EXCEPT ALL SELECT * EXCLUDE (x_run_id, x_ingested_at) FROM read_parquet(?))",
        [str(tmp_path / "ragged.parquet"), str(tmp_path / "clean.parquet")],
    ).fetchone()
    assert differing == (0,)
    assert 0 < converted.rows_written < clean.rows_written


def test_a_row_without_its_currency_fails_the_optimistic_read_and_convert_fills_it(tmp_path: Path) -> None:
    header, rows = read_rows(OCI_COST_REPORT)
    rows[7][column(header, "cost/myCost")] = "0"  # as OCI writes free usage
    rows[7][column(header, "cost/currencyCode")] = ""
    path = write_rows(tmp_path / "report.csv", header, rows)
    con, staging = _staging("oci", path)
    with pytest.raises(duckdb.Error) as refused:
        con.execute(staging.sql(row_numbers=False, reasons=False, optimistic=True)).fetchall()
    assert optimism_refused(refused.value)

    converted = convert_files("oci", [path], tmp_path / "focus.parquet")

    assert converted.rows_quarantined == 0 and converted.rows_written == len(rows)
    currencies = duckdb.execute(
        "SELECT DISTINCT BillingCurrency FROM read_parquet(?)", [str(tmp_path / "focus.parquet")]
    )
    assert currencies.fetchall() == [("USD",)]
