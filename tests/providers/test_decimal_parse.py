"""``parse_decimal`` (narrow 64-bit parse, wide fallback) gives exactly ``TRY_CAST(text AS DECIMAL(38,12))``."""

from __future__ import annotations

import duckdb
import pytest
from sqlglot import exp

from cloudact_providers.rawselect.sql import col, render, select, try_cast
from cloudact_providers.rawselect.values import parse_decimal

# Texts at the edges of the narrow parse: its integer-digit limit, rounding at the scale, signs,
# blanks, exponents (DuckDB's decimal cast refuses them: both parses must), and not-numbers.
EDGES = [
    "0", "-0", "+1", "1.", ".5", "-.5", "007", "999999", "999999.999999999999", "999999.9999999999995",
    "1000000", "-999999.9999999999995", "1234567.89", "123456789012345678901234.5", "0.0000000000005",
    "0.0000000000004999", "-0.0000000000005", "12.3456789012345", "1e3", "5.64902E-05", " 12.5 ", "1,5",
    "abc", "", "1.2.3", "--1", "NaN", "inf", "99999999999999999999999999.999999999999",
    "999999999999999999999999999", "0.123456789012345678901234567890",
]  # fmt: skip


def _compare(con: duckdb.DuckDBPyConnection, table: str, duck_type: str) -> list[tuple[str, object, object]]:
    fast = parse_decimal(col("v"), duck_type)
    plain = try_cast(col("v"), duck_type)
    query = select(col("v"), fast.as_("fast"), plain.as_("plain"), source=exp.to_table(table))
    rows = con.execute(render(query)).fetchall()
    return [(v, a, b) for v, a, b in rows if a != b or type(a) is not type(b)]


@pytest.mark.parametrize("duck_type", ["DECIMAL(38,12)", "DECIMAL(38,2)", "DECIMAL(38,17)"])
def test_edges_parse_as_the_wide_cast_does(duck_type: str) -> None:
    con = duckdb.connect()
    con.execute("CREATE TABLE edges (v VARCHAR)")
    con.executemany("INSERT INTO edges VALUES (?)", [[v] for v in EDGES])
    assert _compare(con, "edges", duck_type) == []


def test_random_amounts_parse_as_the_wide_cast_does() -> None:
    """200k texts of 1 to 30 digits with a point anywhere and an optional sign: none differs."""
    con = duckdb.connect()
    con.execute(
        """
        CREATE TABLE amounts AS
        WITH digits AS (
            SELECT i, (random() * 1e15)::BIGINT::VARCHAR || (random() * 1e15)::BIGINT::VARCHAR AS d,
                   1 + (random() * 29)::INT AS n, (random() * 31)::INT AS point, random() < 0.3 AS negative
            FROM range(200000) t(i)
        )
        SELECT CASE WHEN negative THEN '-' ELSE '' END
               || CASE WHEN point = 0 OR point >= n THEN left(d, n)
                       ELSE left(d, point) || '.' || substr(d, point + 1, n - point) END AS v
        FROM digits
        """
    )
    assert _compare(con, "amounts", "DECIMAL(38,12)") == []
    # The narrow parse really answers most of them (else this test proves nothing about it).
    narrow = con.execute("SELECT count(TRY_CAST(v AS DECIMAL(18,12))) FROM amounts").fetchone()
    assert narrow is not None and narrow[0] > 50_000


def test_a_narrow_type_is_cast_plainly() -> None:
    assert render(parse_decimal(col("v"), "DECIMAL(18,6)")) == render(try_cast(col("v"), "DECIMAL(18,6)"))
