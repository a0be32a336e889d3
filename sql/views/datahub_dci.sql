-- datahub_dci: the seed's DataHub table (an event-style shape: DoiT Cloud Intelligence,
-- sql/views/seed_columns.json) over the rows of the providers seed_views.csv lists for datahub_dci,
-- in one org's FOCUS 1.3 table; query_svc creates it on a connection that holds that one org's
-- FOCUS table only.
--
-- One event per FOCUS row. cloud = where the service ran (HostProviderName, else ServiceProviderName);
-- batch = the pipeline run that loaded it (x_run_id), source = the pipeline (x_pipeline_id);
-- usage_date_time = ChargePeriodStart in UTC without a zone (DATETIME); export_time =
-- x_ingested_at. The table carries no amounts in the seed; cost_type = ChargeCategory and
-- pricing_unit = PricingUnit are kept. event_id = x_source_record_id (the event's own id); FOCUS rows
-- carry no extra metric (an event's metrics stay in its raw table): metrics is null. Labels as in _saas_dci.sql: keys prefixed "<provider slug>:" are
-- system_labels, the others labels; project_labels empty (FOCUS keeps no sub-account tags).
SELECT
    t.x_source_record_id AS event_id,
    coalesce(t.HostProviderName, t.ServiceProviderName) AS cloud,
    t.BillingAccountId AS billing_account_id,
    t.ServiceName AS service_description,
    t.x_service_code AS service_id,
    coalesce(t.SkuMeter, t.ChargeDescription) AS sku_description,
    t.SkuId AS sku_id,
    t.x_operation AS operation,
    timezone('UTC', t.ChargePeriodStart) AS usage_date_time,
    t.x_ingested_at AS export_time,
    t.SubAccountId AS project_id,
    t.SubAccountName AS project_name,
    CAST(NULL AS VARCHAR) AS project_number,
    CAST([] AS STRUCT("key" VARCHAR, "value" VARCHAR)[]) AS project_labels,
    coalesce(list_filter(t.tag_entries, lambda e: NOT starts_with(e.key, t.x_source_provider || ':')),
             CAST([] AS STRUCT("key" VARCHAR, "value" VARCHAR)[])) AS labels,
    coalesce(list_filter(t.tag_entries, lambda e: starts_with(e.key, t.x_source_provider || ':')),
             CAST([] AS STRUCT("key" VARCHAR, "value" VARCHAR)[])) AS system_labels,
    CAST(NULL AS VARCHAR) AS country,
    t.RegionId AS region,
    t.AvailabilityZone AS zone,
    t.ResourceId AS resource_id,
    t.ResourceId AS resource_global_id,
    t.PricingUnit AS pricing_unit,
    t.ChargeCategory AS cost_type,
    coalesce(t.ServiceProviderName <> t.InvoiceIssuerName, false) AS is_marketplace,
    CAST(NULL AS STRUCT("key" VARCHAR, "value" DOUBLE)) AS metrics,
    t.x_pipeline_id AS source,
    t.x_run_id AS batch
FROM (
    SELECT
        f.*,
        -- Tags as (key, value) pairs; a value that is not a string keeps its JSON text.
        map_entries(TRY_CAST(TRY_CAST(f.Tags AS JSON) AS MAP(VARCHAR, VARCHAR))) AS tag_entries
    FROM cost_data_standard_1_3 AS f
    WHERE f.x_source_provider IN (SELECT v.x_source_provider FROM ref_seed_views AS v WHERE v.view_name = 'datahub_dci')
) AS t
