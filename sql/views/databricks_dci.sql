-- databricks_dci: the seed's databricks_dci table (the shape it shares with the other SaaS platforms, defined
-- once in _saas_dci.sql: read the mapping there) over the rows of the providers seed_views.csv lists
-- for databricks_dci, in one org's FOCUS 1.3 table.
SELECT s.* EXCLUDE (x_source_provider)
FROM _saas_dci AS s
WHERE s.x_source_provider IN (SELECT v.x_source_provider FROM ref_seed_views AS v WHERE v.view_name = 'databricks_dci')
