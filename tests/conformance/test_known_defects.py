"""The known validator defects excuse only the rows they were written for.

Each entry of known_validator_defects.yml states, as SQL over the FOCUS columns, the rows the validator
fails (``flagged``), the rows the defect explains (``rows``) and the rule as the spec text means it
(``intended``). A row the validator fails outside ``rows`` is a real violation, and ``intended`` must
hold on every row: here both are shown to catch what listing the rule alone would hide.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from cloudact_cli.convert import convert_files
from cloudact_providers.gcp.synthetic import write_nested_parquet
from cloudact_shared.storage import load_schema
from tests.conformance.validator import (
    KNOWN,
    _failed_rules,
    _unexplained,
    assert_conforms,
    known_defect_problems,
    load_known_defects,
    run_validator,
)
from tests.conftest import DATA
from tests.gcp.conftest import gcp_to_focus

CUR2_EVERY_TYPE = DATA / "aws" / "cur2_every_line_item_type.csv"
RED_HAT = "Red Hat® Enterprise Linux®"


def test_every_entry_states_its_rows_and_the_rule_as_the_spec_means_it(tmp_path: Path) -> None:
    """Each entry's conditions are SQL over the FOCUS columns: they bind on an (empty) FOCUS table."""
    known = load_known_defects()
    assert known == KNOWN and known
    empty = tmp_path / "focus.parquet"
    pq.write_table(pa.Table.from_pylist([], schema=load_schema("cost_data_standard_1_3").arrow_schema()), empty)
    # A report in which every listed rule passed: no row may then be flagged, none is on an empty table.
    report = "\n".join(f"✅ {rule}: PASS  (violations=0, 1.0ms)" for rule in known)
    assert known_defect_problems(empty, report) == []
    for defect in known.values():
        assert defect.rows != "TRUE" and defect.intended != "TRUE", f"{defect.rule} excuses every row"


def _tampered(source: Path, out: Path, *, set_sql: str, where: str) -> Path:
    """``source`` with ``set_sql`` (column = expression, ...) applied to the rows matching ``where``."""
    con = duckdb.connect()
    con.execute(f"CREATE TABLE focus AS SELECT * FROM read_parquet('{source}')")
    changed = con.execute(f"UPDATE focus SET {set_sql} WHERE {where}").fetchone()
    assert changed is not None and changed[0] > 0, f"no row matches {where}"
    con.execute(f"COPY focus TO '{out}' (FORMAT parquet)")
    con.close()
    return out


def _count(path: Path, where: str) -> int:
    found = duckdb.connect().execute(f"SELECT count(*) FROM read_parquet('{path}') WHERE {where}").fetchone()
    assert found is not None
    return int(found[0])


@pytest.mark.timeout(960)
def test_rows_outside_an_entry_and_rows_breaking_the_intended_rule_fail(tmp_path: Path) -> None:
    """Listing a rule used to excuse all its failures; now only the rows the entry was written for."""
    focus = tmp_path / "focus.parquet"
    assert gcp_to_focus([write_nested_parquet(tmp_path / "export.parquet")], focus) == {}
    # A commitment fee that keeps its EffectiveCost (what the GCP mapping did before it amortized fees):
    # CAU-EffectiveCost-C-005-C is listed, but for purchases that buy no commitment only.
    step = _tampered(
        focus,
        tmp_path / "fee.parquet",
        set_sql="EffectiveCost = BilledCost, PricingCurrencyEffectiveCost = BilledCost",
        where="ChargeCategory = 'Purchase' AND CommitmentDiscountId IS NOT NULL",
    )
    # A Status on a row without a commitment: the inverted model rule passes it, the spec text does not.
    step = _tampered(
        step,
        tmp_path / "status.parquet",
        set_sql="CommitmentDiscountStatus = 'Used'",
        where="CommitmentDiscountId IS NULL AND ResourceName = 'vm-regular'",
    )
    # A name mangled by a lossy decode: non-ASCII like a real provider name, but not the provider's value.
    tampered = _tampered(
        step,
        tmp_path / "tampered.parquet",
        set_sql="ServiceName = 'Compute Engine' || chr(65533)",
        where="ResourceName = 'vm-regular'",
    )
    fees = _count(tampered, "ChargeCategory = 'Purchase' AND EffectiveCost <> 0")
    assert fees > 0
    report = run_validator(tampered)

    # The rule list alone explains every failure: it would have passed this table.
    assert _unexplained(_failed_rules(report)) == []
    problems = known_defect_problems(tampered, report)
    outside = f"{fees} rows fail it outside the rows the entry explains"
    broken = "1 rows break the rule as the spec states it"
    assert sorted(p.split(" (")[0] for p in problems) == [
        f"CAU-CommitmentDiscountStatus-C-003-C: {broken}",
        f"CAU-EffectiveCost-C-005-C: {fees} rows break the rule as the spec states it",
        f"CAU-EffectiveCost-C-005-C: {outside}",
        f"CAU-ServiceName-C-002-M: {broken}",
    ], problems
    with pytest.raises(AssertionError, match="CAU-EffectiveCost-C-005-C"):
        assert_conforms(tampered)


@pytest.mark.timeout(960)
def test_a_non_ascii_service_name_is_kept_as_the_provider_writes_it_and_conforms(tmp_path: Path) -> None:
    """FOCUS StringHandling keeps the provider's value; the validator's ASCII-only check is a known defect."""
    text = CUR2_EVERY_TYPE.read_text()
    assert text.count('""product_name"":""Datadog Pro""') == 1
    export = tmp_path / "cur2_red_hat.csv"
    export.write_text(text.replace('""product_name"":""Datadog Pro""', f'""product_name"":""{RED_HAT}""'))
    focus = tmp_path / "focus.parquet"
    result = convert_files("aws", [export], focus)
    assert result.rows_quarantined == 0

    names = duckdb.connect().execute(f"SELECT DISTINCT ServiceName FROM read_parquet('{focus}')").fetchall()
    assert (RED_HAT,) in names
    assert assert_conforms(focus).startswith("Total:")
