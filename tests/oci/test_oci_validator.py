"""FOCUS conformance of the OCI output: the focus-validator over the converted sample cost report."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from cloudact_cli.convert import convert_files
from tests.conformance.test_focus_validator import VALIDATOR, _failed_rules, _unexplained
from tests.oci.conftest import SAMPLE, needs_sample

pytestmark = [needs_sample, pytest.mark.skipif(not VALIDATOR.exists(), reason="focus-validate not available")]


@pytest.mark.timeout(960)
def test_validator_passes_every_rule_but_known_defects(tmp_path: Path) -> None:
    output = tmp_path / "focus.parquet"
    result = convert_files("oci", [SAMPLE], output)
    assert result.rows_written == 506 and result.rows_quarantined == 0
    run = subprocess.run(
        [str(VALIDATOR), str(output)],
        env={**os.environ, "FOCUS_APPLICABILITY": "ALL"},
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    report = run.stdout + run.stderr
    total = [line for line in report.splitlines() if line.startswith("Total:")]
    assert total, f"validator printed no Total line (exit {run.returncode}):\n{report[-3000:]}"
    assert _unexplained(_failed_rules(report)) == [], f"{total[-1]}\n{report[-5000:]}"
    assert run.returncode in (0, 1)
