"""FOCUS conformance: the FinOps Foundation's focus-validator over our converted AWS output."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from cloudact_cli.convert import convert_files

ROOT = Path(__file__).resolve().parents[2]
VALIDATOR = ROOT.parent / "shared" / "tools" / "focus-validate"
LEGACY_SAMPLE = (
    ROOT.parent / "shared" / "samples" / "raw" / "aws" / "cur_legacy_sample-anonymous-aws-export-dataset.csv"
)
CUR2_FIXTURE = ROOT / "tests" / "data" / "aws" / "cur2_every_line_item_type.csv"
KNOWN = {e["rule"]: e for e in yaml.safe_load((Path(__file__).parent / "known_validator_defects.yml").read_text())}
_FAILED = re.compile(r"^❌ (\S+): FAIL\s+\(violations=\d+, msg=(.*)$", re.MULTILINE)
_CHILDREN = re.compile(r"failed child rules: \[([^\]]*)\]")

pytestmark = pytest.mark.skipif(not VALIDATOR.exists(), reason="focus-validate not available")


def _failed_rules(report: str) -> dict[str, list[str]]:
    """Failed rule id -> the failed children it names (composite rules), from the text report."""
    failed: dict[str, list[str]] = {}
    for rule, message in _FAILED.findall(report):
        match = _CHILDREN.search(message)
        failed[rule] = [c.strip() for c in match[1].split(",")] if match else []
    return failed


def _unexplained(failed: dict[str, list[str]]) -> list[str]:
    """Failed rules that are neither known defects nor composites failing only through them."""

    def explained(rule: str, seen: frozenset[str] = frozenset()) -> bool:
        if rule in KNOWN:
            return True
        # A composite names children that may only have been skipped; the failed ones must all be explained.
        children = [c for c in failed.get(rule, []) if c in failed]
        return bool(children) and rule not in seen and all(explained(c, seen | {rule}) for c in children)

    return sorted(r for r in failed if not explained(r))


# On a fresh machine the first run also builds the validator's own venv from PyPI (a minute or two).
@pytest.mark.timeout(960)
@pytest.mark.parametrize("source", [LEGACY_SAMPLE, CUR2_FIXTURE], ids=["legacy_sample", "cur2_every_type"])
def test_validator_passes_every_rule_but_known_defects(source: Path, tmp_path: Path) -> None:
    output = tmp_path / "focus.parquet"
    result = convert_files("aws", [source], output)
    assert result.rows_written > 0 and result.rows_quarantined == 0
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
    failed = _failed_rules(report)
    assert _unexplained(failed) == [], f"{total[-1]}\n{report[-5000:]}"
    assert run.returncode in (0, 1)
