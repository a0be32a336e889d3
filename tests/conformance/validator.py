"""Runs the FinOps Foundation's focus-validator (FOCUS 1.3 rules, ALL criteria) for the conformance tests.

A test fails on any failed rule that is neither listed in known_validator_defects.yml (with why it
is a model or validator defect and its upstream issue) nor a composite failing only through those.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
VALIDATOR = ROOT.parent / "shared" / "tools" / "focus-validate"
KNOWN = {e["rule"]: e for e in yaml.safe_load((Path(__file__).parent / "known_validator_defects.yml").read_text())}
_FAILED = re.compile(r"^❌ (\S+): FAIL\s+\(violations=\d+, msg=(.*)$", re.MULTILINE)
_CHILDREN = re.compile(r"failed child rules: \[([^\]]*)\]")

needs_validator = pytest.mark.skipif(not VALIDATOR.exists(), reason="focus-validate not available")
"""The validator script ships in ../shared/tools; without it there is nothing to run."""


def assert_conforms(focus_file: Path) -> str:
    """Validates ``focus_file``; fails the test on an unexplained failed rule. Returns the Total line.

    On a fresh machine the first call also builds the validator's own venv from PyPI (a minute or
    two): callers give their test a long timeout.
    """
    run = subprocess.run(
        [str(VALIDATOR), str(focus_file)],
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
    return total[-1]


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
