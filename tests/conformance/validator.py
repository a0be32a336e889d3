"""Runs the FinOps Foundation's focus-validator (FOCUS 1.3 rules, ALL criteria) for the conformance tests.

A test fails on any failed rule that is neither listed in known_validator_defects.yml (with why it
is a model or validator defect and its upstream issue) nor a composite failing only through those.
"""

from __future__ import annotations

import hashlib
import re
import subprocess
import tempfile
from pathlib import Path

import yaml

from cloudact_cli.convert import convert_files
from cloudact_providers.spec import ProviderSpec, Sample
from tests.conftest import sample_inputs

ROOT = Path(__file__).resolve().parents[2]
VALIDATOR_VENV = ROOT / ".venv-validator"
RULES = Path(__file__).parent / "rules"
MODEL_SHA256 = "2c0e38136d12fc5f965c09ef7e005f8ec00dbe2fe6907e8b98d79d8257a0d272"
"""FOCUS_Spec release v1.3, model-1.3.0.1.json (see rules/SOURCES.md)."""
KNOWN = {e["rule"]: e for e in yaml.safe_load((Path(__file__).parent / "known_validator_defects.yml").read_text())}
_FAILED = re.compile(r"^❌ (\S+): FAIL\s+\(violations=\d+, msg=(.*)$", re.MULTILINE)
_CHILDREN = re.compile(r"failed child rules: \[([^\]]*)\]")
_TOTAL = re.compile(r"^Total: \d+ \| Pass: \d+ \| Fail: \d+ \| Skipped: \d+", re.MULTILINE)


def run_validator(focus_file: Path) -> str:
    """The report of focus-validator 2.2.1 (``make install`` puts it in .venv-validator) on ``focus_file``
    against the vendored FOCUS 1.3 model, with every applicability criterion on, offline."""
    executable = VALIDATOR_VENV / "bin" / "focus-validator"
    assert executable.exists(), f"{executable} is missing: run `make install`"
    assert hashlib.sha256((RULES / "model-1.3.json").read_bytes()).hexdigest() == MODEL_SHA256
    where = "import focus_validator, os; print(os.path.dirname(focus_validator.__file__))"
    site = subprocess.run(
        [str(VALIDATOR_VENV / "bin" / "python"), "-c", where], capture_output=True, text=True, check=True
    ).stdout.strip()
    with tempfile.TemporaryDirectory() as run_dir:
        # The validator reads focus_validator/rules/currency_codes.csv relative to its working directory.
        codes = Path(run_dir) / "focus_validator" / "rules"
        codes.mkdir(parents=True)
        (codes / "currency_codes.csv").symlink_to(Path(site) / "rules" / "currency_codes.csv")
        run = subprocess.run(
            [
                str(executable), "--data-file", str(focus_file.resolve()), "--validate-version", "1.3",
                "--rule-set-path", str(RULES), "--block-download", "--applicability-criteria", "ALL",
            ],
            cwd=run_dir, capture_output=True, text=True, timeout=900, check=False,
        )  # fmt: skip
    return run.stdout + run.stderr


def assert_conforms(focus_file: Path) -> str:
    """Validates ``focus_file``; fails the test on an unexplained failed rule. Returns the Total line."""
    report = run_validator(focus_file)
    total = _TOTAL.findall(report)
    assert total, f"validator printed no Total line:\n{report[-3000:]}"
    assert _unexplained(_failed_rules(report)) == [], f"{total[-1]}\n{report[-5000:]}"
    return str(total[-1])


def assert_sample_conforms(spec: ProviderSpec, sample: Sample, directory: Path) -> str:
    """Converts one of a provider's registered samples with ``cloudact convert`` and validates it.

    The sample converts whole (no row quarantined; exactly ``sample.focus_rows`` FOCUS rows when the
    registration pins them) and passes every rule but the known defects. Returns the Total line.
    """
    output = directory / "focus.parquet"
    result = convert_files(spec.slug, sample_inputs(spec, sample, directory), output)
    assert result.rows_quarantined == 0 and result.rows_written > 0, result.quarantine_reasons
    if sample.focus_rows is not None:
        assert result.rows_written == sample.focus_rows
    return assert_conforms(output)


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
