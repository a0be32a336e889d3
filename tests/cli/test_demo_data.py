"""The demo's generated CUR 2.0 months read as one company's bill (issue 13: demo data an analyst believes).

Both months are generated as ``make demo`` generates them (:data:`cloudact_cli.demo.CUR2_MONTHS`) and
converted to FOCUS with ``cloudact convert``'s code; the checks are on what an analyst sums: costs by
ServiceCategory, charge category and commitment status, accounts, tags, and the month-over-month change.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from cloudact_cli.convert import convert_files
from cloudact_cli.demo import CUR2_MONTHS, Cur2Month
from cloudact_providers.aws.synthetic import generate_cur2


def _focus(directory: Path, month: Cur2Month) -> tuple[Path, list[Path]]:
    export = generate_cur2(
        directory / "cur2", month.rows, export_name="acme-cur2", billing_period=month.period, growth=month.growth
    )
    out = directory / f"focus-{month.period:%Y-%m}.parquet"
    result = convert_files("aws", list(export.data_files), out)
    assert result.rows_quarantined == 0
    return out, list(export.data_files)


@pytest.fixture(scope="module")
def months(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[Path, list[Path]]]:
    directory = tmp_path_factory.mktemp("demo-data")
    return [_focus(directory, month) for month in CUR2_MONTHS]


@pytest.fixture
def con() -> Iterator[duckdb.DuckDBPyConnection]:
    connection = duckdb.connect()
    yield connection
    connection.close()


def _one(con: duckdb.DuckDBPyConnection, sql: str) -> float:
    row = con.execute(sql).fetchone()
    assert row is not None and row[0] is not None, sql
    return float(row[0])


def _by(con: duckdb.DuckDBPyConnection, focus: Path, key: str, measure: str = "EffectiveCost") -> dict[str, float]:
    rows = con.execute(f"SELECT {key}, sum({measure}) FROM '{focus}' GROUP BY 1").fetchall()
    return {str(k): float(v) for k, v in rows}


def test_the_demo_has_two_consecutive_months() -> None:
    first, second = (month.period for month in CUR2_MONTHS)
    assert (second.year * 12 + second.month) - (first.year * 12 + first.month) == 1


@pytest.mark.parametrize("index", range(len(CUR2_MONTHS)))
def test_commitment_fees_are_sized_to_the_usage_they_cover(
    months: list[tuple[Path, list[Path]]], con: duckdb.DuckDBPyConnection, index: int
) -> None:
    f = months[index][0]
    charge = "FROM '{f}' WHERE x_charge_type = '{t}' AND ChargeCategory = '{c}'"
    ri_on_demand = _one(con, f"SELECT sum(ListCost) {charge.format(f=f, t='DiscountedUsage', c='Usage')}")
    ri_effective = _one(
        con, f"SELECT sum(EffectiveCost) FROM '{f}' WHERE x_charge_type IN ('DiscountedUsage', 'RIFee')"
    )
    ri_recurring = _one(con, f"SELECT sum(BilledCost) {charge.format(f=f, t='RIFee', c='Purchase')}")
    ri_upfront = _one(con, f"SELECT sum(BilledCost) {charge.format(f=f, t='Fee', c='Purchase')}")
    # A reservation costs 60-70% of on-demand; the month's RI fees (recurring + this month's upfront
    # purchases) are of the same order as the usage they cover, not a thousand times it.
    assert 0.6 <= ri_effective / ri_on_demand <= 0.7
    assert 0.4 <= (ri_recurring + ri_upfront) / ri_on_demand <= 1.0
    assert ri_upfront < ri_on_demand

    sp_on_demand = _one(con, f"SELECT sum(ListCost) {charge.format(f=f, t='SavingsPlanCoveredUsage', c='Usage')}")
    sp_effective = _one(con, f"SELECT sum(EffectiveCost) {charge.format(f=f, t='SavingsPlanCoveredUsage', c='Usage')}")
    sp_fee = _one(con, f"SELECT sum(BilledCost) {charge.format(f=f, t='SavingsPlanRecurringFee', c='Purchase')}")
    # The Savings Plan's commitment is what its covered rows use, plus a small unused part.
    assert 1.0 <= sp_fee / sp_effective <= 1.1
    assert 0.6 <= sp_fee / sp_on_demand <= 0.85

    unused = _one(con, f"SELECT sum(EffectiveCost) FROM '{f}' WHERE CommitmentDiscountStatus = 'Unused'")
    committed = ri_recurring + ri_upfront + sp_fee
    assert 0 < unused < 0.1 * committed


@pytest.mark.parametrize("index", range(len(CUR2_MONTHS)))
def test_the_mix_reads_as_one_companys_bill(
    months: list[tuple[Path, list[Path]]], con: duckdb.DuckDBPyConnection, index: int
) -> None:
    f = months[index][0]
    billed = _by(con, f, "ServiceCategory", "BilledCost")
    effective = _by(con, f, "ServiceCategory")
    assert 0.5 <= effective["Compute"] / billed["Compute"] <= 1.5
    assert max(effective, key=lambda category: effective[category]) == "Compute"
    assert effective["Compute"] > effective["Storage"] > effective["Networking"]
    assert effective["Compute"] > effective["Databases"] > effective["Networking"]

    total = _one(con, f"SELECT sum(BilledCost) FROM '{f}'")
    charges = _by(con, f, "ChargeCategory", "BilledCost")
    assert 0.01 <= charges["Tax"] / total <= 0.1
    assert 0 < -(charges["Credit"] + charges["Adjustment"]) / total <= 0.06

    accounts = _by(con, f, "SubAccountId")
    assert len(accounts) >= 3
    assert max(accounts.values()) >= 3 * min(accounts.values())  # a prod account, a security account

    for tag in ("user_team", "user_application", "user_environment"):
        values = _by(con, f, f"json_extract_string(Tags, '$.{tag}')")
        untagged = values.pop("None")
        shares = sorted(values.values())
        assert len(shares) >= 3, tag
        assert shares[-1] >= 2 * shares[0], f"{tag} spread evenly: {values}"
        assert 0 < untagged < 0.3 * sum(shares) + untagged


def test_the_second_month_shows_a_change_worth_seeing(
    months: list[tuple[Path, list[Path]]], con: duckdb.DuckDBPyConnection
) -> None:
    (first, _), (second, _) = months
    totals = [_one(con, f"SELECT sum(BilledCost) FROM '{f}'") for f in (first, second)]
    assert 0.10 <= abs(totals[1] / totals[0] - 1) <= 0.40
    before, after = _by(con, first, "ServiceCategory"), _by(con, second, "ServiceCategory")
    assert 0.15 <= after["Compute"] / before["Compute"] - 1 <= 0.25
    new = set(_by(con, second, "ServiceName")) - set(_by(con, first, "ServiceName"))
    assert new == {"Amazon SageMaker"}
    assert _by(con, second, "ServiceName")["Amazon SageMaker"] > 0.03 * totals[1]
    # The new service runs where the ML and data teams work, not in every account.
    where = _by(con, second, "CASE WHEN ServiceName = 'Amazon SageMaker' THEN SubAccountName END")
    assert sorted(name for name in where if name != "None") == ["acme-ml-sandbox", "acme-prod-data"]


def test_commitment_lines_are_consistent_row_by_row(
    months: list[tuple[Path, list[Path]]], con: duckdb.DuckDBPyConnection
) -> None:
    files = "[" + ", ".join(f"'{p}'" for p in months[1][1]) + "]"
    bad = _one(
        con,
        f"""SELECT count(*) FILTER (WHERE
              (line_item_line_item_type IN ('RIFee', 'Fee', 'SavingsPlanRecurringFee')
               AND abs(line_item_unblended_cost - line_item_unblended_rate::DOUBLE * line_item_usage_amount) > 1e-6)
              OR (line_item_line_item_type = 'RIFee'
                  AND abs(reservation_effective_cost - reservation_unused_amortized_upfront_fee_for_billing_period
                          - reservation_unused_recurring_fee) > 1e-6)
              OR (line_item_line_item_type = 'RIFee'
                  AND NOT reservation_unused_quantity BETWEEN 0.01 * line_item_usage_amount
                                                          AND 0.06 * line_item_usage_amount + 1e-4)
              OR (line_item_line_item_type = 'SavingsPlanRecurringFee'
                  AND abs(savings_plan_used_commitment + savings_plan_savings_plan_effective_cost
                          - savings_plan_recurring_commitment_for_billing_period) > 1e-6))
            FROM read_parquet({files})""",
    )
    assert bad == 0


def test_growth_out_of_range_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="growth"):
        generate_cur2(tmp_path, 10, growth=-1.0)
