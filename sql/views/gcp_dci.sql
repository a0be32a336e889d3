-- gcp_dci: the seed's Google Cloud billing table (DoiT Cloud Intelligence shape,
-- sql/views/seed_columns.json) over one org's FOCUS 1.3 table. One row per FOCUS row of the
-- providers seed_views.csv lists for gcp_dci; query_svc creates it on a connection that holds that
-- one org's FOCUS table only.
--
-- Money: cost = BilledCost, the billing export's cost with the discount credits (CUD, SUD,
-- contractual) already netted in by sql/mappings/gcp.sql; not EffectiveCost (amortized). Each
-- credit of a credit type (promotions, free tier) is its own FOCUS Credit row: it keeps cost 0 and
-- puts its amount in credits, as text (the seed types it STRING), so sum(cost) +
-- sum(CAST(credits AS DOUBLE)) = sum(BilledCost), the invoice.
-- Labels: FOCUS Tags (project labels < resource tags < labels < system labels, merged by the
-- mapping) split by key: the mapping's "gcp:" keys are system_labels, given back their own GCP
-- key (compute.googleapis.com/machine_spec); every other key is a label. The merge keeps no
-- separate project labels: project_labels is empty, and the project's labels appear in labels.
-- kubernetes_cluster_name / kubernetes_namespace: the GKE labels goog-k8s-cluster-name and
-- k8s-namespace. resource_id = ResourceName (else ResourceId), resource_global_id = ResourceId
-- (the resource's global name). seller_name = ServiceProviderName; transaction_type GOOGLE, or
-- THIRD_PARTY_RESELLER for Marketplace rows (FOCUS does not keep reseller vs. agency).
-- subscription.instance_id = CommitmentDiscountId (the CUD's subscription instance). FOCUS keeps no
-- country and no project number: both null. cost_type = ChargeCategory.
SELECT
    t.BillingAccountId AS billing_account_id,
    t.ServiceName AS service_description,
    t.x_service_code AS service_id,
    coalesce(t.SkuMeter, t.ChargeDescription) AS sku_description,
    t.SkuId AS sku_id,
    t.ChargePeriodStart AS usage_start_time,
    t.ChargePeriodEnd AS usage_end_time,
    t.SubAccountId AS project_id,
    t.SubAccountName AS project_name,
    CAST(NULL AS VARCHAR) AS project_number,
    CAST([] AS STRUCT("key" VARCHAR, "value" VARCHAR)[]) AS project_labels,
    coalesce(list_filter(t.tag_entries, lambda e: NOT starts_with(e.key, 'gcp:')),
             CAST([] AS STRUCT("key" VARCHAR, "value" VARCHAR)[])) AS labels,
    coalesce(list_transform(list_filter(t.tag_entries, lambda e: starts_with(e.key, 'gcp:')),
                            lambda e: {'key': substr(e.key, 5), 'value': e.value}),
             CAST([] AS STRUCT("key" VARCHAR, "value" VARCHAR)[])) AS system_labels,
    CAST(NULL AS VARCHAR) AS country,
    t.RegionId AS region,
    t.AvailabilityZone AS zone,
    t.ChargeCategory AS cost_type,
    coalesce(t.ResourceName, t.ResourceId) AS resource_id,
    t.ResourceId AS resource_global_id,
    CAST(t.PricingQuantity AS DOUBLE) AS "usage.amount_in_pricing_units",
    json_extract_string(t.Tags, '$."goog-k8s-cluster-name"') AS kubernetes_cluster_name,
    json_extract_string(t.Tags, '$."k8s-namespace"') AS kubernetes_namespace,
    t.ServiceProviderName AS seller_name,
    t.CommitmentDiscountId AS "subscription.instance_id",
    CASE WHEN t.ServiceProviderName = 'Google Cloud' THEN 'GOOGLE' ELSE 'THIRD_PARTY_RESELLER' END AS transaction_type,
    CAST(t.ConsumedQuantity AS DOUBLE) AS usage,
    CASE WHEN t.ChargeCategory = 'Credit' THEN 0 ELSE CAST(t.BilledCost AS DOUBLE) END AS cost,
    CASE WHEN t.ChargeCategory = 'Credit' THEN CAST(CAST(t.BilledCost AS DOUBLE) AS VARCHAR) END AS credits
FROM (
    SELECT
        f.*,
        -- Tags as (key, value) pairs; a value that is not a string keeps its JSON text.
        map_entries(TRY_CAST(TRY_CAST(f.Tags AS JSON) AS MAP(VARCHAR, VARCHAR))) AS tag_entries
    FROM cost_data_standard_1_3 AS f
    WHERE f.x_source_provider IN (SELECT v.x_source_provider FROM ref_seed_views AS v WHERE v.view_name = 'gcp_dci')
) AS t
