"""GCP file-path helpers: a nested export generated with pyarrow, and raw -> FOCUS without the registry."""

from __future__ import annotations

import json
import tempfile
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from cloudact_shared import duck
from cloudact_shared.lineage import Lineage
from focus_svc import conversion
from ingest_svc.connectors.gcp_formats import build_raw_select

KOKU = Path(__file__).resolve().parents[3] / "shared" / "samples" / "raw" / "gcp" / "koku_2022-08-01_5.csv"

_KV = pa.list_(pa.struct([("key", pa.string()), ("value", pa.string())]))
NESTED_SCHEMA = pa.schema(
    [
        ("billing_account_id", pa.string()),
        ("service", pa.struct([("id", pa.string()), ("description", pa.string())])),
        ("sku", pa.struct([("id", pa.string()), ("description", pa.string())])),
        ("usage_start_time", pa.timestamp("us", tz="UTC")),
        ("usage_end_time", pa.timestamp("us", tz="UTC")),
        (
            "project",
            pa.struct(
                [
                    ("id", pa.string()),
                    ("number", pa.string()),
                    ("name", pa.string()),
                    ("labels", _KV),
                    ("ancestry_numbers", pa.string()),
                    ("ancestors", pa.list_(pa.struct([("resource_name", pa.string()), ("display_name", pa.string())]))),
                ]
            ),
        ),
        ("labels", _KV),
        ("system_labels", _KV),
        (
            "tags",
            pa.list_(
                pa.struct(
                    [
                        ("key", pa.string()),
                        ("value", pa.string()),
                        ("inherited", pa.bool_()),
                        ("namespace", pa.string()),
                    ]
                )
            ),
        ),
        (
            "location",
            pa.struct(
                [("location", pa.string()), ("country", pa.string()), ("region", pa.string()), ("zone", pa.string())]
            ),
        ),
        ("export_time", pa.timestamp("us", tz="UTC")),
        ("cost", pa.float64()),
        ("currency", pa.string()),
        ("currency_conversion_rate", pa.float64()),
        (
            "usage",
            pa.struct(
                [
                    ("amount", pa.float64()),
                    ("unit", pa.string()),
                    ("amount_in_pricing_units", pa.float64()),
                    ("pricing_unit", pa.string()),
                ]
            ),
        ),
        (
            "credits",
            pa.list_(
                pa.struct(
                    [
                        ("name", pa.string()),
                        ("amount", pa.float64()),
                        ("full_name", pa.string()),
                        ("id", pa.string()),
                        ("type", pa.string()),
                    ]
                )
            ),
        ),
        ("invoice", pa.struct([("month", pa.string()), ("publisher_type", pa.string())])),
        ("cost_type", pa.string()),
        (
            "adjustment_info",
            pa.struct(
                [("id", pa.string()), ("description", pa.string()), ("mode", pa.string()), ("type", pa.string())]
            ),
        ),
        (
            "price",
            pa.struct(
                [
                    ("effective_price", pa.decimal128(38, 9)),
                    ("tier_start_amount", pa.decimal128(38, 9)),
                    ("unit", pa.string()),
                    ("pricing_unit_quantity", pa.decimal128(38, 9)),
                ]
            ),
        ),
        ("resource", pa.struct([("name", pa.string()), ("global_name", pa.string())])),
        ("subscription", pa.struct([("instance_id", pa.string())])),
        ("transaction_type", pa.string()),
        ("seller_name", pa.string()),
        ("cost_at_list", pa.float64()),
    ]
)

_VM = "//compute.googleapis.com/projects/p1/zones/us-central1-a/instances/vm-"


def _row(kind: str, **over: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "billing_account_id": "0123AB-CDEF01-234567",
        "service": {"id": "6F81-5844-456A", "description": "Compute Engine"},
        "sku": {"id": "CP-COMPUTEENGINE-VMIMAGE-N1", "description": f"{kind}: N1 Predefined Instance Core"},
        "usage_start_time": datetime(2024, 3, 5, 10, tzinfo=UTC),
        "usage_end_time": datetime(2024, 3, 5, 11, tzinfo=UTC),
        "project": {
            "id": "p1",
            "number": "111",
            "name": "Project One",
            "labels": [{"key": "team", "value": "core"}, {"key": "env", "value": "dev"}],
            "ancestry_numbers": "/9/8/",
            "ancestors": [{"resource_name": "organizations/9", "display_name": "acme"}],
        },
        "labels": [{"key": "env", "value": "prod"}],
        "system_labels": [{"key": "compute.googleapis.com/machine_spec", "value": "n1-standard-1"}],
        "tags": [{"key": "cost-center", "value": "42", "inherited": True, "namespace": "9"}],
        "location": {"location": "us-central1", "country": "US", "region": "us-central1", "zone": "us-central1-a"},
        "export_time": datetime(2024, 3, 6, 1, tzinfo=UTC),
        "cost": 2.0,
        "currency": "USD",
        "currency_conversion_rate": 1.0,
        "usage": {"amount": 7200.0, "unit": "seconds", "amount_in_pricing_units": 2.0, "pricing_unit": "hour"},
        "credits": [],
        "invoice": {"month": "202403", "publisher_type": "GOOGLE"},
        "cost_type": "regular",
        "adjustment_info": None,
        "price": {
            "effective_price": Decimal("1"),
            "tier_start_amount": Decimal("0"),
            "unit": "hour",
            "pricing_unit_quantity": Decimal("1"),
        },
        "resource": {"name": f"vm-{kind}", "global_name": _VM + kind},
        "subscription": None,
        "transaction_type": "GOOGLE",
        "seller_name": None,
        "cost_at_list": 2.5,
    }
    row.update(over)
    return row


def nested_rows() -> list[dict[str, Any]]:
    """One export row per FOCUS row kind; the SKU description starts with the kind."""
    no_price: dict[str, Any] = {"price": None, "usage": None, "resource": None, "labels": [], "system_labels": []}
    return [
        _row("regular"),
        _row(
            "cud",
            cost=10.0,
            cost_at_list=10.0,
            usage={"amount": 36000.0, "unit": "seconds", "amount_in_pricing_units": 10.0, "pricing_unit": "hour"},
            credits=[
                {
                    "name": "Committed use discount: CPU",
                    "amount": -6.0,
                    "full_name": "Committed use discount: CPU",
                    "id": "commitments/cud-1",
                    "type": "COMMITTED_USAGE_DISCOUNT",
                },
                {
                    "name": "Sustained usage discount",
                    "amount": -1.0,
                    "full_name": None,
                    "id": "sud",
                    "type": "SUSTAINED_USAGE_DISCOUNT",
                },
            ],
            subscription={"instance_id": "cud-1"},
        ),
        _row(
            "promo",
            credits=[
                {
                    "name": "FreeTrial:2024",
                    "amount": -0.5,
                    "full_name": "Free trial credit",
                    "id": "promo-1",
                    "type": "PROMOTION",
                }
            ],
        ),
        _row(
            "Commitment v1: Cpu in us-central1 for 1 Year",
            cost=3.0,
            cost_at_list=3.0,
            usage={"amount": 3600.0, "unit": "seconds", "amount_in_pricing_units": 1.0, "pricing_unit": "hour"},
            price={
                "effective_price": Decimal("3"),
                "tier_start_amount": Decimal("0"),
                "unit": "hour",
                "pricing_unit_quantity": Decimal("1"),
            },
            subscription={"instance_id": "cud-1"},
            resource=None,
        ),
        _row("tax", cost_type="tax", cost=0.4, cost_at_list=None, **no_price),
        _row(
            "adjustment",
            cost_type="adjustment",
            cost=-1.5,
            cost_at_list=None,
            adjustment_info={"id": "adj-1", "description": "Goodwill correction", "mode": "MANUAL", "type": "GOODWILL"},
            **no_price,
        ),
        _row(
            "marketplace",
            service={"id": "ABCD-1234-5678", "description": "Acme Analytics SaaS"},
            transaction_type="THIRD_PARTY_RESELLER",
            seller_name="Acme Corp",
            cost=4.0,
            cost_at_list=4.0,
            usage={"amount": 4.0, "unit": "requests", "amount_in_pricing_units": 4.0, "pricing_unit": "count"},
            price={
                "effective_price": Decimal("1"),
                "tier_start_amount": Decimal("0"),
                "unit": "count",
                "pricing_unit_quantity": Decimal("1"),
            },
            location=None,
            resource=None,
            labels=[],
            system_labels=[],
            tags=[],
        ),
    ]


def write_nested_parquet(path: Path) -> Path:
    pq.write_table(pa.Table.from_pylist(nested_rows(), schema=NESTED_SCHEMA), path)
    return path


def write_nested_jsonl(path: Path) -> Path:
    """BigQuery's JSON extract: timestamps as 'YYYY-MM-DD HH:MM:SS UTC', numbers as JSON numbers."""
    lines = []
    for row in nested_rows():
        row = dict(row)
        for key in ("usage_start_time", "usage_end_time", "export_time"):
            row[key] = row[key].strftime("%Y-%m-%d %H:%M:%S UTC")
        lines.append(json.dumps(row, default=str))
    path.write_text("\n".join(lines) + "\n")
    return path


def gcp_to_focus(inputs: list[Path], output: Path) -> dict[str, int]:
    """The file path of ``cloudact convert --provider gcp`` (raw SELECT -> FOCUS mapping), without the registry.

    Returns quarantine reasons (value stripped) -> count.
    """
    with tempfile.TemporaryDirectory() as spill:
        con = duck.connect(memory_limit="640MB", temp_dir=Path(spill), threads=None)
        try:
            conversion.set_lineage(con, Lineage.new_run("gcp/cost/billing", "local-files"))
            conversion.prepare(con)
            selects = [f"({build_raw_select(con, p, source_object=str(p))})" for p in inputs]
            con.execute(f"CREATE TEMP VIEW raw_all AS {' UNION ALL BY NAME '.join(selects)}")
            con.execute("CREATE TEMP VIEW raw_good AS SELECT * FROM raw_all WHERE _quarantine_reason IS NULL")
            reasons = con.execute(
                "SELECT regexp_replace(_quarantine_reason, ': ''.*$', ''), count(*) FROM raw_all "
                "WHERE _quarantine_reason IS NOT NULL GROUP BY 1"
            ).fetchall()
            select = conversion.focus_select_sql("gcp", "raw_good")
            con.execute(f"COPY ({select}) TO '{output}' (FORMAT parquet)")
        finally:
            con.close()
    return {str(r[0]): int(r[1]) for r in reasons}


@pytest.fixture
def nested_parquet(tmp_path: Path) -> Path:
    return write_nested_parquet(tmp_path / "gcp_billing_export_resource_v1.parquet")
