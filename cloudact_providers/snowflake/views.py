"""The Snowflake views the connector reads, its SQL, and how a row's values become the export's text (no SDK here).

Two sources of an organization's cost:

- ``SNOWFLAKE.BILLING.FOCUS_COST_USAGE_V1_3``, Snowflake's FOCUS 1.3 view: one row per daily charge
  per account, service and charge type. A Preview with history from 2026-01-01 only, readable by a
  role granted the ``SNOWFLAKE.ORGANIZATION_BILLING_VIEWER`` database role. Its columns have mixed
  case names, so they are quoted (``"BillingPeriodStart"``): unquoted, Snowflake would look for
  ``BILLINGPERIODSTART``.
- ``SNOWFLAKE.ORGANIZATION_USAGE.USAGE_IN_CURRENCY_DAILY``: the usage in currency per day, account,
  usage type (and, in the current layout, service, rating and billing type and balance source),
  joined to the day's contracted rate from ``RATE_SHEET_DAILY``. Its history goes back to 2020, so
  it serves months before 2026, and every month when the role cannot read the FOCUS view.

Rates join per (day, account locator, usage type, currency): columns the legacy layout of both views
has too, so an organization still on it is read the same way (``SELECT u.*`` keeps whatever columns
its view has). The rates are aggregated to one row per key first, so a usage row never multiplies:
a key with several different rates gets none (``RATE_SHEET_RATES`` tells how many there were).

Both month queries bind the month's bounds as parameters (the connector's pyformat binding quotes
them); nothing is pasted into the SQL.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from decimal import Decimal
from typing import Final

FOCUS_VIEW: Final = "SNOWFLAKE.BILLING.FOCUS_COST_USAGE_V1_3"
USAGE_VIEW: Final = "SNOWFLAKE.ORGANIZATION_USAGE.USAGE_IN_CURRENCY_DAILY"
RATES_VIEW: Final = "SNOWFLAKE.ORGANIZATION_USAGE.RATE_SHEET_DAILY"
FOCUS_HISTORY_START: Final = date(2026, 1, 1)
"""The first month the FOCUS view holds."""

PROBE_FOCUS: Final = f"SELECT 1 FROM {FOCUS_VIEW} LIMIT 1"
"""Whether the role may read the FOCUS view (Snowflake answers 002003 when it may not, or it is absent)."""

FOCUS_COUNTS: Final = f"""
SELECT YEAR("BillingPeriodStart") AS PERIOD_YEAR, MONTH("BillingPeriodStart") AS PERIOD_MONTH, COUNT(*) AS ROW_COUNT
FROM {FOCUS_VIEW}
WHERE "BillingPeriodStart" >= %(start)s AND "BillingPeriodStart" < %(end)s
GROUP BY YEAR("BillingPeriodStart"), MONTH("BillingPeriodStart")
"""

USAGE_COUNTS: Final = f"""
SELECT YEAR(USAGE_DATE) AS PERIOD_YEAR, MONTH(USAGE_DATE) AS PERIOD_MONTH, COUNT(*) AS ROW_COUNT
FROM {USAGE_VIEW}
WHERE USAGE_DATE >= %(start)s AND USAGE_DATE < %(end)s
GROUP BY YEAR(USAGE_DATE), MONTH(USAGE_DATE)
"""

FOCUS_MONTH: Final = f"""
SELECT *
FROM {FOCUS_VIEW}
WHERE "BillingPeriodStart" >= %(start)s AND "BillingPeriodStart" < %(end)s
ORDER BY "ChargePeriodStart", "SubAccountId", "ServiceName", "ChargeDescription", "ChargeCategory"
"""
"""A billing month of the FOCUS view, every column (one Snowflake adds lands in ``extra_columns``)."""

USAGE_MONTH: Final = f"""
SELECT u.*, r.EFFECTIVE_RATE AS RATE_SHEET_EFFECTIVE_RATE, r.RATES AS RATE_SHEET_RATES
FROM {USAGE_VIEW} AS u
LEFT JOIN (
    SELECT DATE, ACCOUNT_LOCATOR, USAGE_TYPE, CURRENCY,
           CASE WHEN MIN(EFFECTIVE_RATE) = MAX(EFFECTIVE_RATE) THEN MIN(EFFECTIVE_RATE) END AS EFFECTIVE_RATE,
           COUNT(*) AS RATES
    FROM {RATES_VIEW}
    WHERE DATE >= %(start)s AND DATE < %(end)s
    GROUP BY DATE, ACCOUNT_LOCATOR, USAGE_TYPE, CURRENCY
) AS r
    ON r.DATE = u.USAGE_DATE
    AND r.ACCOUNT_LOCATOR = u.ACCOUNT_LOCATOR
    AND r.USAGE_TYPE = u.USAGE_TYPE
    AND r.CURRENCY = u.CURRENCY
WHERE u.USAGE_DATE >= %(start)s AND u.USAGE_DATE < %(end)s
ORDER BY u.USAGE_DATE, u.ACCOUNT_LOCATOR, u.USAGE_TYPE
"""
"""A month of usage in currency (by usage date, UTC), each row with its day's contracted rate."""


def next_month(period: date) -> date:
    """The first day of the month after ``period``'s."""
    return date(period.year + period.month // 12, period.month % 12 + 1, 1)


def month_bounds(first: date, last: date) -> dict[str, date]:
    """The query parameters covering the months from ``first``'s to ``last``'s, both included."""
    return {"start": first.replace(day=1), "end": next_month(last)}


def text_of(value: object) -> str | None:
    """A value as the Python connector returns it, as the export's text: decimals exact and in plain
    notation, timestamps ISO 8601 with their offset, dates ISO, booleans ``true`` / ``false``; VARIANT
    and OBJECT values already come as JSON text."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, str | int):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, bytes):
        return value.hex()
    return json.dumps(value, default=str, separators=(",", ":"))
