-- focus_money_product for BigQuery: the product and its rounding as focus_money(a * b) becomes
-- there (the mechanical rewrite of CAST(x AS DECIMAL(38, 12)) for an exact x, see README.md).
-- BigQuery's BIGNUMERIC product is exact and ROUND rounds halves away from zero; DuckDB's body
-- only avoids DuckDB's slow 128-bit division.
CREATE TEMP FUNCTION focus_money_product(a ANY TYPE, b ANY TYPE) AS (
    ROUND((a) * (b) + CAST('0' AS BIGNUMERIC), 12)
)
