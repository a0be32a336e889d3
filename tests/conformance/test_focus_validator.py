"""FOCUS conformance: the FinOps Foundation's focus-validator over our converted AWS output."""

from __future__ import annotations

from pathlib import Path

import pytest

from cloudact_cli.convert import convert_files
from tests.conformance.validator import assert_conforms
from tests.conftest import DATA, LEGACY_CUR_SAMPLE

LEGACY_SAMPLE = LEGACY_CUR_SAMPLE
CUR2_FIXTURE = DATA / "aws" / "cur2_every_line_item_type.csv"


@pytest.mark.timeout(960)
@pytest.mark.parametrize("source", [LEGACY_SAMPLE, CUR2_FIXTURE], ids=["legacy_sample", "cur2_every_type"])
def test_validator_passes_every_rule_but_known_defects(source: Path, tmp_path: Path) -> None:
    output = tmp_path / "focus.parquet"
    result = convert_files("aws", [source], output)
    assert result.rows_written > 0 and result.rows_quarantined == 0
    assert_conforms(output)
