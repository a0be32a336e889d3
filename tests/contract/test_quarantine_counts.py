"""For every registered provider, the quarantine count is the number of rows set aside, on both paths.

``cloudact convert`` reports a count and writes ``OUTPUT.quarantine.csv``; the pipeline's staging
step reports a count and hands the quarantine table its rows. Whatever the provider's mapping does
with the staged rows (Azure's reads them twice), each count must equal the rows actually set aside.
Each provider's first CSV sample is spoilt with rows of the wrong width, which any CSV export can
have, and one bad value in a column every layout has.
"""

from __future__ import annotations

import csv
import uuid
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from cloudact_cli.convert import convert_files
from cloudact_providers.rawselect import FileFormat
from cloudact_providers.registry import known_providers, registration
from cloudact_shared.lineage import Lineage
from cloudact_shared.storage import load_schema, read_schema
from ingest_svc.adapters.staging import stage_files
from ingest_svc.adapters.staging_query import ExportFile
from tests.cli.csvedit import read_rows, write_rows
from tests.conftest import DATA

SPOILT = 3
"""Rows spoilt in each sample: one short, one long, one with an unreadable date."""
_DATES = ("Date", "lineItem/UsageStartDate", "lineItem/intervalUsageStart", "usage_start_time", "usage_date_time")


def _reads_csv(provider: str) -> bool:
    """Whether the provider's exports may be CSV. An API source reads only the JSON lines its own connector
    writes, which have no ragged rows (its row-level quarantine is tested with the provider)."""
    fmt = registration(provider).raw_select_builder()
    return not isinstance(fmt, FileFormat) or "csv" in fmt.reading.suffixes


CSV_PROVIDERS = [provider for provider in known_providers() if _reads_csv(provider)]


def _csv_sample(provider: str) -> Path:
    for sample in registration(provider).samples:
        for name in sample.files:
            if name.endswith(".csv"):
                return DATA / name
    raise AssertionError(f"{provider} registers no CSV sample: every CSV export can have ragged rows")


def _spoilt(provider: str, directory: Path) -> Path:
    header, rows = read_rows(_csv_sample(provider))
    dated = next(header.index(name) for name in _DATES if name in header)
    rows = [*rows, rows[0][:-1], [*rows[0], "surplus"], [*rows[0][:dated], "not a date", *rows[0][dated + 1 :]]]
    return write_rows(directory / f"{provider}-spoilt.csv", header, rows)


@pytest.mark.parametrize("provider", CSV_PROVIDERS)
def test_convert_counts_the_rows_of_its_quarantine_file(provider: str, tmp_path: Path) -> None:
    output = tmp_path / "focus.parquet"

    result = convert_files(provider, [_spoilt(provider, tmp_path)], output, threads=2)

    with output.with_name(output.name + ".quarantine.csv").open(newline="") as handle:
        written = list(csv.DictReader(handle))
    assert result.rows_quarantined == len(written) == sum(result.quarantine_reasons.values()) == SPOILT


@pytest.mark.parametrize("provider", CSV_PROVIDERS)
def test_staging_counts_the_rows_it_hands_the_quarantine_table(provider: str, tmp_path: Path) -> None:
    spec = registration(provider)
    lineage = Lineage(f"{provider}/cost/billing", str(uuid.uuid4()), str(uuid.uuid4()), datetime.now(UTC), date.today())
    source = _spoilt(provider, tmp_path)

    staged = stage_files(
        [ExportFile(source, f"file://{source.name}")],
        lineage,
        tmp_path,
        read_schema(spec.raw_schema_path),
        spec.raw_select_builder(),
        memory_limit="256MB",
        batch_rows=100,
    )

    handed = staged.quarantined_rows(load_schema(spec.quarantine_schema)).read_all()
    assert staged.rows_quarantined == handed.num_rows == sum(staged.quarantine.values()) == SPOILT
    assert staged.rows_read == staged.rows_good + staged.rows_quarantined
