"""``focus_money_product(a, b)`` is ``CAST(a * b AS DECIMAL(38, 12))``, value for value.

The macro rounds the exact product without DuckDB's 128-bit division: a DOUBLE guess, checked with
exact subtraction and moved by one unit of the 12th place, else the CAST itself. These cases reach
every branch (the test counts them, so a branch left untested fails it): random prices and
quantities of every scale, sign and size; exact halves of the 12th place, positive and negative;
products too large for the DOUBLE to come within a unit; zeros and NULLs.
"""

from __future__ import annotations

import duckdb
import pytest

from focus_svc import conversion

_CASES = """
CREATE TABLE cases AS
WITH draws AS (
    SELECT
        random() AS r1, random() AS r2, random() AS r3, random() AS r4,
        (floor(random() * 13))::INTEGER AS s1, (floor(random() * 13))::INTEGER AS s2,
        (floor(random() * 13) - 6)::INTEGER AS e1, (floor(random() * 11) - 5)::INTEGER AS e2
    FROM range(300000)
),
random_pairs AS (
    SELECT
        CAST(round((r1 - 0.5) * pow(10, e1), s1) AS DECIMAL(38, 12)) AS a,
        CAST(round((r2 - 0.5) * pow(10, e2), s2) AS DECIMAL(38, 12)) AS b
    FROM draws
),
halves AS (  -- k units of the 12th place times a half: the product ends in 5 at the 13th
    SELECT CAST(k * 0.000000000001 AS DECIMAL(38, 12)) AS a, CAST(h AS DECIMAL(38, 12)) AS b
    FROM range(1, 2001) AS t(k), (VALUES (0.5), (-0.5), (1.5), (-1.5), (2.5), (-2.5), (0.25), (-0.75)) AS v(h)
),
fine_halves AS (  -- two 6-place factors whose product has 13 places, last digit 5
    SELECT CAST(k * 0.000001 AS DECIMAL(38, 12)) AS a, CAST(s * 0.0000005 AS DECIMAL(38, 12)) AS b
    FROM range(1, 501) AS t(k), (VALUES (1), (-1), (3), (-7)) AS v(s)
),
large AS (  -- ~1e13: the DOUBLE is off by far more than a unit of the 12th place
    SELECT CAST(9999991.123456789012 - k AS DECIMAL(38, 12)) AS a, CAST(999983.987654321098 + k AS DECIMAL(38, 12)) AS b
    FROM range(200) AS t(k)
),
edges(a, b) AS (
    VALUES (NULL::DECIMAL(38, 12), 1.0::DECIMAL(38, 12)), (1.0, NULL), (0.0, 123.456), (-0.000000000001, 0.5),
           (0.000000000001, 0.4999999999999), (0.000000000001, 0.5000000000001)
)
SELECT 'random' AS kind, * FROM random_pairs UNION ALL SELECT 'half', * FROM halves
UNION ALL SELECT 'half', * FROM fine_halves UNION ALL SELECT 'large', * FROM large UNION ALL SELECT 'edge', * FROM edges
"""
_GUESS = "TRY_CAST(CAST(a AS DOUBLE) * CAST(b AS DOUBLE) AS DECIMAL(38, 12))"


@pytest.fixture(scope="module")
def con() -> duckdb.DuckDBPyConnection:
    connection = duckdb.connect()
    conversion.prepare(connection, [])
    connection.execute("SELECT setseed(0.25)")
    connection.execute(_CASES)
    return connection


def test_the_product_is_the_cast_of_the_exact_product_on_every_case(con: duckdb.DuckDBPyConnection) -> None:
    differing = con.execute(
        "SELECT a, b, focus_money_product(a, b), CAST(a * b AS DECIMAL(38, 12)) FROM cases "
        "WHERE focus_money_product(a, b) IS DISTINCT FROM CAST(a * b AS DECIMAL(38, 12)) LIMIT 5"
    ).fetchall()
    assert differing == []


def test_the_cases_reach_every_branch(con: duckdb.DuckDBPyConnection) -> None:
    """How far the guess is from the exact product, in units of the 12th place: each branch is hit."""
    counts = dict(
        con.execute(
            f"""
            SELECT CASE
                WHEN a * b IS NULL THEN 'null'
                WHEN {_GUESS} IS NULL THEN 'no guess'
                WHEN abs(a * b - {_GUESS}) < 0.0000000000005 THEN 'guess'
                WHEN abs(a * b - {_GUESS}) <= 0.0000000000015 THEN 'one unit off'
                ELSE 'cast' END AS branch, count(*)
            FROM cases GROUP BY branch
            """
        ).fetchall()
    )
    assert set(counts) >= {"null", "guess", "one unit off", "cast"}
    halves = con.execute(
        "SELECT count(*) FILTER (WHERE a * b > 0), count(*) FILTER (WHERE a * b < 0) FROM cases "
        "WHERE kind = 'half' AND abs((a * b) * 2000000000000) % 2 = 1"
    ).fetchone()
    assert halves is not None and halves[0] > 1000 and halves[1] > 1000
