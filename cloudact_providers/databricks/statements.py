"""The statements the connector sends to the SQL warehouse, in Databricks SQL (no SDK here).

``usage_with_prices`` reads one page of a month of ``system.billing.usage`` with each record's list
price from ``system.billing.list_prices``; ``month_counts`` counts the records of a range of months.

The price of a record is the list price in force when the usage started: price rows are valid on
the HALF-OPEN interval ``[price_start_time, price_end_time)`` (an open end is the current price), so
a record starting exactly when a price changes takes the new price and never both. Databricks'
published FOCUS query joins on ``usage_end_time BETWEEN start AND coalesce(end, ...)``, closed at both
ends: a record ending on a change matches the old and the new price and is counted twice.

Every currency is kept: a record joins the price rows of its SKU, cloud and unit in whatever
``currency_code`` they are (the published query keeps USD only). ``price_matches`` counts the price
rows a record joined, so the raw step can set aside a record with none (no cost can be stated) or
with several (overlapping price rows, or one SKU priced in two currencies: counting it twice would
double its cost).

A month is read in pages of records, keyset by ``record_id`` (unique per record): the INLINE
disposition aborts a result larger than 25 MiB, so no statement may return a whole month of a large
account. Each page takes the next ``page_records`` usage records after ``:after_record_id`` and joins
their prices, so a record's price rows always come in the same page.

Parameters are named markers bound by the API (``:period_start``, typed DATE), never pasted in; the
page size is an integer the connector owns.
"""

from __future__ import annotations

from datetime import date
from typing import Final

COLUMNS: Final = (
    "record_id",
    "account_id",
    "workspace_id",
    "sku_name",
    "cloud",
    "usage_start_time",
    "usage_end_time",
    "usage_date",
    "custom_tags",
    "usage_unit",
    "usage_quantity",
    "usage_metadata",
    "identity_metadata",
    "record_type",
    "record_ingestion_date",
    "billing_origin_product",
    "product_features",
    "usage_type",
    "price_start_time",
    "price_end_time",
    "currency_code",
    "price_default",
    "price_promotional",
    "price_effective_list",
    "pricing",
    "price_matches",
)
"""The columns of a page, in order: the usage record's, then its price's (``ingestion_date`` is renamed:
the raw table's ``ingestion_date`` is the pipeline's partition)."""

_USAGE_WITH_PRICES = """
SELECT
    u.record_id, u.account_id, u.workspace_id, u.sku_name, u.cloud,
    u.usage_start_time, u.usage_end_time, u.usage_date, u.custom_tags, u.usage_unit, u.usage_quantity,
    u.usage_metadata, u.identity_metadata, u.record_type, u.ingestion_date AS record_ingestion_date,
    u.billing_origin_product, u.product_features, u.usage_type,
    p.price_start_time, p.price_end_time, p.currency_code,
    p.pricing.`default` AS price_default,
    p.pricing.promotional.`default` AS price_promotional,
    p.pricing.effective_list.`default` AS price_effective_list,
    p.pricing AS pricing,
    count(p.price_start_time) OVER (PARTITION BY u.record_id) AS price_matches
FROM (
    SELECT *
    FROM system.billing.usage
    WHERE usage_date >= :period_start AND usage_date < :period_end AND record_id > :after_record_id
    ORDER BY record_id
    LIMIT {page_records}
) AS u
LEFT JOIN system.billing.list_prices AS p
    ON p.sku_name = u.sku_name
    AND p.cloud = u.cloud
    AND p.usage_unit = u.usage_unit
    AND p.price_start_time <= u.usage_start_time
    AND (p.price_end_time IS NULL OR u.usage_start_time < p.price_end_time)
ORDER BY u.record_id, p.currency_code, p.price_start_time
"""

_MONTH_COUNTS = """
SELECT year(usage_date) AS usage_year, month(usage_date) AS usage_month, count(*) AS usage_records
FROM system.billing.usage
WHERE usage_date >= :period_start AND usage_date < :period_end
GROUP BY year(usage_date), month(usage_date)
"""

Parameter = dict[str, str | None]
"""One StatementParameterListItem as sent: ``{"name", "value", "type"}``."""


def next_month(period: date) -> date:
    """The first day of the month after ``period``'s."""
    return date(period.year + period.month // 12, period.month % 12 + 1, 1)


def usage_with_prices(page_records: int) -> str:
    """The page statement (see the module doc); ``page_records`` usage records at most."""
    if page_records < 1:
        raise ValueError("page_records must be at least 1")
    return _USAGE_WITH_PRICES.format(page_records=int(page_records))


def page_parameters(period: date, after_record_id: str) -> list[Parameter]:
    """The parameters of a page of ``period``'s month: the records after ``after_record_id`` ('' first)."""
    return [
        {"name": "period_start", "value": period.isoformat(), "type": "DATE"},
        {"name": "period_end", "value": next_month(period).isoformat(), "type": "DATE"},
        {"name": "after_record_id", "value": after_record_id, "type": "STRING"},
    ]


def month_counts() -> str:
    """The statement counting usage records per month of ``[:period_start, :period_end)``."""
    return _MONTH_COUNTS


def count_parameters(first: date, last: date) -> list[Parameter]:
    """The parameters counting the months from ``first``'s to ``last``'s, both included."""
    return [
        {"name": "period_start", "value": first.replace(day=1).isoformat(), "type": "DATE"},
        {"name": "period_end", "value": next_month(last).isoformat(), "type": "DATE"},
    ]
