-- focus_unit_words for BigQuery: DuckDB maps the words with list_transform and a lambda; BigQuery
-- has no lambdas, so an ARRAY subquery over the words, kept in their order.
CREATE TEMP FUNCTION focus_unit_words(s ANY TYPE) AS (
    ARRAY_TO_STRING(ARRAY(
        SELECT focus_unit_word(unit_word)
        FROM UNNEST(REGEXP_EXTRACT_ALL(s, r'[^ /-]+|[ /-]')) AS unit_word WITH OFFSET AS unit_word_at
        ORDER BY unit_word_at
    ), '')
)
