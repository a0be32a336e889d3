"""FOCUS conformance: the FinOps Foundation's focus-validator over our converted Azure samples."""

from __future__ import annotations

from pathlib import Path

import pytest

from cloudact_cli.convert import convert_files
from tests.azure.conftest import EA_ACTUAL, EA_AMORTIZED, FFS_ACTUAL
from tests.conformance.validator import assert_conforms


@pytest.mark.timeout(960)
@pytest.mark.parametrize(
    "sources",
    [[EA_ACTUAL], [EA_AMORTIZED], [EA_ACTUAL, EA_AMORTIZED], [FFS_ACTUAL]],
    ids=["ea_actual", "ea_amortized", "ea_actual_plus_amortized", "ffs_ea_actual"],
)
def test_validator_passes_every_rule_but_known_defects(sources: list[Path], tmp_path: Path) -> None:
    output = tmp_path / "focus.parquet"
    result = convert_files("azure", sources, output)
    assert result.rows_written > 0 and result.rows_quarantined == 0
    assert_conforms(output)
