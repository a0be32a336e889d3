-- focus_unit_word for BigQuery: the DuckDB macro looks the word up in a MAP literal (BigQuery has no
-- MAP: here a CASE over the same entries; tests/focus_svc/test_bigquery_conversion.py checks they
-- are the same) and reads characters with string subscripts w[1], w[2:] (sqlglot reads those as
-- array subscripts: here SUBSTR).
CREATE TEMP FUNCTION focus_unit_word(w ANY TYPE) AS (
    CASE
        WHEN w IN ('b', 'Kb', 'Mb', 'Gb', 'Tb', 'Pb', 'Eb', 'B', 'KB', 'MB', 'GB', 'TB', 'PB', 'EB',
                   'Kib', 'Mib', 'Gib', 'Tib', 'Pib', 'Eib', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB', 'EiB') THEN w
        WHEN REGEXP_CONTAINS(w, r'^(?:[kmgtpe]i?bs?|[KMGTPE]i?Bs)$')
            THEN CONCAT(UPPER(SUBSTR(w, 1, 1)), IF(SUBSTR(w, 2, 1) = 'i', 'i', ''), 'B')
        ELSE COALESCE(CASE LOWER(w)
            WHEN 'year' THEN 'Year' WHEN 'years' THEN 'Year' WHEN 'yr' THEN 'Year' WHEN 'yrs' THEN 'Year'
            WHEN 'month' THEN 'Month' WHEN 'months' THEN 'Month' WHEN 'mo' THEN 'Month' WHEN 'mos' THEN 'Month'
            WHEN 'day' THEN 'Day' WHEN 'days' THEN 'Day' WHEN 'hour' THEN 'Hour' WHEN 'hours' THEN 'Hour'
            WHEN 'hr' THEN 'Hour' WHEN 'hrs' THEN 'Hour' WHEN 'minute' THEN 'Minute' WHEN 'minutes' THEN 'Minute'
            WHEN 'min' THEN 'Minute' WHEN 'mins' THEN 'Minute' WHEN 'second' THEN 'Second' WHEN 'seconds' THEN 'Second'
            WHEN 'sec' THEN 'Second' WHEN 'secs' THEN 'Second' WHEN 'count' THEN 'Count' WHEN 'counts' THEN 'Count'
            WHEN 'unit' THEN 'Unit' WHEN 'units' THEN 'Unit' WHEN 'request' THEN 'Request' WHEN 'requests' THEN 'Request'
            WHEN 'token' THEN 'Token' WHEN 'tokens' THEN 'Token' WHEN 'connection' THEN 'Connection' WHEN 'connections' THEN 'Connection'
            WHEN 'certificate' THEN 'Certificate' WHEN 'certificates' THEN 'Certificate' WHEN 'domain' THEN 'Domain' WHEN 'domains' THEN 'Domain'
            WHEN 'core' THEN 'Core' WHEN 'cores' THEN 'Core' WHEN 'bit' THEN 'b' WHEN 'bits' THEN 'b'
            WHEN 'byte' THEN 'B' WHEN 'bytes' THEN 'B' WHEN 'kilobit' THEN 'Kb' WHEN 'kilobits' THEN 'Kb'
            WHEN 'kilobyte' THEN 'KB' WHEN 'kilobytes' THEN 'KB' WHEN 'megabit' THEN 'Mb' WHEN 'megabits' THEN 'Mb'
            WHEN 'megabyte' THEN 'MB' WHEN 'megabytes' THEN 'MB' WHEN 'gigabit' THEN 'Gb' WHEN 'gigabits' THEN 'Gb'
            WHEN 'gigabyte' THEN 'GB' WHEN 'gigabytes' THEN 'GB' WHEN 'terabit' THEN 'Tb' WHEN 'terabits' THEN 'Tb'
            WHEN 'terabyte' THEN 'TB' WHEN 'terabytes' THEN 'TB' WHEN 'petabit' THEN 'Pb' WHEN 'petabits' THEN 'Pb'
            WHEN 'petabyte' THEN 'PB' WHEN 'petabytes' THEN 'PB' WHEN 'exabit' THEN 'Eb' WHEN 'exabits' THEN 'Eb'
            WHEN 'exabyte' THEN 'EB' WHEN 'exabytes' THEN 'EB' WHEN 'kibibit' THEN 'Kib' WHEN 'kibibits' THEN 'Kib'
            WHEN 'kibibyte' THEN 'KiB' WHEN 'kibibytes' THEN 'KiB' WHEN 'mebibit' THEN 'Mib' WHEN 'mebibits' THEN 'Mib'
            WHEN 'mebibyte' THEN 'MiB' WHEN 'mebibytes' THEN 'MiB' WHEN 'gibibit' THEN 'Gib' WHEN 'gibibits' THEN 'Gib'
            WHEN 'gibibyte' THEN 'GiB' WHEN 'gibibytes' THEN 'GiB' WHEN 'tebibit' THEN 'Tib' WHEN 'tebibits' THEN 'Tib'
            WHEN 'tebibyte' THEN 'TiB' WHEN 'tebibytes' THEN 'TiB' WHEN 'pebibit' THEN 'Pib' WHEN 'pebibits' THEN 'Pib'
            WHEN 'pebibyte' THEN 'PiB' WHEN 'pebibytes' THEN 'PiB' WHEN 'exbibit' THEN 'Eib' WHEN 'exbibits' THEN 'Eib'
            WHEN 'exbibyte' THEN 'EiB' WHEN 'exbibytes' THEN 'EiB'
        END,
            -- Any other noun is a count unit: capitalized when the provider wrote it all in lower case.
            IF(REGEXP_CONTAINS(w, r'^[a-z][a-z0-9]*$'), CONCAT(UPPER(SUBSTR(w, 1, 1)), SUBSTR(w, 2)), w))
    END
)
