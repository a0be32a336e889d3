"""The FOCUS wrapper around a mapping (conversion.wrap_mapping): what it supplies, what it refuses."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from typing import Any

import duckdb
import pytest

from cloudact_shared.storage import load_schema
from focus_svc import conversion

SCHEMA = load_schema("cost_data_standard_1_3")
# Raw rows with their lineage; ``copies`` makes the mapping repeat a row, as AWS's Unused rows do.
RAW = """
CREATE TABLE raw AS SELECT * FROM (VALUES
    ('p1', 'c1', 'r1', TIMESTAMPTZ '2025-01-02 03:04:05+00', DATE '2025-01-02', 'USD', 2, 10.5),
    ('p2', 'c2', 'r2', TIMESTAMPTZ '2025-02-03 04:05:06+00', DATE '2025-02-03', 'EUR', 1, 3.25)
) AS t(x_pipeline_id, x_credential_id, x_run_id, x_ingested_at, x_pipeline_run_date, currency, copies, cost)
"""
# The required columns a mapping states (every other one has a default or is NULL).
REQUIRED = {
    "BilledCost": "focus_money(r.cost)",
    "BillingAccountId": "'account'",
    "BillingAccountType": "'Billing Account'",
    "BillingCurrency": "r.currency",
    "BillingPeriodEnd": "TIMESTAMPTZ '2025-02-01 00:00:00+00'",
    "BillingPeriodStart": "TIMESTAMPTZ '2025-01-01 00:00:00+00'",
    "ChargeCategory": "'Usage'",
    "ChargeFrequency": "'Usage-Based'",
    "ChargePeriodEnd": "TIMESTAMPTZ '2025-01-02 00:00:00+00'",
    "ChargePeriodStart": "TIMESTAMPTZ '2025-01-01 00:00:00+00'",
    "ContractedCost": "focus_money(r.cost)",
    "EffectiveCost": "focus_money(r.cost / 2)",
    "InvoiceIssuerName": "'Test Cloud'",
    "ListCost": "focus_money(r.cost * 2)",
    "ProviderName": "'Test Cloud'",
    "PublisherName": "'Test Cloud'",
    "ServiceCategory": "'Compute'",
    "ServiceName": "'Machines'",
    "ServiceProviderName": "'Test Cloud'",
    "ServiceSubcategory": "'Virtual Machines'",
    "ContractedUnitPrice": "focus_money(0.5)",
    "ListUnitPrice": "focus_money(0.75)",
    # Unit prices stay only beside a price id (FOCUS 1.3: null when SkuPriceId is null).
    "SkuPriceId": "'price'",
}
SOURCE = "FROM (SELECT raw.*, UNNEST(range(raw.copies)) AS copy FROM {{raw}} AS raw) AS r"


def _select(columns: dict[str, str], source: str = SOURCE, *, more: str = "") -> str:
    items = [f"{sql} AS {name}" for name, sql in columns.items()] + ([more] if more else [])
    return "SELECT\n    " + ",\n    ".join(items) + "\n" + source


@pytest.fixture
def con() -> Iterator[duckdb.DuckDBPyConnection]:
    connection = duckdb.connect()
    conversion.prepare(connection)
    connection.execute(RAW)
    yield connection
    connection.close()


def _rows(con: duckdb.DuckDBPyConnection, mapping: str) -> list[dict[str, Any]]:
    cursor = con.execute(conversion.wrap_mapping("testcloud", mapping, "raw") + " ORDER BY x_run_id")
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def test_the_wrapper_supplies_lineage_defaults_and_typed_nulls(con: duckdb.DuckDBPyConnection) -> None:
    mapping = _select(REQUIRED, more="'sku' AS SkuId  -- a comment right before FROM")
    mapping += "\nLEFT JOIN (SELECT 1 AS k) AS j ON true  -- a relation without lineage"
    described = con.execute("DESCRIBE " + conversion.wrap_mapping("testcloud", mapping, "raw")).fetchall()
    assert [r[0] for r in described] == SCHEMA.column_names
    types = {r[0]: r[1] for r in described}
    assert types["CommitmentDiscountQuantity"] == "DECIMAL(38,12)"
    assert types["x_ingested_at"] == "TIMESTAMP WITH TIME ZONE"
    assert types["x_pipeline_run_date"] == "DATE"

    rows = _rows(con, mapping)
    # Every FOCUS row carries the lineage of the raw row it comes from, repeated rows included.
    assert [(r["x_pipeline_id"], r["x_credential_id"], r["x_run_id"]) for r in rows] == [
        ("p1", "c1", "r1"),
        ("p1", "c1", "r1"),
        ("p2", "c2", "r2"),
    ]
    assert [r["x_pipeline_run_date"] for r in rows] == [date(2025, 1, 2), date(2025, 1, 2), date(2025, 2, 3)]
    for row in rows:
        assert (row["x_source_provider"], row["SkuId"]) == ("testcloud", "sku")
        assert row["PricingCurrency"] == row["BillingCurrency"]
        assert row["PricingCurrencyEffectiveCost"] == row["EffectiveCost"]
        assert row["PricingCurrencyListUnitPrice"] == row["ListUnitPrice"] == Decimal("0.75")
        assert row["PricingCurrencyContractedUnitPrice"] == row["ContractedUnitPrice"] == Decimal("0.5")
        stated = {*REQUIRED, "SkuId", *conversion.FOCUS_DEFAULTS, *conversion.LINEAGE_COLUMNS}
        assert all(row[c] is None for c in SCHEMA.column_names if c not in stated | {"x_source_provider"})


def test_a_mapping_overrides_any_default(con: duckdb.DuckDBPyConnection) -> None:
    overrides = {
        '"PricingCurrency"': "'JPY'",
        "PricingCurrencyEffectiveCost": "focus_money(100)",
        "x_source_provider": "'other'",
        "AllocatedMethodId": "'even split'",
        "x_run_id": "'rerun'",
    }
    # A column reference is named as its column: r.x_pipeline_id states x_pipeline_id.
    [row, *_] = _rows(con, _select(REQUIRED | overrides, more="r.x_pipeline_id"))
    assert (row["x_run_id"], row["x_pipeline_id"], row["x_credential_id"]) == ("rerun", "p1", "c1")
    assert (row["PricingCurrency"], row["PricingCurrencyEffectiveCost"]) == ("JPY", Decimal(100))
    assert (row["x_source_provider"], row["AllocatedMethodId"]) == ("other", "even split")
    assert row["PricingCurrencyListUnitPrice"] == row["ListUnitPrice"]


@pytest.mark.parametrize("union", ["UNION ALL BY NAME", "UNION ALL"])
def test_each_select_of_a_union_gets_its_own_lineage_and_defaults(con: duckdb.DuckDBPyConnection, union: str) -> None:
    # Completed to every FOCUS column in schema order, SELECTs stating other columns join by position too.
    usd = _select(REQUIRED | {"AvailabilityZone": "'zone-a'"}) + " WHERE r.currency = 'USD'"
    eur = _select(REQUIRED | {"x_operation": "'op'", "PricingCurrency": "'CHF'"}) + " WHERE r.currency = 'EUR'"
    # A top-level IS DISTINCT FROM is an operator, not the FROM the lineage goes before.
    distinct = "CASE WHEN r.cost IS DISTINCT FROM 0 THEN 'Usage' END AS ChargeCategory"
    eur = eur.replace("'Usage' AS ChargeCategory", distinct)
    rows = _rows(con, f"WITH unused AS (SELECT 1 AS k)\n{usd}\n{union}\n{eur}")
    assert [(r["x_run_id"], r["AvailabilityZone"], r["x_operation"], r["PricingCurrency"]) for r in rows] == [
        ("r1", "zone-a", None, "USD"),
        ("r1", "zone-a", None, "USD"),
        ("r2", None, "op", "CHF"),
    ]


def _without(column: str) -> dict[str, str]:
    return {k: v for k, v in REQUIRED.items() if k != column}


@pytest.mark.parametrize(
    ("mapping", "message"),
    [
        (_select(REQUIRED | {"PricingCurency": "'EUR'"}), "yields PricingCurency"),
        (_select(REQUIRED | {"billedcost": "1"}), "yields billedcost"),
        (_select(REQUIRED, more="r.currency"), "yields currency"),
        (_select(REQUIRED, more="0 AS BilledCost"), "yields BilledCost twice"),
        (_select(_without("BilledCost")), "without the required columns BilledCost"),
        (
            _select(REQUIRED) + " UNION ALL BY NAME " + _select(_without("ServiceName")),
            "without the required columns ServiceName",
        ),
        (_select(REQUIRED, more="'Machines'"), "written `expression AS Name`"),
        (_select(REQUIRED, more="r.*"), "written `expression AS Name`"),
        (_select(REQUIRED, more="1 + 1"), "written `expression AS Name`"),
        (_select(REQUIRED, more="r.currency PricingCurrency"), "written `expression AS Name`"),
        (_select(REQUIRED).replace("SELECT", "SELECT DISTINCT", 1), "SELECT DISTINCT"),
        (_select(REQUIRED, source=""), "without FROM"),
        (_select(REQUIRED) + " EXCEPT " + _select(REQUIRED), "is not SELECTs"),
        (_select(REQUIRED) + " INTERSECT " + _select(REQUIRED), "is not SELECTs"),
        ("(" + _select(REQUIRED) + ")", "without FROM"),
        (_select(REQUIRED | {"ResourceId": "'unterminated"}), "without FROM"),
    ],
)
def test_a_mapping_that_breaks_the_contract_is_refused(mapping: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        conversion.wrap_mapping("testcloud", mapping, "raw")


def test_names_are_checked_before_they_reach_sql() -> None:
    with pytest.raises(ValueError, match="not a table or view name"):
        conversion.wrap_mapping("testcloud", _select(REQUIRED), "raw; DROP TABLE x")
    with pytest.raises(ValueError, match="not a provider slug"):
        conversion.wrap_mapping("Test'Cloud", _select(REQUIRED), "raw")


def test_the_raw_columns_a_conversion_reads_are_what_its_mapping_names() -> None:
    """Planned over an empty raw table, DuckDB must not fold the mapping's columns away (statistics of
    an empty table say every column is empty): AWS's mapping reads these and no blended cost."""
    con = duckdb.connect()
    conversion.prepare(con, ["aws"])
    con.execute("SET disabled_optimizers = 'filter_pushdown'")

    read = conversion.raw_columns_read(con, "aws")

    named = {"bill_invoicing_entity", "bill_payer_account_name", "line_item_legal_entity", "line_item_unblended_cost"}
    assert named <= read and "line_item_net_unblended_cost" in read
    assert not {"line_item_blended_cost", "reservation_upfront_value", "split_line_item_split_cost"} & read
    assert read <= set(load_schema("cloud_aws_billing_raw_daily").column_names)
    assert con.execute("SELECT current_setting('disabled_optimizers')").fetchall() == [("filter_pushdown",)]
    assert not con.execute("SELECT * FROM duckdb_tables() WHERE table_name = 'cloudact_raw_shape'").fetchall()
