"""Hand-written mappings run through the FOCUS wrapper (conversion.wrap_mapping), for the wrapper's tests.

``wrapped_rows`` runs a mapping of ``columns`` over ``raw`` rows that carry the lineage columns and
whatever else the test needs, and returns the FOCUS rows as dicts, in ``x_run_id`` order.
"""

from __future__ import annotations

import json
from typing import Any

import duckdb

from focus_svc import conversion

# Every column the schema requires of a mapping (the wrapper supplies the lineage and the defaults).
REQUIRED = {
    "BilledCost": "focus_money(1)",
    "BillingAccountId": "'account'",
    "BillingAccountType": "'Billing Account'",
    "BillingCurrency": "'USD'",
    "BillingPeriodEnd": "TIMESTAMPTZ '2025-02-01 00:00:00+00'",
    "BillingPeriodStart": "TIMESTAMPTZ '2025-01-01 00:00:00+00'",
    "ChargeCategory": "'Usage'",
    "ChargeFrequency": "'Usage-Based'",
    "ChargePeriodEnd": "TIMESTAMPTZ '2025-01-02 00:00:00+00'",
    "ChargePeriodStart": "TIMESTAMPTZ '2025-01-01 00:00:00+00'",
    "ContractedCost": "focus_money(1)",
    "EffectiveCost": "focus_money(1)",
    "InvoiceIssuerName": "'Test Cloud'",
    "ListCost": "focus_money(1)",
    "ProviderName": "'Test Cloud'",
    "PublisherName": "'Test Cloud'",
    "ServiceCategory": "'Compute'",
    "ServiceName": "'Machines'",
    "ServiceProviderName": "'Test Cloud'",
    "ServiceSubcategory": "'Virtual Machines'",
}
LINEAGE = (
    "'p' AS x_pipeline_id, 'c' AS x_credential_id, 'r' || lpad(CAST(n AS VARCHAR), 4, '0') AS x_run_id, "
    "TIMESTAMPTZ '2025-01-02 03:04:05+00' AS x_ingested_at, DATE '2025-01-02' AS x_pipeline_run_date"
)


def create_raw(con: duckdb.DuckDBPyConnection, rows: list[dict[str, Any]]) -> None:
    """Table ``raw``: one row per dict (its keys as VARCHAR columns), with lineage; row n has x_run_id 'r000n'."""
    keys = sorted({key for row in rows for key in row})
    con.execute("CREATE OR REPLACE TEMP TABLE raw_values (n INTEGER, payload JSON)")
    con.executemany("INSERT INTO raw_values VALUES (?, ?)", [[n, json.dumps(row)] for n, row in enumerate(rows)])
    extracted = ", ".join(f"payload ->> '{key}' AS {key}" for key in keys)
    con.execute(f"CREATE OR REPLACE TEMP TABLE raw AS SELECT {LINEAGE}, {extracted} FROM raw_values")


def mapping(columns: dict[str, str]) -> str:
    """A one-SELECT mapping of ``columns`` (name -> SQL over the raw row ``r``) over ``{{raw}}``."""
    return "SELECT\n    " + ",\n    ".join(f"{sql} AS {name}" for name, sql in columns.items()) + "\nFROM {{raw}} AS r"


def wrapped_rows(
    con: duckdb.DuckDBPyConnection, columns: dict[str, str], provider: str = "testcloud"
) -> list[dict[str, Any]]:
    """The FOCUS rows of ``mapping(columns)`` through the wrapper, over table ``raw``, in raw row order."""
    cursor = con.execute(conversion.wrap_mapping(provider, mapping(columns), "raw") + " ORDER BY x_run_id")
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
