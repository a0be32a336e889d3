-- focus_tags for BigQuery: a MAP column is a REPEATED RECORD<key, value> there (what DuckDB's
-- map_entries yields), and a missing map an empty array (a REPEATED field is never NULL). DuckDB's
-- to_json(map_concat(a, b)) is one JSON object, b's value winning for a key in both: here the
-- object is written from the entries of a whose key b lacks, then those of b. Tag maps are
-- MAP<STRING, STRING>: the empty array is typed so, as a mapping may pass a bare NULL.
CREATE TEMP FUNCTION focus_tags(tags ANY TYPE, more_tags ANY TYPE) AS (
    CASE
        WHEN COALESCE(ARRAY_LENGTH(tags), 0) + COALESCE(ARRAY_LENGTH(more_tags), 0) = 0 THEN NULL
        ELSE CONCAT('{', ARRAY_TO_STRING(ARRAY_CONCAT(
            ARRAY(
                SELECT CONCAT(TO_JSON_STRING(tag.key), ':', TO_JSON_STRING(tag.value))
                FROM UNNEST(COALESCE(tags, ARRAY<STRUCT<key STRING, value STRING>>[])) AS tag
                WHERE tag.key NOT IN (SELECT more_tag.key FROM UNNEST(COALESCE(more_tags, ARRAY<STRUCT<key STRING, value STRING>>[])) AS more_tag)
            ),
            ARRAY(
                SELECT CONCAT(TO_JSON_STRING(more_tag.key), ':', TO_JSON_STRING(more_tag.value))
                FROM UNNEST(COALESCE(more_tags, ARRAY<STRUCT<key STRING, value STRING>>[])) AS more_tag
            )), ','), '}')
    END
)
