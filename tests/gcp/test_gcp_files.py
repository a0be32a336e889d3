"""GCP billing export files -> raw rows -> FOCUS 1.3: formats, row kinds, bad input (the validator gate is
tests/conformance/test_focus_validator.py, parametrized from the registration)."""

from __future__ import annotations

from datetime import UTC, date
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pytest

from cloudact_providers.gcp.synthetic import write_gcp_export_parquet, write_nested_parquet
from cloudact_shared.errors import FailedPrecondition
from cloudact_shared.storage import load_schema
from tests.gcp.conftest import KOKU, gcp_to_focus, write_nested_jsonl
from tests.gcp.conftest import raw_rows as _raw

D = Decimal


def _focus(path: Path) -> list[dict[str, Any]]:
    cur = duckdb.connect().execute("SELECT * FROM read_parquet(?)", [str(path)])
    names = [d[0] for d in cur.description]
    return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]


# -- formats ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("writer", [write_nested_parquet, write_nested_jsonl], ids=["parquet", "jsonl"])
def test_nested_formats_give_the_same_raw_rows(writer: Any, tmp_path: Path) -> None:
    suffix = ".parquet" if writer is write_nested_parquet else ".jsonl"
    rows = _raw(writer(tmp_path / f"export{suffix}"))
    schema = load_schema("cloud_gcp_billing_raw_daily")
    assert list(rows[0])[: len(schema.column_names)] == schema.column_names
    assert all(r["_quarantine_reason"] is None for r in rows)
    cud = next(r for r in rows if r["sku_description"].startswith("cud"))
    assert cud["billing_period"].isoformat() == "2024-03-01"
    assert cud["service_id"] == "6F81-5844-456A" and cud["location_zone"] == "us-central1-a"
    assert cud["project_labels"] == {"team": "core", "env": "dev"}
    assert cud["labels"] == {"env": "prod"}
    assert cud["system_labels"] == {"compute.googleapis.com/machine_spec": "n1-standard-1"}
    assert cud["cost"] == D("10") and cud["usage_amount_in_pricing_units"] == D("10")
    assert cud["price_effective_price"] == D("1") and cud["subscription_instance_id"] == "cud-1"
    assert '"type":"COMMITTED_USAGE_DISCOUNT"' in cud["credits"].replace(" ", "")
    assert cud["usage_start_time"].isoformat() == "2024-03-05T10:00:00+00:00"
    assert cud["source_format"] == ("gcp_billing_parquet" if suffix == ".parquet" else "gcp_billing_jsonl")
    adj = next(r for r in rows if r["cost_type"] == "adjustment")
    assert adj["adjustment_info_id"] == "adj-1" and adj["resource_global_name"] is None


def test_koku_flattened_csv(tmp_path: Path) -> None:
    rows = _raw(KOKU)
    assert len(rows) == 9 and all(r["_quarantine_reason"] is None for r in rows)
    first = rows[0]
    assert first["billing_period"].isoformat() == "2022-08-01"
    assert first["labels"] is None and first["credits"] is None  # '[]' -> NULL, like AWS's empty maps
    assert first["extra_columns"] == {"partition_date": "2022-08-01"}
    assert first["usage_amount_in_pricing_units"] == D("0.00001385")


def test_csv_python_repr_arrays(tmp_path: Path) -> None:
    header = (
        "billing_account_id,service.id,service.description,usage_start_time,usage_end_time,project.id,"
        "labels,credits,invoice.month,cost_type,cost,currency\n"
    )
    line = (
        "A,6F81-5844-456A,Compute Engine,2022-08-01 03:00:00+00:00,2022-08-01 04:00:00+00:00,p,"
        "\"[{'key': 'env', 'value': 'prod'}]\","
        "\"[{'name': 'SUD', 'amount': -0.25, 'full_name': None, 'id': 'x', 'type': 'SUSTAINED_USAGE_DISCOUNT'}]\","
        "202208,regular,1.0,USD\n"
    )
    path = tmp_path / "repr.csv"
    path.write_text(header + line)
    row = _raw(path)[0]
    assert row["_quarantine_reason"] is None
    assert row["labels"] == {"env": "prod"}
    assert '"amount":-0.25' in row["credits"].replace(" ", "").replace("-0.250000000000", "-0.25")


def test_generated_month_converts_whole(tmp_path: Path) -> None:
    path = write_gcp_export_parquet(tmp_path / "month.parquet", date(2025, 1, 1), projects=2)
    output = tmp_path / "focus.parquet"
    assert gcp_to_focus([path], output) == {}
    rows = _focus(output)
    assert {r["BillingPeriodStart"].astimezone(UTC).date().isoformat() for r in rows} == {"2025-01-01"}
    # Every day and project repeats the 7 row kinds (invoice total 12.4) times 1 + day % 3.
    assert sum(r["BilledCost"] for r in rows) == D("12.4") * 2 * sum(1 + d % 3 for d in range(1, 32))


# -- bad input -------------------------------------------------------------------------------------
def test_missing_required_columns_fail_the_file(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_text("billing_account_id,cost\nA,1\n")
    with pytest.raises(FailedPrecondition, match="required columns missing"):
        _raw(path)
    empty = tmp_path / "e.csv"
    empty.write_text("")
    with pytest.raises(FailedPrecondition, match="empty"):
        _raw(empty)


def test_unparsable_values_are_quarantined(tmp_path: Path) -> None:
    text = KOKU.read_text().splitlines()
    bad_cost = text[1].replace(",0.0,USD,", ",abc,USD,")
    bad_month = text[2].replace(",202208,", ",2022-8,")
    bad_labels = text[3].replace(",[],[],us-central1", ",[{oops,[],us-central1", 1)
    path = tmp_path / "bad.csv"
    path.write_text("\n".join([text[0], bad_cost, bad_month, bad_labels, text[4]]) + "\n")
    rows = _raw(path)
    reasons = [r["_quarantine_reason"] for r in rows]
    assert reasons[0] == "unparsable decimal in cost: 'abc'"
    assert reasons[1] is not None and reasons[1].startswith("unparsable invoice month")
    assert reasons[2] is not None and reasons[2].startswith("unparsable array in labels")
    assert reasons[3] is None
    assert rows[0]["_source_row_number"] == 1 and '"cost": "abc"' in rows[0]["_record"].replace('":"', '": "')
    counts = gcp_to_focus([path], tmp_path / "f.parquet")
    assert sum(counts.values()) == 3
    assert len(_focus(tmp_path / "f.parquet")) == 1


# -- mapping ---------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def focus(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("gcp")
    out = tmp / "focus.parquet"
    assert gcp_to_focus([write_nested_parquet(tmp / "n.parquet")], out) == {}
    keyed: dict[str, dict[str, Any]] = {}
    for row in _focus(out):
        key = "credit" if row["ChargeCategory"] == "Credit" else row["x_usage_type"].split(":")[0]
        keyed[key] = row
    return keyed


# kind: (ChargeCategory, ChargeClass, Frequency, Billed, Effective, List, Contracted, PricingCategory,
#        CommitmentDiscountId, CommitmentDiscountStatus, ServiceProviderName)
EXPECTED = {
    "regular": ("Usage", None, "Usage-Based", "2", "2", "2.5", "2", "Standard", None, None, "Google Cloud"),
    # Billed 10 - 6 (CUD) - 1 (SUD); effective + the 3.00 commitment fee of its hour (all of it used:
    # the CUD covered 6 of its 10 hours, the fee commits 1): tests/gcp/test_gcp_commitments.py.
    "cud": ("Usage", None, "Usage-Based", "3", "6", "10", "10", "Committed", "cud-1", "Used", "Google Cloud"),
    "promo": ("Usage", None, "Usage-Based", "2", "2", "2.5", "2", "Standard", None, None, "Google Cloud"),
    "credit": ("Credit", None, "Usage-Based", "-0.5", "-0.5", "-0.5", "-0.5", None, None, None, "Google Cloud"),
    "Commitment v1": ("Purchase", None, "Recurring", "3", "0", "3", "3", "Standard", "cud-1", None, "Google Cloud"),
    "tax": ("Tax", None, "Usage-Based", "0.4", "0.4", "0.4", "0.4", None, None, None, "Google Cloud"),
    "adjustment": (
        "Adjustment",
        "Correction",
        "Usage-Based",
        "-1.5",
        "-1.5",
        "-1.5",
        "-1.5",
        None,
        None,
        None,
        "Google Cloud",
    ),
    "marketplace": ("Usage", None, "Usage-Based", "4", "4", "4", "4", "Standard", None, None, "Acme Corp"),
}


@pytest.mark.parametrize("kind", sorted(EXPECTED))
def test_row_kind(focus: dict[str, dict[str, Any]], kind: str) -> None:
    row = focus[kind]
    cat, cls, freq, billed, eff, lst, con, pcat, cid, status, provider = EXPECTED[kind]
    got = (
        row["ChargeCategory"],
        row["ChargeClass"],
        row["ChargeFrequency"],
        row["BilledCost"],
        row["EffectiveCost"],
        row["ListCost"],
        row["ContractedCost"],
        row["PricingCategory"],
        row["CommitmentDiscountId"],
        row["CommitmentDiscountStatus"],
        row["ServiceProviderName"],
    )
    assert got == (cat, cls, freq, D(billed), D(eff), D(lst), D(con), pcat, cid, status, provider)
    assert row["BillingPeriodStart"].astimezone().date().isoformat() == "2024-03-01"
    assert row["BillingPeriodEnd"].isoformat() == "2024-04-01T07:00:00+00:00"  # 00:00 US/Pacific (PDT), exclusive
    assert row["x_source_provider"] == "gcp" and row["BillingAccountId"] == "0123AB-CDEF01-234567"
    if row["SkuPriceId"] is None:
        assert row["ContractedUnitPrice"] is None and row["PricingQuantity"] is None
    else:
        assert row["ListCost"] == row["ListUnitPrice"] * row["PricingQuantity"]
        assert row["ContractedCost"] == row["ContractedUnitPrice"] * row["PricingQuantity"]


def test_dimensions(focus: dict[str, dict[str, Any]]) -> None:
    reg = focus["regular"]
    assert reg["SubAccountId"] == "p1" and reg["SubAccountName"] == "Project One" and reg["SubAccountType"] == "Project"
    assert (reg["RegionId"], reg["RegionName"], reg["AvailabilityZone"]) == ("us-central1", "Iowa", "us-central1-a")
    assert (reg["ServiceCategory"], reg["ServiceSubcategory"]) == ("Compute", "Virtual Machines")
    assert reg["ResourceId"].endswith("/instances/vm-regular") and reg["ResourceType"] == "instances"
    # usage.unit "seconds" in FOCUS Unit Format (the shared units table, sql/reference/focus_units.csv).
    assert reg["PricingUnit"] == "Hours" and reg["ConsumedQuantity"] == D("7200") and reg["ConsumedUnit"] == "Seconds"
    assert reg["Tags"] == (
        '{"env":"prod","team":"core","9/cost-center":"42","gcp:compute.googleapis.com/machine_spec":"n1-standard-1"}'
    )
    cud = focus["cud"]
    assert (cud["CommitmentDiscountCategory"], cud["CommitmentDiscountType"]) == ("Usage", "Committed Use Discount")
    assert cud["CommitmentDiscountName"] == "Committed use discount: CPU"
    assert cud["CommitmentDiscountQuantity"] == D("10") and cud["CommitmentDiscountUnit"] == "Hours"
    credit = focus["credit"]
    assert credit["ChargeDescription"] == "Free trial credit" and credit["x_charge_type"] == "PROMOTION"
    assert credit["SkuPriceId"] is None and credit["SubAccountId"] == "p1"
    mkt = focus["marketplace"]
    assert mkt["PublisherName"] == "Acme Corp" and mkt["HostProviderName"] == "Acme Corp"
    assert mkt["InvoiceIssuerName"] == "Google Cloud" and mkt["ServiceCategory"] == "Other"
    assert focus["tax"]["SkuPriceId"] is None and focus["tax"]["ConsumedQuantity"] is None
    # Invoice total = gross cost 19.9 + every credit (-6 CUD, -1 SUD, -0.5 promotion); amortizing the
    # commitment fee moves EffectiveCost between rows, never changes its total.
    assert sum(r["BilledCost"] for r in focus.values()) == D("12.4")
    assert sum(r["EffectiveCost"] for r in focus.values()) == D("12.4")
