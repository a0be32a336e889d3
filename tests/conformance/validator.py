"""Runs the FinOps Foundation's focus-validator (FOCUS 1.3 rules, ALL criteria) for the conformance tests.

A test fails on any failed rule that is neither listed in known_validator_defects.yml (with why it
is a model or validator defect and its upstream issue) nor a composite failing only through those.
A listed rule excuses only the rows its entry was written for: each entry states, as SQL over the
FOCUS columns, which rows the validator fails (``flagged``), which of them the defect explains
(``rows``) and the rule as the spec text means it (``intended``), and :func:`known_defect_problems`
re-checks them on the validated table itself.
"""

from __future__ import annotations

import hashlib
import re
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import yaml

from cloudact_cli.convert import convert_files
from cloudact_providers.spec import ProviderSpec, Sample
from tests.conftest import sample_inputs

ROOT = Path(__file__).resolve().parents[2]
VALIDATOR_VENV = ROOT / ".venv-validator"
RULES = Path(__file__).parent / "rules"
MODEL_SHA256 = "2c0e38136d12fc5f965c09ef7e005f8ec00dbe2fe6907e8b98d79d8257a0d272"
"""FOCUS_Spec release v1.3, model-1.3.0.1.json (see rules/SOURCES.md)."""
KNOWN_DEFECTS_FILE = Path(__file__).parent / "known_validator_defects.yml"


@dataclass(frozen=True)
class KnownDefect:
    """A failed rule that is a defect of the rules model or of the validator, and the rows it may fail.

    ``flagged``, ``rows`` and ``intended`` are SQL conditions over the FOCUS columns (DuckDB).
    """

    rule: str
    why: str
    upstream: str
    flagged: str
    """The rows the validator fails for the rule: its check as it runs (its count must match the validator's)."""
    rows: str
    """The rows the defect explains: a flagged row outside them is a real violation."""
    intended: str
    """The rule as the spec text states it: it must hold on every row, the excused ones included."""


def load_known_defects(path: Path = KNOWN_DEFECTS_FILE) -> dict[str, KnownDefect]:
    """The entries of known_validator_defects.yml by rule id; an entry missing a field is refused."""
    entries: list[dict[str, Any]] = yaml.safe_load(path.read_text())
    known: dict[str, KnownDefect] = {}
    for entry in entries:
        missing = [f for f in ("rule", "why", "upstream", "flagged", "rows", "intended") if not entry.get(f)]
        if missing:
            raise ValueError(f"{path.name}: the entry {entry.get('rule')!r} has no {', '.join(missing)}")
        known[entry["rule"]] = KnownDefect(**{k: str(v).strip() for k, v in entry.items()})
    return known


KNOWN = load_known_defects()
_RESULT = re.compile(r"^\S+ (\S+): (PASS|FAIL|SKIPPED)\s+\(violations=(\d+)", re.MULTILINE)
_FAILED = re.compile(r"^❌ (\S+): FAIL\s+\(violations=\d+, msg=(.*)$", re.MULTILINE)
_CHILDREN = re.compile(r"failed child rules: \[([^\]]*)\]")
_TOTAL = re.compile(r"^Total: \d+ \| Pass: \d+ \| Fail: \d+ \| Skipped: \d+", re.MULTILINE)
_SHOWN = ("x_source_provider", "ChargeCategory", "ChargeDescription", "BilledCost", "EffectiveCost")
"""Columns shown for an offending row, with the columns the entry's conditions name."""


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
    """Validates ``focus_file``; fails the test on an unexplained failed rule, or on a known defect that
    excuses a row it was not written for. Returns the Total line."""
    report = run_validator(focus_file)
    total = _TOTAL.findall(report)
    assert total, f"validator printed no Total line:\n{report[-3000:]}"
    assert _unexplained(_failed_rules(report)) == [], f"{total[-1]}\n{report[-5000:]}"
    problems = known_defect_problems(focus_file, report)
    assert problems == [], f"{total[-1]}\n" + "\n".join(problems)
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


def known_defect_problems(focus_file: Path, report: str, known: dict[str, KnownDefect] | None = None) -> list[str]:
    """What the known defects would hide in ``focus_file`` that they were not written for.

    For each entry, on the validated table: its ``flagged`` rows must be the validator's (their count is
    the one the report gives for the rule: 0 when it passed), none of them may lie outside its ``rows``,
    and its ``intended`` rule must hold on every row. Returns one line per problem (none: all good).
    """
    results = {rule: (status, int(count)) for rule, status, count in _RESULT.findall(report)}
    problems: list[str] = []
    with duckdb.connect() as con:
        con.execute(f"CREATE VIEW focus AS SELECT * FROM read_parquet({_literal(str(focus_file))})")
        columns = [str(row[0]) for row in con.execute("DESCRIBE focus").fetchall()]
        for defect in (KNOWN if known is None else known).values():
            counts = con.execute(
                f"""SELECT
                        count(*) FILTER (WHERE ({defect.flagged}) IS TRUE),
                        count(*) FILTER (WHERE ({defect.flagged}) IS TRUE AND ({defect.rows}) IS NOT TRUE),
                        count(*) FILTER (WHERE ({defect.intended}) IS NOT TRUE)
                    FROM focus"""
            ).fetchone()
            assert counts is not None
            flagged, outside, broken = (int(c) for c in counts)
            status, violations = results.get(defect.rule, ("ABSENT", 0))
            # A skipped or absent rule was not run: there is nothing of the validator's to compare.
            expected = violations if status == "FAIL" else 0 if status == "PASS" else flagged
            if flagged != expected:
                problems.append(
                    f"{defect.rule}: the validator fails {expected} rows, the entry's `flagged` finds {flagged}: "
                    "it no longer states the validator's check"
                )
            if outside:
                where = f"({defect.flagged}) IS TRUE AND ({defect.rows}) IS NOT TRUE"
                problems.append(
                    f"{defect.rule}: {outside} rows fail it outside the rows the entry explains ({defect.rows}): "
                    f"real violations, not this defect, e.g. {_examples(con, columns, defect, where)}"
                )
            if broken:
                where = f"({defect.intended}) IS NOT TRUE"
                problems.append(
                    f"{defect.rule}: {broken} rows break the rule as the spec states it ({defect.intended}), "
                    f"e.g. {_examples(con, columns, defect, where)}"
                )
    return problems


def _examples(con: duckdb.DuckDBPyConnection, columns: list[str], defect: KnownDefect, where: str) -> str:
    """Up to three offending rows: the usual columns and those the entry's conditions name."""
    text = f"{defect.flagged} {defect.rows} {defect.intended}"
    named = [c for c in columns if c in _SHOWN or re.search(rf"\b{re.escape(c)}\b", text)]
    picked = ", ".join(f'"{c}"' for c in named)
    cur = con.execute(f"SELECT {picked} FROM focus WHERE {where} LIMIT 3")
    return "; ".join(str(dict(zip(named, row, strict=True))) for row in cur.fetchall())


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


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
