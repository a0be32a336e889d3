"""Synthetic Databricks billing: generated ``system.billing`` tables, and the connector's export of a month.

:func:`fill_month` writes a month of an account into a :class:`~cloudact_providers.databricks.warehouse.SystemTables`:
hourly ORIGINAL records of six SKUs over three workspaces (all-purpose and jobs clusters, a pro and a
serverless SQL warehouse, a DLT pipeline, a model serving endpoint), spread over the whole month, each
with its tags and usage metadata; the list prices in force (one SKU's price changes in the middle of
the month, one SKU has a promotional price); and the cases the mapping must get right:

- a record starting exactly when the price changes (the half-open price join gives it the new price);
- a correction ingested within the month (a RETRACTION of an original record and its RESTATEMENT);
- a correction ingested after the month ended, i.e. after the month was invoiced (FOCUS ChargeClass
  ``Correction``).

Everything is computed in SQL from the record's number (no randomness): the same arguments give the
same tables and the same bytes. :func:`write_export` runs the connector's own statement over the
tables and writes its answer as the connector does, one JSON object of strings per line;
:func:`generate` (the registered generator) and :func:`sample` (the conformance sample) use it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Final

from cloudact_providers.databricks import statements
from cloudact_providers.databricks.warehouse import CATALOG, SystemTables

ACCOUNT_ID: Final = "4c8e2a17-93b5-4f0d-a6e1-2b7d9c3f5e80"
WORKSPACES: Final = ("1234567890123456", "2345678901234567", "3456789012345678")
SAMPLE_PERIOD: Final = date(2026, 1, 1)


@dataclass(frozen=True)
class Sku:
    """A SKU the generated account uses, with its list price (and promotional price, if any)."""

    name: str
    product: str
    usage_type: str
    serverless: bool
    price: str
    promotional: str | None = None
    new_price: str | None = None
    """The price from the 15th of the month on (a price change), if any."""


SKUS: Final = (
    Sku("PREMIUM_ALL_PURPOSE_COMPUTE", "ALL_PURPOSE", "COMPUTE_TIME", False, "0.55"),
    Sku("PREMIUM_JOBS_COMPUTE", "JOBS", "COMPUTE_TIME", False, "0.15", new_price="0.18"),
    Sku("PREMIUM_SQL_PRO_COMPUTE_US_EAST_N_VIRGINIA", "SQL", "COMPUTE_TIME", False, "0.55"),
    Sku("PREMIUM_SERVERLESS_SQL_COMPUTE_US_EAST_N_VIRGINIA", "SQL", "COMPUTE_TIME", True, "0.70"),
    Sku("PREMIUM_DLT_ADVANCED_COMPUTE", "DLT", "COMPUTE_TIME", False, "0.36"),
    Sku("PREMIUM_SERVERLESS_REAL_TIME_INFERENCE_US_EAST", "MODEL_SERVING", "COMPUTE_TIME", True, "0.07", "0.05"),
)
PRICE_CHANGE_DAY: Final = 15
CLOUD: Final = "AWS"
CURRENCY: Final = "USD"


def price_change(period: date) -> datetime:
    """When the price of the SKU with a ``new_price`` changes in ``period``'s month (UTC midnight)."""
    return datetime(period.year, period.month, PRICE_CHANGE_DAY, tzinfo=UTC)


def fill_month(tables: SystemTables, period: date, rows: int, *, currency: str = CURRENCY) -> None:
    """Adds ``rows`` ORIGINAL records of ``period``'s month, the special cases, and the month's prices.

    Args:
        tables: the warehouse to fill (another month's rows may be there already).
        period: the first day of the month.
        rows: the ORIGINAL hourly records to generate (at least 1).
        currency: the currency of the list prices.
    """
    if rows < 1:
        raise ValueError("rows must be at least 1")
    _prices(tables, period, currency)
    _originals(tables, period, rows)
    _special_cases(tables, period)


def _prices(tables: SystemTables, period: date, currency: str) -> None:
    since = datetime(2020, 1, 1, tzinfo=UTC)
    change = price_change(period)
    rows: list[tuple[datetime, datetime | None, str, dict[str, object]]] = []
    for sku in SKUS:
        if sku.new_price is None:
            rows.append((since, None, sku.name, _pricing(sku.price, sku.promotional)))
            continue
        rows.append((since, change, sku.name, _pricing(sku.price, sku.promotional)))
        rows.append((change, None, sku.name, _pricing(sku.new_price, None)))
    for start, end, name, pricing in rows:
        exists = tables.con.execute(
            f"SELECT count(*) FROM {CATALOG}.billing.list_prices WHERE sku_name = ? AND price_start_time = ?"
            " AND currency_code = ?",
            [name, start, currency],
        ).fetchall()[0][0]
        if not exists:
            tables.con.execute(
                f"INSERT INTO {CATALOG}.billing.list_prices VALUES (?, ?, ?, ?, ?, ?, 'DBU', ?)",
                [start, end, ACCOUNT_ID, name, CLOUD, currency, pricing],
            )


def _pricing(price: str, promotional: str | None) -> dict[str, object]:
    """The ``pricing`` struct: the default price, the promotion if any, and the effective list price."""
    effective = promotional or price
    return {"default": price, "promotional": {"default": promotional}, "effective_list": {"default": effective}}


# The columns of a generated record, from its number ``i`` (``n`` records over the month's hours).
_ORIGINAL = """
INSERT INTO {catalog}.billing.usage
SELECT
    substr(h, 1, 8) || '-' || substr(h, 9, 4) || '-' || substr(h, 13, 4) || '-' || substr(h, 17, 4) || '-'
        || substr(h, 21, 12) AS record_id,
    $account AS account_id,
    $workspaces[1 + i % 3] AS workspace_id,
    sku.name AS sku_name,
    $cloud AS cloud,
    start AS usage_start_time,
    start + INTERVAL 1 HOUR AS usage_end_time,
    CAST(start AS DATE) AS usage_date,
    CASE WHEN i % 5 = 4 THEN NULL
         ELSE MAP {{'team': ['data', 'ml', 'bi'][1 + i % 3], 'env': CASE WHEN i % 2 = 0 THEN 'prod' ELSE 'dev' END}}
    END AS custom_tags,
    'DBU' AS usage_unit,
    CAST((1 + (i * 7919) % 997) * 0.0137 AS DECIMAL(38, 18)) AS usage_quantity,
    {{
        'cluster_id': CASE WHEN sku.product IN ('ALL_PURPOSE', 'JOBS')
                           THEN '0115-0930' || lpad(CAST(i % 7 AS VARCHAR), 2, '0') || '-abcd' END,
        'job_id': CASE WHEN sku.product = 'JOBS' THEN CAST(1000 + i % 11 AS VARCHAR) END,
        'job_run_id': CASE WHEN sku.product = 'JOBS' THEN CAST(90000 + i AS VARCHAR) END,
        'warehouse_id': CASE WHEN sku.product = 'SQL' THEN '4b9f' || lpad(CAST(i % 3 AS VARCHAR), 12, '0') END,
        'instance_pool_id': NULL, 'node_type': CASE WHEN NOT sku.serverless THEN 'i3.xlarge' END,
        'notebook_id': NULL,
        'dlt_pipeline_id': CASE WHEN sku.product = 'DLT'
                                THEN 'a1b2c3d4-0000-4000-8000-00000000000' || CAST(i % 4 AS VARCHAR) END,
        'endpoint_name': CASE WHEN sku.product = 'MODEL_SERVING' THEN 'churn-model' END,
        'endpoint_id': CASE WHEN sku.product = 'MODEL_SERVING' THEN 'e0f1a2b3c4d5' END
    }} AS usage_metadata,
    {{'run_as': ['ana@example.com', 'svc-etl@example.com', 'bo@example.com'][1 + i % 3], 'owned_by': NULL,
      'created_by': NULL}} AS identity_metadata,
    'ORIGINAL' AS record_type,
    CAST(start AS DATE) + 1 AS ingestion_date,
    sku.product AS billing_origin_product,
    {{'is_serverless': sku.serverless, 'is_photon': sku.product = 'SQL',
      'sql_tier': CASE WHEN sku.product = 'SQL' THEN CASE WHEN sku.serverless THEN 'SERVERLESS' ELSE 'PRO' END END,
      'jobs_tier': CASE WHEN sku.product = 'JOBS' THEN 'CLASSIC' END,
      'serving_type': CASE WHEN sku.product = 'MODEL_SERVING' THEN 'MODEL' END}} AS product_features,
    sku.usage_type AS usage_type
FROM (
    SELECT
        i, md5($seed || CAST(i AS VARCHAR)) AS h,
        $skus[1 + (i // 3) % len($skus)] AS sku,
        $period + to_hours(CAST((i // $combos) * $step % $hours AS BIGINT)) AS start
    FROM range($n) AS r(i)
) AS g
"""


def _originals(tables: SystemTables, period: date, rows: int) -> None:
    start = datetime(period.year, period.month, 1, tzinfo=UTC)
    end = datetime.combine(statements.next_month(period), datetime.min.time(), UTC)
    hours = int((end - start).total_seconds()) // 3600
    combos = len(WORKSPACES) * len(SKUS)
    # Spread the records over the whole month: a small export still has every day's hours.
    step = max(1, hours // max(1, -(-rows // combos)))
    skus = [
        {"name": s.name, "product": s.product, "usage_type": s.usage_type, "serverless": s.serverless} for s in SKUS
    ]
    tables.con.execute(
        _ORIGINAL.format(catalog=CATALOG),
        {
            "account": ACCOUNT_ID,
            "workspaces": list(WORKSPACES),
            "cloud": CLOUD,
            "seed": f"{period:%Y%m}-",
            "skus": skus,
            "combos": combos,
            "step": step,
            "hours": hours,
            "period": start,
            "n": rows,
        },
    )


def _special_cases(tables: SystemTables, period: date) -> None:
    """The record on the price change, and two corrections (one within the month, one after it)."""
    change = price_change(period)
    month_end = statements.next_month(period)
    jobs = next(s for s in SKUS if s.new_price is not None)
    _record(tables, f"{period:%Y%m}-boundary", jobs, change, Decimal("4.000000000000000000"), "ORIGINAL", change.date())
    hour = datetime(period.year, period.month, 3, 9, tzinfo=UTC)
    sql = next(s for s in SKUS if s.product == "SQL" and not s.serverless)
    _correction(tables, f"{period:%Y%m}-in-month", sql, hour, ("10", "8.5"), hour.date() + timedelta(days=2))
    late = datetime(period.year, period.month, 27, 18, tzinfo=UTC)
    _correction(tables, f"{period:%Y%m}-late", SKUS[0], late, ("6", "7.25"), month_end + timedelta(days=3))


def _correction(
    tables: SystemTables, name: str, sku: Sku, start: datetime, quantities: tuple[str, str], ingested: date
) -> None:
    """An ORIGINAL record of ``quantities[0]`` and, ingested on ``ingested``, its correction to ``quantities[1]``:
    a RETRACTION of the original quantity and a RESTATEMENT of the new one."""
    original, restated = Decimal(quantities[0]), Decimal(quantities[1])
    _record(tables, f"{name}-original", sku, start, original, "ORIGINAL", start.date())
    _record(tables, f"{name}-retraction", sku, start, -original, "RETRACTION", ingested)
    _record(tables, f"{name}-restatement", sku, start, restated, "RESTATEMENT", ingested)


def _record(
    tables: SystemTables, record_id: str, sku: Sku, start: datetime, quantity: Decimal, record_type: str, ingested: date
) -> None:
    tables.con.execute(
        f"""INSERT INTO {CATALOG}.billing.usage VALUES (
            $id, $account, $workspace, $sku, $cloud, $start, $start + INTERVAL 1 HOUR, CAST($start AS DATE),
            MAP {{'team': 'finops'}}, 'DBU', $quantity,
            {{'cluster_id': '0115-093000-corr', 'job_id': NULL, 'job_run_id': NULL, 'warehouse_id': NULL,
              'instance_pool_id': NULL, 'node_type': NULL, 'notebook_id': NULL, 'dlt_pipeline_id': NULL,
              'endpoint_name': NULL, 'endpoint_id': NULL}},
            {{'run_as': 'svc-etl@example.com', 'owned_by': NULL, 'created_by': NULL}},
            $type, $ingested, $product,
            {{'is_serverless': $serverless, 'is_photon': false, 'sql_tier': NULL, 'jobs_tier': NULL,
              'serving_type': NULL}},
            $usage_type)""",
        {
            "id": record_id,
            "account": ACCOUNT_ID,
            "workspace": WORKSPACES[0],
            "sku": sku.name,
            "cloud": CLOUD,
            "start": start,
            "quantity": quantity,
            "type": record_type,
            "ingested": ingested,
            "product": sku.product,
            "serverless": sku.serverless,
            "usage_type": sku.usage_type,
        },
    )


def write_export(tables: SystemTables, period: date, dest: Path) -> Path:
    """The connector's export of ``period``: its page statement over every record, as JSON lines."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    records = tables.con.execute(f"SELECT count(*) FROM {CATALOG}.billing.usage").fetchall()[0][0]
    statement = statements.usage_with_prices(max(1, int(records)))
    tmp = dest.with_name(dest.name + ".tmp")
    tables.copy_json_lines(statement, statements.page_parameters(period, ""), tmp)
    tmp.replace(dest)
    return dest


def generate(directory: Path, rows: int) -> Path:
    """A month of ``rows`` generated records (and the special cases) as the connector writes it (the
    provider's ``SyntheticGenerator``); the file is kept when it exists (generated files are cached)."""
    dest = directory / f"databricks-usage-{SAMPLE_PERIOD:%Y-%m}-{rows}.jsonl"
    if dest.exists():
        return dest
    tables = SystemTables()
    try:
        fill_month(tables, SAMPLE_PERIOD, rows)
        return write_export(tables, SAMPLE_PERIOD, dest)
    finally:
        tables.close()


def sample(directory: Path) -> list[Path]:
    """The conformance sample: a month of 90 records and the special cases (a ``SampleWriter``)."""
    return [generate(directory, 90)]
