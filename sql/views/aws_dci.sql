-- aws_dci: the seed's AWS billing table (DoiT Cloud Intelligence shape, sql/views/seed_columns.json)
-- over one org's FOCUS 1.3 table. One row per FOCUS row of the providers seed_views.csv lists for
-- aws_dci; query_svc creates it on a connection that holds that one org's FOCUS table only.
--
-- Money: cost = BilledCost (what the invoice bills for the row, AWS's net unblended cost), not
-- EffectiveCost (amortized): the seed's cost is the bill's. Credit lines (ChargeCategory Credit)
-- keep cost 0 and put their BilledCost in credit, as text (the seed types credit STRING), so
-- sum(cost) + sum(CAST(credit AS DOUBLE)) = sum(BilledCost), the invoice. Amortized cost stays
-- in the FOCUS table (EffectiveCost).
-- Labels: FOCUS Tags (a JSON object) split by key: AWS's own "aws:" keys (aws:createdBy) are
-- system_labels, every other key (user tags, cost categories) a label. FOCUS keeps no
-- account-level tags, so project_labels is empty.
-- cost_type = ChargeCategory (Usage, Purchase, Tax, Credit, Adjustment); project_number =
-- project_id (the seed: "same as project_id"); service_id = line_item_product_code.
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
    t.SubAccountId AS project_number,
    CAST([] AS STRUCT("key" VARCHAR, "value" VARCHAR)[]) AS project_labels,
    coalesce(list_filter(t.tag_entries, lambda e: NOT starts_with(e.key, 'aws:')),
             CAST([] AS STRUCT("key" VARCHAR, "value" VARCHAR)[])) AS labels,
    coalesce(list_filter(t.tag_entries, lambda e: starts_with(e.key, 'aws:')),
             CAST([] AS STRUCT("key" VARCHAR, "value" VARCHAR)[])) AS system_labels,
    t.RegionId AS region,
    t.AvailabilityZone AS zone,
    t.ChargeCategory AS cost_type,
    t.ResourceId AS resource_id,
    CAST(t.PricingQuantity AS DOUBLE) AS "usage.amount_in_pricing_units",
    CAST(t.ConsumedQuantity AS DOUBLE) AS usage,
    CASE WHEN t.ChargeCategory = 'Credit' THEN 0 ELSE CAST(t.BilledCost AS DOUBLE) END AS cost,
    CASE WHEN t.ChargeCategory = 'Credit' THEN CAST(CAST(t.BilledCost AS DOUBLE) AS VARCHAR) END AS credit
FROM (
    SELECT
        f.*,
        -- Tags as (key, value) pairs; a value that is not a string keeps its JSON text.
        map_entries(TRY_CAST(TRY_CAST(f.Tags AS JSON) AS MAP(VARCHAR, VARCHAR))) AS tag_entries
    FROM cost_data_standard_1_3 AS f
    WHERE f.x_source_provider IN (SELECT v.x_source_provider FROM ref_seed_views AS v WHERE v.view_name = 'aws_dci')
) AS t
