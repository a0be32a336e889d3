"""Tiny ledger files -> one DuckDB SELECT of raw-table rows (the throwaway's ``RawSelectBuilder``).

A tiny ledger is semicolon-separated text with a header, one line per charge::

    day;service;amount;currency;account
    2025-01-03;compute;12.50;EUR;acct-1

A day or an amount that does not parse quarantines its line, with the value in the reason.
"""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path

import duckdb

from cloudact_providers.fileerrors import read_error
from cloudact_providers.sqltext import SourceColumn, finish_raw_select, pipeline_columns, sql_ident, sql_literal
from cloudact_shared.errors import FailedPrecondition
from cloudact_shared.storage import read_schema
from tests.contract.throwaway_provider import SPEC

COLUMNS = ("day", "service", "amount", "currency", "account")
"""The columns of a tiny ledger, all required."""


def build_raw_select(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    *,
    source_object: str,
    row_numbers: bool = True,
    reasons: bool = True,
    read_columns: Collection[str] | None = None,
    optimistic: bool = False,
) -> str:
    """The SELECT of ``cloud_throwaway_billing_raw_daily`` rows of one ledger (see ``RawSelectBuilder``).

    Its reasons are cheap (two values): it gives them whether ``reasons`` asks or not, and it checks
    both values whatever ``read_columns`` names (the protocol allows checking more), and reads every
    file the same way whatever ``optimistic`` asks.

    Raises:
        FailedPrecondition: the file is empty, unreadable, or lacks a ledger column.
    """
    table = f"read_csv({sql_literal(str(path))}, delim = ';', header = true, all_varchar = true)"
    if path.stat().st_size == 0:
        raise FailedPrecondition(f"{source_object}: the file is empty", reason="NOT_A_LEDGER")
    try:
        names = {row[0] for row in con.execute(f"DESCRIBE SELECT * FROM {table}").fetchall()}
    except duckdb.Error as exc:
        reason = read_error(exc, path, source_object)
        raise FailedPrecondition(f"{source_object}: cannot be read: {reason}", reason="NOT_A_LEDGER") from None
    if missing := [c for c in COLUMNS if c not in names]:
        raise FailedPrecondition(f"{source_object}: not a tiny ledger, missing {missing}", reason="NOT_A_LEDGER")
    sources = [SourceColumn(name, "VARCHAR", f'"s#{i}"') for i, name in enumerate(COLUMNS)]
    day, service, amount, currency, account = (s.alias for s in sources)
    inner = ", ".join(f"{sql_ident(s.name)} AS {s.alias}" for s in sources)
    parsed = (
        f"SELECT *, TRY_CAST({day} AS DATE) AS p_day, TRY_CAST({amount} AS DECIMAL(18, 6)) AS p_amount "
        f"FROM (SELECT {inner} FROM {table})"
    )
    outputs = {
        "billing_period": "CAST(date_trunc('month', p_day) AS DATE)",
        "usage_date": "p_day",
        "account_id": account,
        "service": service,
        "amount": "p_amount",
        "currency": f"upper({currency})",
        "source_object": sql_literal(source_object),
        **pipeline_columns(),
    }
    reason = (
        f"CASE WHEN p_day IS NULL THEN 'unparsable day: ''' || coalesce({day}, '') || '''' "
        f"WHEN p_amount IS NULL THEN 'unparsable amount: ''' || coalesce({amount}, '') || '''' END"
    )
    return finish_raw_select(
        parsed,
        outputs,
        read_schema(SPEC.raw_schema_path).column_names,
        reason=reason,
        sources=[(s.name, s.alias, s.text) for s in sources],
        row_number="row_number() OVER ()" if row_numbers else "CAST(NULL AS BIGINT)",
        map_columns=(),
    )
