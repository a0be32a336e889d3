"""Synthetic GCP Cloud Billing export rows (the detailed BigQuery export's nested shape), for tests and the demo.

:data:`NESTED_SCHEMA` is the detailed export's schema as Arrow (RECORD -> struct, REPEATED RECORD ->
list of structs, NUMERIC -> decimal128(38, 9), FLOAT -> float64, TIMESTAMP -> UTC timestamps), which is
what a BigQuery query returns as Arrow and what an EXTRACT to Parquet holds. :func:`standard_schema`
drops the two records only the detailed export has (``resource``, ``price``).

:func:`nested_rows` is one row per FOCUS row kind (regular usage, CUD-covered usage, promotion credit,
CUD fee, tax, adjustment, Marketplace) for March 2024; :func:`month_rows` repeats those kinds over every
day of a month and several projects, with costs scaled consistently (cost, list cost, credits and
usage together, the unit price unchanged), for a month-sized export; :func:`write_gcp_export_parquet`
writes such a month as Parquet, and :func:`generate` (the registered generator) any number of rows.
"""

from __future__ import annotations

import calendar
import copy
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from cloudact_providers.synthetic import scale_file

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

_DETAILED_ONLY = ("resource", "price")
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


def standard_schema() -> pa.Schema:
    """The standard usage cost export: the detailed one without ``resource`` and ``price``."""
    return pa.schema([f for f in NESTED_SCHEMA if f.name not in _DETAILED_ONLY])


def month_rows(period: date, *, projects: int = 3, detailed: bool = True) -> list[dict[str, Any]]:
    """Every kind of :func:`nested_rows` for each day of ``period``'s month and each of ``projects``.

    Day ``d`` of project ``p`` bills the UTC hour ``8 + p`` of that day (inside the Pacific-time
    invoice month, as Google assigns invoice months), exported the next day; its money and quantities
    are multiplied by ``1 + d % 3`` so days differ while unit prices stay consistent.
    """
    if not 0 < projects <= 15:
        raise ValueError("projects must be 1..15 (one UTC hour each, inside the Pacific day)")
    days = calendar.monthrange(period.year, period.month)[1]
    rows: list[dict[str, Any]] = []
    for day in range(1, days + 1):
        for project in range(projects):
            start = datetime(period.year, period.month, day, 8 + project, tzinfo=UTC)
            for template in nested_rows():
                row = _scaled(copy.deepcopy(template), 1 + day % 3)
                row["usage_start_time"], row["usage_end_time"] = start, start + timedelta(hours=1)
                row["export_time"] = start + timedelta(days=1)
                row["invoice"] = {"month": f"{period:%Y%m}", "publisher_type": "GOOGLE"}
                row["project"] = {**row["project"], "id": f"acme-p{project}", "name": f"Acme project {project}"}
                rows.append(row if detailed else as_standard(row))
    return rows


def write_gcp_export_parquet(path: Path, period: date = date(2025, 1, 1), *, projects: int = 3) -> Path:
    """:func:`month_rows` as a Parquet file, nested as a BigQuery EXTRACT (or query result) writes it."""
    pq.write_table(pa.Table.from_pylist(month_rows(period, projects=projects), schema=NESTED_SCHEMA), path)
    return path


def write_nested_parquet(path: Path) -> Path:
    """:func:`nested_rows` (one row per kind) as a Parquet file."""
    pq.write_table(pa.Table.from_pylist(nested_rows(), schema=NESTED_SCHEMA), path)
    return path


def nested_sample(directory: Path) -> list[Path]:
    """The conformance sample of the nested export: :func:`nested_rows` as Parquet (a ``SampleWriter``)."""
    return [write_nested_parquet(directory / "gcp_billing_export_resource_v1.parquet")]


def generate(directory: Path, rows: int) -> Path:
    """A synthetic detailed export of ``rows`` rows as Parquet (the provider's ``SyntheticGenerator``).

    A month of 10 projects (:func:`write_gcp_export_parquet`) repeated to size; the copies keep the
    month's days, so the rows stay inside one invoice month.
    """
    month = directory / "gcp-month-10-projects.parquet"
    if not month.exists():
        write_gcp_export_parquet(month, projects=10)
    return scale_file(month, rows, directory / f"gcp-detailed-export-{rows}.parquet", vary=())


def as_standard(row: dict[str, Any]) -> dict[str, Any]:
    """A detailed export row as the standard export has it (no ``resource``, no ``price``)."""
    return {k: v for k, v in row.items() if k not in _DETAILED_ONLY}


def _scaled(row: dict[str, Any], factor: int) -> dict[str, Any]:
    for key in ("cost", "cost_at_list"):
        if row[key] is not None:
            row[key] *= factor
    for credit in row["credits"]:
        credit["amount"] *= factor
    if row["usage"] is not None:
        row["usage"] = {**row["usage"], "amount": row["usage"]["amount"] * factor}
        row["usage"]["amount_in_pricing_units"] *= factor
    return row
