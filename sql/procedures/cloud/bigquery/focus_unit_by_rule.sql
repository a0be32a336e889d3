-- focus_unit_by_rule for BigQuery: DuckDB computes the derived unit once and tests it with a lambda
-- over a one-element list; BigQuery has no lambdas, so a scalar subquery over a one-row derived
-- table (the derived unit, inlined, is long: written once, not three times).
CREATE TEMP FUNCTION focus_unit_by_rule(u ANY TYPE) AS (
    CASE
        WHEN u IS NULL THEN NULL
        WHEN focus_unit_conforms(u) THEN u
        ELSE COALESCE(
            (SELECT IF(focus_unit_conforms(derived_unit), derived_unit, NULL)
             FROM (SELECT focus_unit_shape(focus_unit_words(focus_unit_spaced(u))) AS derived_unit)),
            u)
    END
)
