"""AWS raw rows -> FOCUS 1.3: every CUR line item type, asserted column by column."""

from __future__ import annotations

import csv
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pytest

from cloudact_cli.convert import convert_files
from cloudact_shared.storage import load_schema
from focus_svc import conversion

DATA = Path(__file__).resolve().parents[1] / "data" / "aws"
REFERENCE = conversion.REFERENCE_DIR
D = Decimal


@pytest.fixture(scope="module")
def focus(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """The converted CUR 2.0 fixture, keyed by the line item id that starts each ChargeDescription."""
    out = tmp_path_factory.mktemp("focus") / "focus.parquet"
    result = convert_files("aws", [DATA / "cur2_every_line_item_type.csv"], out)
    assert result.rows_quarantined == 0
    con = duckdb.connect()
    cur = con.execute(
        "SELECT * REPLACE (strftime(ChargePeriodStart, '%Y-%m-%dT%H:%M:%SZ') AS ChargePeriodStart, "
        "strftime(ChargePeriodEnd, '%Y-%m-%dT%H:%M:%SZ') AS ChargePeriodEnd, "
        "strftime(BillingPeriodStart, '%Y-%m-%dT%H:%M:%SZ') AS BillingPeriodStart, "
        "strftime(BillingPeriodEnd, '%Y-%m-%dT%H:%M:%SZ') AS BillingPeriodEnd, "
        "CAST(x_ingested_at AS VARCHAR) AS x_ingested_at) FROM read_parquet(?)",
        [str(out)],
    )
    names = [d[0] for d in cur.description]
    rows = [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
    keyed: dict[str, dict[str, Any]] = {}
    for row in rows:
        key = row["ChargeDescription"].split(":")[0]
        if row["ChargeDescription"].startswith("Unused commitment: "):
            key = "unused_" + row["ChargeDescription"].removeprefix("Unused commitment: ").split(":")[0]
        keyed[key] = row
    return keyed


def test_output_has_schema_columns_and_types(tmp_path: Path) -> None:
    out = tmp_path / "f.parquet"
    convert_files("aws", [DATA / "cur2_every_line_item_type.csv"], out)
    con = duckdb.connect()
    described = con.execute("DESCRIBE SELECT * FROM read_parquet(?)", [str(out)]).fetchall()
    schema = load_schema("cost_data_standard_1_3")
    assert [r[0] for r in described] == schema.column_names
    types = {r[0]: r[1] for r in described}
    assert types["BilledCost"] == "DECIMAL(38,12)"
    assert types["ChargePeriodStart"] == "TIMESTAMP WITH TIME ZONE"
    assert types["Tags"] == "VARCHAR"


# id: (ChargeCategory, ChargeClass, ChargeFrequency, Billed, Effective, List, Contracted,
#      PricingCategory, CommitmentDiscountStatus, CommitmentDiscountType)
EXPECTED = {
    "usage": ("Usage", None, "Usage-Based", "1", "1", "1", "1", "Standard", None, None),
    "spot": ("Usage", None, "Usage-Based", "0.3", "0.3", "1", "0.3", "Dynamic", None, None),
    "ri_used": ("Usage", None, "Usage-Based", "0", "1.2", "2.4", "2.4", "Committed", "Used", "Reserved Instance"),
    "ri_fee": ("Purchase", None, "Recurring", "36", "0", "36", "36", None, None, "Reserved Instance"),
    "unused_ri_fee": ("Usage", None, "Usage-Based", "0", "5", "0", "0", None, "Unused", "Reserved Instance"),
    "ri_upfront": ("Purchase", None, "One-Time", "500", "0", "500", "500", None, None, "Reserved Instance"),
    "sp_used": ("Usage", None, "Usage-Based", "1", "0.7", "1", "1", "Committed", "Used", "Savings Plan"),
    "sp_negation": ("Usage", None, "Usage-Based", "-1", "0", "0", "0", None, "Used", "Savings Plan"),
    "sp_fee": ("Purchase", None, "Recurring", "100", "0", "100", "100", None, None, "Savings Plan"),
    "unused_sp_fee": ("Usage", None, "Usage-Based", "0", "20", "0", "0", None, "Unused", "Savings Plan"),
    "sp_upfront": ("Purchase", None, "One-Time", "1000", "0", "1000", "1000", None, None, "Savings Plan"),
    "tax": ("Tax", None, "Usage-Based", "5", "5", "5", "5", None, None, None),
    "credit": ("Credit", None, "Usage-Based", "-10", "-10", "-10", "-10", None, None, None),
    "refund": ("Adjustment", "Correction", "Usage-Based", "-3", "-3", "-3", "-3", None, None, None),
    "bundleddiscount": ("Credit", None, "Usage-Based", "-0.5", "-0.5", "0", "-0.5", None, None, None),
    "edpdiscount": ("Credit", None, "Usage-Based", "-2", "-2", "0", "-2", None, None, None),
    "privateratediscount": ("Credit", None, "Usage-Based", "-1", "-1", "0", "-1", None, None, None),
    "discount": ("Credit", None, "Usage-Based", "-0.2", "-0.2", "0", "-0.2", None, None, None),
    "distributordiscount": ("Credit", None, "Usage-Based", "-0.3", "-0.3", "0", "-0.3", None, None, None),
    "sppdiscount": ("Credit", None, "Usage-Based", "-0.4", "-0.4", "0", "-0.4", None, None, None),
    "rivolumediscount": ("Credit", None, "Usage-Based", "-0.6", "-0.6", "0", "-0.6", None, None, None),
    "marketplace": ("Usage", None, "Usage-Based", "15", "15", "15", "15", None, None, None),
    "support": ("Purchase", None, "One-Time", "100", "100", "100", "100", None, None, None),
}
_FIELDS = (
    "ChargeCategory", "ChargeClass", "ChargeFrequency", "BilledCost", "EffectiveCost", "ListCost",
    "ContractedCost", "PricingCategory", "CommitmentDiscountStatus", "CommitmentDiscountType",
)  # fmt: skip


@pytest.mark.parametrize("line_item", sorted(EXPECTED))
def test_every_line_item_type(focus: dict[str, dict[str, Any]], line_item: str) -> None:
    row = focus[line_item]
    got = tuple(row[f] for f in _FIELDS)
    want = tuple(
        D(v) if isinstance(v, str) and f.endswith("Cost") else v
        for f, v in zip(_FIELDS, EXPECTED[line_item], strict=True)
    )
    assert got == want


def test_every_output_row_is_expected(focus: dict[str, dict[str, Any]]) -> None:
    assert sorted(focus) == sorted(EXPECTED)


def test_commitment_columns(focus: dict[str, dict[str, Any]]) -> None:
    ri, sp = focus["ri_used"], focus["sp_used"]
    assert ri["CommitmentDiscountId"].endswith("reserved-instances/ri-0abc")
    assert ri["CommitmentDiscountCategory"] == "Usage" and sp["CommitmentDiscountCategory"] == "Spend"
    assert ri["CommitmentDiscountName"] == "ri-0abc"
    assert ri["CommitmentDiscountQuantity"] == D(24) and ri["CommitmentDiscountUnit"] == "Hours"
    assert sp["CommitmentDiscountQuantity"] == D("0.7") and sp["CommitmentDiscountUnit"] == "USD"
    for key, row in focus.items():
        if row["CommitmentDiscountId"] is None:
            assert row["CommitmentDiscountStatus"] is None, key
            assert row["CommitmentDiscountCategory"] is None and row["CommitmentDiscountType"] is None, key
        elif row["ChargeCategory"] == "Usage":
            assert row["CommitmentDiscountStatus"] in ("Used", "Unused"), key
        else:
            assert row["CommitmentDiscountStatus"] is None, key
        if row["CommitmentDiscountQuantity"] is None:
            assert row["CommitmentDiscountUnit"] is None, key


def test_focus_1_3_null_rules(focus: dict[str, dict[str, Any]]) -> None:
    for key, row in focus.items():
        priced = row["SkuPriceId"] is not None
        for col in ("ListUnitPrice", "ContractedUnitPrice", "PricingCurrencyListUnitPrice",
                    "PricingCurrencyContractedUnitPrice"):  # fmt: skip
            assert (row[col] is not None) == priced, (key, col)
        for col in ("PricingQuantity", "PricingCategory", "ConsumedQuantity", "CommitmentDiscountQuantity"):
            if not priced:
                assert row[col] is None, (key, col)
        assert (row["PricingUnit"] is None) == (row["PricingQuantity"] is None), key
        if row["ChargeCategory"] != "Usage" or row["CommitmentDiscountStatus"] == "Unused":
            assert row["ConsumedQuantity"] is None and row["ConsumedUnit"] is None, key
        if priced:
            assert row["ListCost"] == row["ListUnitPrice"] * row["PricingQuantity"], key
            assert row["ContractedCost"] == row["ContractedUnitPrice"] * row["PricingQuantity"], key
        if row["ChargeCategory"] == "Purchase":
            assert row["PricingCategory"] != "Committed", key
        if row["ResourceId"] is not None:
            assert row["ResourceType"] is not None, key
        assert (row["RegionId"] is None) == (row["RegionName"] is None), key
        assert row["PricingCurrency"] is not None and row["PricingCurrencyEffectiveCost"] is not None, key


def test_periods_are_utc_with_exclusive_ends(focus: dict[str, dict[str, Any]]) -> None:
    row = focus["usage"]
    assert (row["BillingPeriodStart"], row["BillingPeriodEnd"]) == ("2024-03-01T00:00:00Z", "2024-04-01T00:00:00Z")
    assert (row["ChargePeriodStart"], row["ChargePeriodEnd"]) == ("2024-03-05T00:00:00Z", "2024-03-06T00:00:00Z")


def test_accounts_region_service_sku(focus: dict[str, dict[str, Any]]) -> None:
    row = focus["usage"]
    assert (row["BillingAccountId"], row["BillingAccountName"]) == ("111122223333", "Payer")
    assert (row["SubAccountId"], row["SubAccountName"], row["SubAccountType"]) == (
        "444455556666", "Workloads", "Linked Account",
    )  # fmt: skip
    assert (row["RegionId"], row["RegionName"], row["AvailabilityZone"]) == (
        "us-east-1", "US East (N. Virginia)", "us-east-1a",
    )  # fmt: skip
    assert row["ServiceName"] == "Amazon Elastic Compute Cloud"
    assert (row["ServiceCategory"], row["ServiceSubcategory"]) == ("Compute", "Virtual Machines")
    assert (row["SkuId"], row["SkuPriceId"], row["SkuMeter"]) == (
        "SKU1",
        "SKU1.JRTCKXETXF.6YS6EN2CT7",
        "BoxUsage:m5.large",
    )
    assert (row["PricingQuantity"], row["PricingUnit"], row["ConsumedUnit"]) == (D(10), "Hours", "Hours")
    assert (row["ResourceId"], row["ResourceType"]) == ("i-0123456789", "Compute Instance")
    assert row["InvoiceId"] == "INV-1" and row["InvoiceIssuerName"] == "Amazon Web Services, Inc."
    assert (row["ServiceProviderName"], row["HostProviderName"], row["ProviderName"], row["PublisherName"]) == (
        "AWS", "AWS", "AWS", "AWS",
    )  # fmt: skip
    assert (row["x_source_provider"], row["x_service_code"], row["x_charge_type"]) == ("aws", "AmazonEC2", "Usage")
    assert row["x_pipeline_id"] == "aws/cost/billing" and row["x_credential_id"] == "local-files"


def test_tags_json_keeps_aws_keys(focus: dict[str, dict[str, Any]]) -> None:
    assert focus["usage"]["Tags"] == '{"user:Team":"core","aws:createdBy":"alice","Env":"prod"}'
    assert focus["spot"]["Tags"] is None


def test_marketplace_row(focus: dict[str, dict[str, Any]]) -> None:
    row = focus["marketplace"]
    assert row["ServiceProviderName"] == "Datadog, Inc."
    assert row["PublisherName"] == "Datadog, Inc."
    assert row["HostProviderName"] == "Datadog, Inc."  # no AWS resource: the seller hosts (or hides) it
    assert row["ProviderName"] == "AWS"
    assert row["InvoiceIssuerName"] == "Amazon Web Services, Inc."
    assert row["ServiceName"] == "Datadog Pro"
    assert (row["ServiceCategory"], row["ServiceSubcategory"]) == ("Other", "Other (Other)")


@pytest.mark.parametrize(
    ("code", "category", "subcategory"),
    [
        ("AmazonS3", "Storage", "Object Storage"),
        ("AWSGlue", "Analytics", "Data Processing"),
        ("AWSCloudTrail", "Management and Governance", "Compliance"),
        ("AmazonCloudWatch", "Management and Governance", "Observability"),
        ("AWSQueueService", "Integration", "Messaging"),
        ("AmazonSNS", "Integration", "Messaging"),
        ("awskms", "Security", "Secret Management"),
        ("AWSSecretsManager", "Security", "Secret Management"),
        ("AmazonEFS", "Storage", "File Storage"),
        ("AWSIoT", "Internet of Things", "IoT Platforms"),
        ("AWSMigrationHubRefactorSpaces", "Migration", "Resource Migration"),
        ("AWSCloudShell", "Developer Tools", "Development Environments"),
        ("AmazonStates", "Integration", "Workflow Orchestration"),
        ("AWSDataTransfer", "Networking", "Network Connectivity"),
        ("AmazonBedrock", "AI and Machine Learning", "Generative AI"),
    ],
)
def test_service_category_of_sample_codes(code: str, category: str, subcategory: str) -> None:
    with (REFERENCE / "aws_services.csv").open() as f:
        rows = {r["product_code"]: r for r in csv.DictReader(f)}
    assert (rows[code]["service_category"], rows[code]["service_subcategory"]) == (category, subcategory)


def test_reference_subcategories_are_focus_1_3_values() -> None:
    with (REFERENCE / "focus_service_subcategories.csv").open() as f:
        allowed = {(r["service_category"], r["service_subcategory"]) for r in csv.DictReader(f)}
    assert len(allowed) == 82 and len({c for c, _ in allowed}) == 19
    with (REFERENCE / "aws_services.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert len(rows) >= 250
    assert len({r["product_code"] for r in rows}) == len(rows)
    bad = [r["product_code"] for r in rows if (r["service_category"], r["service_subcategory"]) not in allowed]
    assert bad == []


def test_unknown_service_is_other() -> None:
    con = duckdb.connect()
    conversion.prepare(con)
    got = con.execute("SELECT focus_subcategory(NULL, NULL), focus_subcategory('Compute', NULL)").fetchall()
    assert got == [("Other (Other)", "Other (Compute)")]


def test_provider_registry_is_by_file() -> None:
    assert "aws" in conversion.mappings()
    with pytest.raises(ValueError, match="no FOCUS mapping"):
        conversion.focus_select_sql("nope", "raw")
    with pytest.raises(ValueError, match="not a table or view name"):
        conversion.focus_select_sql("aws", "raw; DROP TABLE x")
