"""FocusConverter converts exactly the run's raw slice (its credential, its months) and refuses a stale run."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path

import pyarrow.compute as pc
import pytest

from cloudact_providers.registry import registration
from cloudact_shared.errors import FailedPrecondition
from cloudact_shared.lineage import Lineage
from cloudact_shared.storage import SliceKey, load_schema
from cloudact_shared.storage.embedded import EmbeddedTableStore
from cloudact_shared.workspace import WorkDirs
from focus_svc.service import FocusConverter
from ingest_svc.adapters.staging import stage_files
from ingest_svc.adapters.staging_query import ExportFile
from tests.conftest import LEGACY_CUR_SAMPLE

ORG, DATASET = "acme", "acme_prod"
RAW, FOCUS = "cloud_aws_billing_raw_daily", "cost_data_standard_1_3"
NOV_2023 = date(2023, 11, 1)


def _lineage(credential_id: str) -> Lineage:
    return Lineage.new_run("aws/cost/billing", credential_id, now=datetime(2025, 2, 3, tzinfo=UTC))


def _write_raw_slice(store: EmbeddedTableStore, lineage: Lineage, work: Path) -> int:
    """Stages the legacy CUR sample as ``lineage``'s run and replaces its raw slice, as ingest_svc does."""
    work.mkdir(parents=True)
    staged = stage_files(
        [ExportFile(LEGACY_CUR_SAMPLE, "s3://b/cur.csv", NOV_2023)],
        lineage,
        work,
        load_schema(RAW),
        registration("aws").raw_select_builder(),
        memory_limit="256MB",
        batch_rows=1000,
    )
    slice_key: SliceKey = {"x_credential_id": lineage.credential_id, "billing_period": [NOV_2023]}
    store.replace_slice(DATASET, load_schema(RAW), slice_key, staged.good_rows(1000))
    return staged.rows_good


@pytest.fixture
def store(tmp_path: Path) -> EmbeddedTableStore:
    return EmbeddedTableStore(tmp_path / "lake")


@pytest.fixture
def converter(store: EmbeddedTableStore, tmp_path: Path) -> FocusConverter:
    return FocusConverter(store, work_dirs=WorkDirs(tmp_path / "tmp"), batch_rows=1000, memory_limit="256MB")


def test_only_the_runs_credential_and_months_are_converted(
    store: EmbeddedTableStore, converter: FocusConverter, tmp_path: Path
) -> None:
    mine, other = _lineage(str(uuid.uuid4())), _lineage(str(uuid.uuid4()))
    rows = _write_raw_slice(store, mine, tmp_path / "mine")
    _write_raw_slice(store, other, tmp_path / "other")

    elsewhere = converter.convert(ORG, "aws", mine, [date(2023, 12, 1)])
    converted = converter.convert(ORG, "aws", mine, [NOV_2023])

    assert (converted.raw_rows_read, converted.focus_rows_written) == (rows, rows) and rows > 1000
    assert (elsewhere.raw_rows_read, elsewhere.focus_rows_written) == (0, 0)
    focus = store.scan(DATASET, FOCUS).to_table(columns=["x_credential_id", "x_run_id"])
    assert set(focus.column("x_run_id").to_pylist()) == {mine.run_id}
    assert pc.all(pc.equal(focus.column("x_credential_id"), mine.credential_id)).as_py()


def test_a_slice_another_run_replaced_is_not_converted(
    store: EmbeddedTableStore, converter: FocusConverter, tmp_path: Path
) -> None:
    newer = _lineage(str(uuid.uuid4()))
    _write_raw_slice(store, newer, tmp_path / "newer")
    older = replace(newer, run_id=str(uuid.uuid4()))

    with pytest.raises(FailedPrecondition) as caught:
        converter.convert(ORG, "aws", older, [NOV_2023])

    assert caught.value.reason == "STALE_RUN" and older.run_id in caught.value.message
    assert not store.table_exists(DATASET, FOCUS)
