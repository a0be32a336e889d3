"""Rewrites of focus_svc/bigquery_sql.py, expression by expression: the DuckDB query runs on DuckDB,
its BigQuery form on bqemulator, over the same rows, and the answers must be equal to the last digit.

The provider-level comparison (test_bigquery_conversion.py) shows the whole mappings agree; these
pin the two rewrites whose mistakes are silent there: decimal casts (exact, never via bqemulator's
5-place BIGNUMERIC cast) and regexp_extract with a group (sqlglot drops the group argument).
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import duckdb
import pyarrow as pa
import pytest
import sqlglot
from google.cloud import bigquery

from cloudact_cli.bigquery_emulator import bigquery_emulator, bqemulator_available
from focus_svc import bigquery_sql
from tests.focus_svc.bigquery_tables import load_rows

DATASET = "dialect"
SCHEMA = {"amount": "DECIMAL(38,12)", "tokens": "BIGINT", "price": "VARCHAR", "line_item": "VARCHAR"}
ROWS = [
    (Decimal("1234567.123456789012"), 1_960_999, "0.000002500001", "gpt-4o-2024-08-06, cached input"),
    (Decimal("-0.000000000001"), 7, "12.5", "web search tool calls"),
    (None, None, None, None),
]
# A DuckDB expression over the columns above, each a case of the rewrites.
EXPRESSIONS = {
    "money": "CAST(amount AS DECIMAL(38, 12))",
    "money of a product": "CAST(amount * CAST(tokens AS DECIMAL(38, 12)) AS DECIMAL(38, 12))",
    "a sum of integers": "CAST(coalesce(tokens, 0) + 1 AS DECIMAL(38, 12))",
    "a small literal": "CAST(tokens * CAST(0.000001 AS DECIMAL(7, 6)) AS DECIMAL(38, 12))",
    "a bare literal": "CAST(amount * 0.5 AS DECIMAL(38, 12))",
    "rounded to 6": "CAST(amount AS DECIMAL(18, 6))",
    "text": "CAST(price AS DECIMAL(38, 12))",
    "group 1": "regexp_extract(line_item, '^(.*), ([^,]*)$', 1)",
    "group 2": "regexp_extract(line_item, '^(.*), ([^,]*)$', 2)",
    "whole match": "regexp_extract(line_item, '[0-9]+')",
    "no match": "regexp_extract(line_item, 'zzz(q)', 1)",
}


@pytest.fixture(autouse=True, scope="module")
def _bqemulator_installed() -> None:
    assert bqemulator_available(), "bqemulator is not installed: run `make install` (it builds .venv-bqemulator)"


@pytest.fixture(scope="module")
def bq() -> Iterator[bigquery.Client]:
    with bigquery_emulator() as emulator:
        client = emulator.client()
        client.create_dataset(DATASET)
        client.query(
            f"CREATE TABLE `{emulator.project}.{DATASET}.t` "
            "(amount BIGNUMERIC(38, 12), tokens INT64, price STRING, line_item STRING)"
        ).result()
        columns = list(zip(*ROWS, strict=True))
        arrow = pa.table(
            {
                "amount": pa.array(columns[0], pa.decimal128(38, 12)),
                "tokens": pa.array(columns[1], pa.int64()),
                "price": pa.array(columns[2], pa.string()),
                "line_item": pa.array(columns[3], pa.string()),
            }
        )
        # A load job, as the store writes: an INSERT of literals would go through bqemulator's casts.
        load_rows(client, DATASET, "t", arrow)
        yield client


def _on_duckdb(expression: str) -> list[Any]:
    con = duckdb.connect()
    con.execute("CREATE TABLE t (amount DECIMAL(38, 12), tokens BIGINT, price VARCHAR, line_item VARCHAR)")
    con.executemany("INSERT INTO t VALUES (?, ?, ?, ?)", ROWS)
    return [row[0] for row in con.execute(f"SELECT {expression} AS v FROM t ORDER BY tokens NULLS LAST").fetchall()]


def _on_bigquery(bq: bigquery.Client, expression: str) -> list[Any]:
    tree = bigquery_sql.translate(f"SELECT {expression} AS v FROM t ORDER BY tokens NULLS LAST", {"t": SCHEMA})
    sql = tree.sql(dialect="bigquery", unsupported_level=sqlglot.ErrorLevel.RAISE)
    sql = sql.replace(" FROM t ", f" FROM `{bq.project}.{DATASET}.t` ")
    return [row["v"] for row in bq.query(sql).result()]


@pytest.mark.parametrize("case", sorted(EXPRESSIONS))
def test_bigquery_form_answers_as_duckdb(case: str, bq: bigquery.Client) -> None:
    expected = _on_duckdb(EXPRESSIONS[case])
    got = _on_bigquery(bq, EXPRESSIONS[case])
    if case == "text":
        # Text has no exact BigQuery form but a CAST, which bqemulator runs at 5 places (real
        # BigQuery: 38); the 12-place ROUND is asserted on the SQL (test_exact_operands_are_not_cast).
        expected = [None if v is None else v.quantize(Decimal("0.00001")) for v in expected]
    # Equal values (a Decimal's trailing zeros are its type's scale, not its value).
    assert got == expected, f"{case}: BigQuery {got} != DuckDB {expected}"


def test_exact_operands_are_not_cast() -> None:
    """A DECIMAL or integer operand is summed with a typed zero, never CAST (bqemulator's CAST to
    BIGNUMERIC keeps 5 places); text still is, and a decimal literal is parsed exactly."""
    sql = bigquery_sql.translate(
        "SELECT CAST(amount AS DECIMAL(38, 12)) AS a, CAST(tokens AS DECIMAL(38, 12)) AS b, "
        "CAST(price AS DECIMAL(38, 12)) AS c, CAST(0.000001 AS DECIMAL(7, 6)) AS d FROM t",
        {"t": SCHEMA},
    ).sql("bigquery")
    assert "ROUND((amount) + CAST('0' AS BIGNUMERIC), 12) AS a" in sql
    assert "ROUND((tokens) + CAST('0' AS BIGNUMERIC), 12) AS b" in sql
    assert "ROUND(CAST(price AS BIGNUMERIC), 12) AS c" in sql
    assert "PARSE_NUMERIC('0.000001') AS d" in sql


@pytest.mark.parametrize(
    ("pattern", "group", "expected"),
    [
        ("^(.*), ([^,]*)$", 1, "^(.*), (?:[^,]*)$"),
        ("^(.*), ([^,]*)$", 2, "^(?:.*), ([^,]*)$"),
        ("^(.*), ([^,]*)$", 0, "^(?:.*), (?:[^,]*)$"),
        (r"[(]a(b)\(c\)", 1, r"[(]a(b)\(c\)"),
        ("[]()](x)(?:y)", 1, "[]()](x)(?:y)"),
    ],
)
def test_only_the_extracted_group_captures(pattern: str, group: int, expected: str) -> None:
    assert bigquery_sql._only_group(pattern, group) == expected


def test_regexp_extract_of_a_missing_group_is_refused() -> None:
    with pytest.raises(ValueError, match="group 3"):
        bigquery_sql._only_group("(a)(b)", 3)
