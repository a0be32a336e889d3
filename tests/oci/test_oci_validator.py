"""FOCUS conformance of the OCI output: the focus-validator over the converted sample cost report and
over OCI's own FOCUS report upgraded to 1.3."""

from __future__ import annotations

from pathlib import Path

import pytest

from cloudact_cli.convert import convert_files
from tests.conformance.validator import assert_conforms
from tests.oci.conftest import FOCUS_FIXTURE, SAMPLE


@pytest.mark.timeout(960)
def test_validator_passes_every_rule_but_known_defects(tmp_path: Path) -> None:
    output = tmp_path / "focus.parquet"
    result = convert_files("oci", [SAMPLE], output)
    assert result.rows_written == 506 and result.rows_quarantined == 0
    assert_conforms(output)


@pytest.mark.timeout(960)
def test_upgraded_focus_report_passes_every_rule_but_known_defects(tmp_path: Path) -> None:
    output = tmp_path / "focus.parquet"
    result = convert_files("oci", [FOCUS_FIXTURE], output)
    # 12 lines, one superseded by its correction.
    assert result.rows_written == 11 and result.rows_quarantined == 0
    assert_conforms(output)
