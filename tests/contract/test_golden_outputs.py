"""Refactors keep the output: every sample and fixture converts to exactly the recorded FOCUS rows.

Each case is converted with a fixed lineage, and its staged raw rows, its FOCUS rows (every
column, sorted) and its quarantine counts are fingerprinted. ``tests/data/golden/focus_outputs.json`` holds the
fingerprints recorded before the provider refactor; a change of any value in any row fails here.
A deliberate change of output re-records them: ``CLOUDACT_RECORD_GOLDEN=1 pytest tests/contract``,
and the diff of that file goes in the commit that explains it.

A FOCUS column added to the schema after a case was recorded (the GenAI ``x_model``, ``x_token_type``,
``x_project_id``) is not in its recorded column list: it must be NULL in every row of the case, and
is then left out of the fingerprint, so the recorded digest still proves every other value unchanged.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from cloudact_cli.convert import convert_files
from cloudact_providers.aws.synthetic import generate_cur2, generate_legacy_cur_csv
from cloudact_providers.databricks.synthetic import sample as databricks_sample
from cloudact_providers.gcp.synthetic import write_nested_parquet
from cloudact_providers.registry import registration
from cloudact_providers.snowflake.synthetic import focus_sample as snowflake_focus_sample
from cloudact_providers.snowflake.synthetic import usage_sample as snowflake_usage_sample
from cloudact_shared import duck
from cloudact_shared.lineage import Lineage
from focus_svc import conversion
from tests.conftest import DATA, EA_ACTUAL, EA_AMORTIZED, EA_FOCUS_CONVERTERS, KOKU_GCP, LEGACY_CUR_SAMPLE
from tests.conftest import OCI_COST_REPORT as OCI_SAMPLE

GOLDEN = DATA / "golden" / "focus_outputs.json"
LINEAGE = Lineage(
    "golden/cost/billing",
    "00000000-0000-4000-8000-000000000000",
    "11111111-1111-4111-8111-111111111111",
    datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
    date(2026, 1, 2),
)
Inputs = Callable[[Path], list[Path]]


def _files(*paths: Path) -> Inputs:
    return lambda _tmp: list(paths)


def _generated_cur2(tmp: Path) -> list[Path]:
    return list(generate_cur2(tmp / "cur2", 3_000, seed=11, rows_per_file=1_000).data_files)


def _generated_legacy(tmp: Path) -> list[Path]:
    return [generate_legacy_cur_csv(tmp / "legacy.csv", 3_000, seed=13)]


CASES: dict[str, tuple[str, Inputs]] = {
    "aws/legacy_sample": ("aws", _files(LEGACY_CUR_SAMPLE)),
    "aws/legacy_small": ("aws", _files(DATA / "aws" / "legacy_small.csv")),
    "aws/cur2_every_line_item_type": ("aws", _files(DATA / "aws" / "cur2_every_line_item_type.csv")),
    "aws/generated_cur2": ("aws", _generated_cur2),
    "aws/generated_legacy": ("aws", _generated_legacy),
    "azure/ea_actual": ("azure", _files(EA_ACTUAL)),
    "azure/ea_amortized": ("azure", _files(EA_AMORTIZED)),
    "azure/ea_actual_plus_amortized": ("azure", _files(EA_ACTUAL, EA_AMORTIZED)),
    "azure/focus_converters_ea": ("azure", _files(EA_FOCUS_CONVERTERS)),
    "azure/focuscost_1.0": ("azure", _files(DATA / "azure" / "FocusCost_1.0_ea.csv")),
    "azure/focuscost_1.0r2": ("azure", _files(DATA / "azure" / "FocusCost_1.0r2_ea.csv")),
    "azure/focuscost_1.2_preview": ("azure", _files(DATA / "azure" / "FocusCost_1.2-preview_mca.csv")),
    "gcp/koku_flattened_csv": ("gcp", _files(KOKU_GCP)),
    "gcp/generated_nested_parquet": ("gcp", lambda tmp: [write_nested_parquet(tmp / "export.parquet")]),
    "oci/cost_report_sample": ("oci", _files(OCI_SAMPLE)),
    "oci/focus_report": ("oci", _files(DATA / "oci" / "focus_report_2025-01-14.csv")),
    "databricks/system_tables": ("databricks", databricks_sample),
    "snowflake/focus_view": ("snowflake", snowflake_focus_sample),
    "snowflake/usage_in_currency": ("snowflake", snowflake_usage_sample),
}


def _canonical(value: object) -> object:
    if isinstance(value, Decimal):
        return str(value.normalize()) if value == value else "NaN"
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _canonical(v) for k, v in sorted(value.items())}
    if isinstance(value, list | tuple):
        return [_canonical(v) for v in value]
    return value


def _digest(table: pa.Table) -> str:
    lines = sorted(json.dumps(_canonical(row), sort_keys=True, default=str) for row in table.to_pylist())
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()


def _raw_rows(provider: str, inputs: list[Path]) -> pa.Table:
    """The staged raw rows (raw table columns, quarantine reason, row number) the pipeline would write."""
    con = duck.connect(memory_limit="512MB", threads=2)
    try:
        conversion.set_lineage(con, LINEAGE)
        selects = [registration(provider).raw_select_builder()(con, path, source_object=path.name) for path in inputs]
        relation = con.sql(" UNION ALL BY NAME ".join(f"({select})" for select in selects))
        assert relation is not None
        return relation.to_arrow_table().drop_columns(["_record"])
    finally:
        con.close()


def _without_added_columns(table: pa.Table, recorded: list[str] | None) -> pa.Table:
    """``table`` without the columns added to the FOCUS schema since ``recorded`` (the case's recorded
    column list; None: nothing recorded yet), each of which must be NULL in every row: a value there
    is a change of output the recorded digest cannot see."""
    if recorded is None:
        return table
    added = [name for name in table.column_names if name not in recorded]
    valued = [name for name in added if table.column(name).null_count != table.num_rows]
    assert valued == [], f"columns added since the case was recorded hold values: {valued}"
    return table.drop_columns(added)


def fingerprint(
    provider: str, inputs: list[Path], tmp: Path, recorded_columns: list[str] | None = None
) -> dict[str, object]:
    """The raw rows and the FOCUS rows of ``inputs`` (sorted, canonical JSON lines) hashed, with counts.

    ``recorded_columns``: the FOCUS columns the case was recorded with; columns added since are
    checked to be NULL and left out (see the module doc).
    """
    output = tmp / "focus.parquet"
    result = convert_files(provider, inputs, output, lineage=LINEAGE, threads=2)
    table = _without_added_columns(pq.read_table(output), recorded_columns)
    raw = _raw_rows(provider, inputs)
    return {
        "rows": table.num_rows,
        "columns": table.column_names,
        "sha256": _digest(table),
        "raw_rows": raw.num_rows,
        "raw_columns": raw.column_names,
        "raw_sha256": _digest(raw),
        "quarantined": result.rows_quarantined,
        "quarantine_reasons": dict(sorted(result.quarantine_reasons.items())),
    }


@pytest.fixture(scope="module")
def golden() -> dict[str, dict[str, object]]:
    if os.environ.get("CLOUDACT_RECORD_GOLDEN"):
        return {}
    recorded: dict[str, dict[str, object]] = json.loads(GOLDEN.read_text())
    return recorded


@pytest.mark.parametrize("case", sorted(CASES))
def test_focus_output_is_unchanged(case: str, golden: dict[str, dict[str, object]], tmp_path: Path) -> None:
    provider, inputs = CASES[case]
    recording = bool(os.environ.get("CLOUDACT_RECORD_GOLDEN"))
    recorded_columns = None if recording else _recorded_columns(golden[case])
    found = fingerprint(provider, inputs(tmp_path), tmp_path, recorded_columns)
    if recording:
        recorded = json.loads(GOLDEN.read_text()) if GOLDEN.exists() else {}
        recorded[case] = found
        GOLDEN.parent.mkdir(parents=True, exist_ok=True)
        GOLDEN.write_text(json.dumps(dict(sorted(recorded.items())), indent=1) + "\n")
        return
    assert found == golden[case]


def _recorded_columns(recorded: dict[str, object]) -> list[str]:
    columns = recorded["columns"]
    assert isinstance(columns, list)
    return [str(name) for name in columns]


def test_a_column_added_since_recording_must_be_null_and_is_left_out() -> None:
    table = pa.table({"BilledCost": [1, 2], "x_model": [None, None]})
    assert _without_added_columns(table, ["BilledCost"]).column_names == ["BilledCost"]
    assert _without_added_columns(table, None).column_names == ["BilledCost", "x_model"]
    with pytest.raises(AssertionError, match="x_model"):
        _without_added_columns(pa.table({"BilledCost": [1], "x_model": ["gpt-4o"]}), ["BilledCost"])


def test_every_case_is_recorded(golden: dict[str, dict[str, object]]) -> None:
    if not os.environ.get("CLOUDACT_RECORD_GOLDEN"):
        assert sorted(golden) == sorted(CASES)
