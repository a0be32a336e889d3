"""GCP commitment (CUD) fees are amortized: FOCUS EffectiveCost includes the applicable part of the
prepaid purchases that covered a charge, and a commitment purchase itself has EffectiveCost 0.

A "Commitment v1: ..." fee row is spread over the usage its commitment covered in the same hour (in
proportion to the quantity each row had covered), the part nothing used goes to a Usage row with
CommitmentDiscountStatus "Unused", and the money is conserved: every fee is found again, whole, in the
EffectiveCost of the covered usage and of the Unused rows. The fixture is
tests/data/gcp_commitment/ (its README has the numbers).
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pytest

from cloudact_providers.gcp.synthetic import month_rows, write_gcp_export_parquet
from tests.conformance.validator import assert_conforms, run_validator
from tests.conftest import DATA
from tests.gcp.conftest import gcp_to_focus

D = Decimal
FIXTURE = DATA / "gcp_commitment" / "gcp_billing_export_resource_v1_commitment.jsonl"


def _rows(path: Path) -> list[dict[str, Any]]:
    cur = duckdb.connect().execute("SELECT * FROM read_parquet(?)", [str(path)])
    names = [d[0] for d in cur.description]
    return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]


def _money(value: float) -> Decimal:
    """An export amount as the raw table stores it: DECIMAL(38, 12)."""
    return D(str(value)).quantize(D("1e-12"))


def _source_total(rows: list[dict[str, Any]]) -> Decimal:
    """What Google invoices for ``rows``: every row's cost plus every credit on it (credits are negative)."""
    total = D(0)
    for row in rows:
        total += _money(row["cost"]) + sum((_money(c["amount"]) for c in row["credits"] or []), D(0))
    return total


@pytest.fixture(scope="module")
def fixture_focus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("gcp_commitment") / "focus.parquet"
    assert gcp_to_focus([FIXTURE], out) == {}
    return out


def _key(row: dict[str, Any]) -> tuple[str, int, str, str | None]:
    """(what, UTC hour, resource or SKU, status): unique per FOCUS row of the fixture."""
    what = row["ResourceName"] or row["SkuMeter"].split(" in ")[0]
    return row["ChargeCategory"], row["ChargePeriodStart"].hour, what, row["CommitmentDiscountStatus"]


# At 10:00 the CPU commitment (fee 4.00 for 4 vCPU-hours) covered 2 (vm-a) + 1 (vm-b) = 3 vCPU-hours:
# 3/4 of the fee is used, 2/3 of that goes to vm-a and 1/3 to vm-b, 1/4 is unused. The RAM commitment
# (fee 0.80 for 16 GiB-hours) covered 8 + 8: all used, half each. At 11:00 nothing ran: both unused.
CPU_FEE, RAM_FEE = D("4"), D("0.8")
CPU_USED = CPU_FEE * 3 / 4
EXPECTED: dict[tuple[str, int, str, str | None], tuple[Decimal, Decimal]] = {
    # key: (BilledCost, EffectiveCost)
    ("Purchase", 10, "Commitment v1: Cpu", None): (CPU_FEE, D(0)),
    ("Purchase", 10, "Commitment v1: Ram", None): (RAM_FEE, D(0)),
    ("Purchase", 11, "Commitment v1: Cpu", None): (CPU_FEE, D(0)),
    ("Purchase", 11, "Commitment v1: Ram", None): (RAM_FEE, D(0)),
    ("Usage", 10, "Commitment v1: Cpu", "Unused"): (D(0), CPU_FEE - CPU_USED),
    ("Usage", 11, "Commitment v1: Cpu", "Unused"): (D(0), CPU_FEE),
    ("Usage", 11, "Commitment v1: Ram", "Unused"): (D(0), RAM_FEE),
    ("Usage", 10, "vm-a", "Used"): (D("4") - D("4"), D("4") - D("4") + CPU_USED * 2 / 3),
    ("Usage", 10, "vm-b", "Used"): (D("4") - D("2") - D("0.4"), D("4") - D("2") - D("0.4") + CPU_USED * 1 / 3),
    ("Usage", 10, "vm-c", None): (D("2"), D("2")),
}
# The two RAM rows of 10:00 share a key with the core rows' resource; they are checked apart.
EXPECTED_RAM = {"vm-a": (D(0), RAM_FEE / 2), "vm-b": (D(0), RAM_FEE / 2)}


def test_fees_are_spread_over_the_usage_they_covered_and_the_rest_is_unused(fixture_focus: Path) -> None:
    rows = _rows(fixture_focus)
    ram = {r["ResourceName"]: r for r in rows if r["ResourceName"] and r["SkuId"] == "N1-RAM"}
    others = [r for r in rows if not (r["ResourceName"] and r["SkuId"] == "N1-RAM")]
    got = {_key(r): (r["BilledCost"], r["EffectiveCost"]) for r in others}
    assert len(got) == len(others), "two FOCUS rows share a key"
    assert got == EXPECTED
    assert {name: (r["BilledCost"], r["EffectiveCost"]) for name, r in ram.items()} == EXPECTED_RAM


def test_unused_rows_are_the_unused_commitment_not_a_charge(fixture_focus: Path) -> None:
    unused = [r for r in _rows(fixture_focus) if r["CommitmentDiscountStatus"] == "Unused"]
    assert len(unused) == 3
    for row in unused:
        assert (row["ChargeCategory"], row["ChargeFrequency"], row["ChargeClass"]) == ("Usage", "Usage-Based", None)
        assert row["ChargeDescription"].startswith("Unused commitment: Commitment v1: ")
        assert (row["CommitmentDiscountId"], row["CommitmentDiscountCategory"]) == ("cud-fixture-1", "Usage")
        assert row["CommitmentDiscountType"] == "Committed Use Discount"
        # Nothing is billed, priced or consumed on it: it only carries the unused part of the fee.
        assert (row["BilledCost"], row["ListCost"], row["ContractedCost"]) == (0, 0, 0)
        assert row["SkuPriceId"] is None and row["PricingQuantity"] is None and row["PricingCategory"] is None
        assert row["ListUnitPrice"] is None and row["ContractedUnitPrice"] is None
        assert row["ConsumedQuantity"] is None and row["CommitmentDiscountQuantity"] is None
        assert row["PricingCurrencyEffectiveCost"] == row["EffectiveCost"] > 0


def test_effective_cost_is_conserved_on_the_fixture(fixture_focus: Path) -> None:
    rows = _rows(fixture_focus)
    source = [json.loads(line) for line in FIXTURE.read_text().splitlines()]
    invoice = _source_total(source)
    assert sum(r["BilledCost"] for r in rows) == invoice
    assert sum(r["EffectiveCost"] for r in rows) == invoice
    # Every commitment purchase is amortized away, whole: 0 on the fee row, all of it elsewhere.
    fees = [r for r in rows if r["ChargeCategory"] == "Purchase"]
    assert fees and all(r["EffectiveCost"] == 0 and r["CommitmentDiscountId"] for r in fees)


def test_effective_cost_is_conserved_on_the_demo_month(tmp_path: Path) -> None:
    """The month the demo loads into BigQuery: 31 days x 3 projects, each hour with a fee and covered usage."""
    period = date(2025, 1, 1)
    out = tmp_path / "focus.parquet"
    assert gcp_to_focus([write_gcp_export_parquet(tmp_path / "month.parquet", period)], out) == {}
    rows = _rows(out)
    invoice = _source_total(month_rows(period))
    assert sum(r["BilledCost"] for r in rows) == invoice
    assert sum(r["EffectiveCost"] for r in rows) == invoice
    # Per commitment and hour: what the fee row bills is what the covered usage and Unused rows gained.
    billed_fees: dict[tuple[str, object], Decimal] = defaultdict(Decimal)
    amortized: dict[tuple[str, object], Decimal] = defaultdict(Decimal)
    for row in rows:
        key = (row["CommitmentDiscountId"], row["ChargePeriodStart"])
        if row["ChargeCategory"] == "Purchase":
            assert row["EffectiveCost"] == 0
            billed_fees[key] += row["BilledCost"]
        elif row["CommitmentDiscountId"] is not None:
            amortized[key] += row["EffectiveCost"] - row["BilledCost"]
    assert len(billed_fees) == 31 * 3
    assert amortized == billed_fees


@pytest.fixture(scope="module")
def fixture_report(fixture_focus: Path) -> str:
    return run_validator(fixture_focus)


@pytest.mark.timeout(960)
def test_the_validator_finds_no_commitment_purchase_with_an_effective_cost(fixture_report: str) -> None:
    """CAU-EffectiveCost-C-005-C passes outright: no known-defect entry is needed for GCP commitment fees."""
    assert re.search(r"^✅ CAU-EffectiveCost-C-005-C: PASS", fixture_report, re.MULTILINE), fixture_report[-3000:]


@pytest.mark.timeout(960)
def test_fixture_output_conforms(fixture_focus: Path) -> None:
    """The whole gate (the RAM rows' ConsumedUnit is GCP's "byte-seconds", as Google exports memory usage)."""
    assert assert_conforms(fixture_focus).startswith("Total:")
