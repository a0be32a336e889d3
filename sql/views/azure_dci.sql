-- azure_dci: the seed's Azure billing table (DoiT Cloud Intelligence shape, sql/views/seed_columns.json)
-- over one org's FOCUS 1.3 table. One row per FOCUS row of the providers seed_views.csv lists for
-- azure_dci; query_svc creates it on a connection that holds that one org's FOCUS table only.
--
-- Money: report.cost = BilledCost (the invoiced cost: the actual-cost export's CostInBillingCurrency),
-- not EffectiveCost (amortized): the seed's report.cost is the bill's. Credit rows (ChargeCategory
-- Credit) keep report.cost 0 and put their BilledCost in report.credit, as text (the seed types it
-- STRING), so sum(report.cost) + sum(report.credit) = sum(BilledCost). report.usage =
-- ConsumedQuantity, usage.amount_in_pricing_units = PricingQuantity. The dotted names are column
-- names (quote them: "report.cost"), as in the seed's flat table.
-- Labels: every FOCUS Tags key is a label (Azure tags have no provider prefix); the one system
-- label is resourceType = ResourceType (the ARM type, Microsoft.Compute/virtualMachines), as in
-- the seed's example. FOCUS keeps no subscription-level tags: project_labels is empty.
-- project_id = subscription (SubAccountId); project_number: FOCUS keeps no number for it (null).
-- service_id = ConsumedService (x_service_code, e.g. microsoft.compute); operation = meter name
-- (x_operation); cost_type = ChargeCategory.
SELECT
    t.ServiceName AS service_description,
    t.x_service_code AS service_id,
    coalesce(t.SkuMeter, t.ChargeDescription) AS sku_description,
    t.SkuId AS sku_id,
    t.x_operation AS operation,
    t.ChargeDescription AS description,
    t.ChargePeriodStart AS usage_start_time,
    t.ChargePeriodEnd AS usage_end_time,
    t.SubAccountId AS project_id,
    t.SubAccountName AS project_name,
    CAST(NULL AS VARCHAR) AS project_number,
    CAST([] AS STRUCT("key" VARCHAR, "value" VARCHAR)[]) AS project_labels,
    coalesce(t.tag_entries, CAST([] AS STRUCT("key" VARCHAR, "value" VARCHAR)[])) AS labels,
    CASE WHEN t.ResourceType IS NOT NULL
         THEN [{'key': 'resourceType', 'value': t.ResourceType}]
         ELSE CAST([] AS STRUCT("key" VARCHAR, "value" VARCHAR)[]) END AS system_labels,
    t.RegionId AS region,
    t.AvailabilityZone AS zone,
    t.ChargeCategory AS cost_type,
    t.ResourceId AS resource_id,
    CAST(t.PricingQuantity AS DOUBLE) AS "usage.amount_in_pricing_units",
    CAST(t.ConsumedQuantity AS DOUBLE) AS "report.usage",
    CASE WHEN t.ChargeCategory = 'Credit' THEN 0 ELSE CAST(t.BilledCost AS DOUBLE) END AS "report.cost",
    CASE WHEN t.ChargeCategory = 'Credit' THEN CAST(CAST(t.BilledCost AS DOUBLE) AS VARCHAR) END AS "report.credit"
FROM (
    SELECT
        f.*,
        -- Tags as (key, value) pairs; a value that is not a string keeps its JSON text.
        map_entries(TRY_CAST(TRY_CAST(f.Tags AS JSON) AS MAP(VARCHAR, VARCHAR))) AS tag_entries
    FROM cost_data_standard_1_3 AS f
    WHERE f.x_source_provider IN (SELECT v.x_source_provider FROM ref_seed_views AS v WHERE v.view_name = 'azure_dci')
) AS t
