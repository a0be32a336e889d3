-- genai_dci: the seed's Gen AI table (DoiT Cloud Intelligence, sql/views/seed_columns.json): the
-- GenAI spend in one org's FOCUS 1.3 table, whichever bill it came on. A FOCUS row is GenAI when a
-- rule of genai_rules.csv matches it, the one place the recognition rules live: every row of the
-- GenAI providers (OpenAI, Anthropic), and the GenAI lines inside the cloud bills (Amazon Bedrock and
-- the models it sells as their own products, Vertex AI and the Gemini API, Azure OpenAI / Foundry
-- Models); each rule says why in its row. A rule matches a row of its x_source_provider when its
-- match_column ILIKE its pattern ('*': every row) and, if it has one, its and_column ILIKE its
-- and_pattern. The first matching rule (by rule_id) is named in system_labels as
-- cloudact:genai_rule, so a line can be traced to the rule that took it.
--
-- Money: cost = BilledCost (the invoiced cost of the line); amounts are in the billing currency
-- (currency_conversion_rate 1). usage_* = ConsumedQuantity / ConsumedUnit (tokens) and
-- PricingQuantity / PricingUnit ("1000000 Tokens"). provider = the org's provider slug the line came
-- from (aws, gcp, azure, openai, anthropic). location = RegionName; FOCUS keeps no country,
-- internal project id, project number or ancestry (null). invoice_month = the billing period's
-- month (YYYYMM); usage_date_time = ChargePeriodStart in UTC without a zone (DATETIME);
-- export_time = x_ingested_at. Labels: keys prefixed "<provider slug>:" (aws:createdBy, the GCP
-- mapping's gcp:... system labels) are system_labels, the others labels.
SELECT
    t.x_source_provider AS provider,
    t.BillingAccountId AS billing_account_id,
    t.SubAccountId AS project_id,
    CAST(NULL AS VARCHAR) AS project_internal_id,
    CAST(NULL AS VARCHAR) AS project_number,
    t.SubAccountName AS project_name,
    CAST(NULL AS VARCHAR) AS project_ancestry_numbers,
    t.ServiceName AS service_description,
    t.x_service_code AS service_id,
    t.SkuId AS sku_id,
    coalesce(t.SkuMeter, t.ChargeDescription) AS sku_description,
    timezone('UTC', t.ChargePeriodStart) AS usage_date_time,
    t.ChargePeriodStart AS usage_start_time,
    t.ChargePeriodEnd AS usage_end_time,
    t.x_ingested_at AS export_time,
    t.RegionName AS location,
    CAST(NULL AS VARCHAR) AS country,
    t.RegionId AS region,
    t.AvailabilityZone AS zone,
    CAST(t.BilledCost AS DOUBLE) AS cost,
    t.BillingCurrency AS currency,
    CAST(1 AS DOUBLE) AS currency_conversion_rate,
    t.ChargeCategory AS cost_type,
    CAST(t.ConsumedQuantity AS DOUBLE) AS usage_amount,
    t.ConsumedUnit AS usage_unit,
    CAST(t.PricingQuantity AS DOUBLE) AS usage_amount_in_pricing_units,
    t.PricingUnit AS usage_pricing_unit,
    strftime(timezone('UTC', t.BillingPeriodStart), '%Y%m') AS invoice_month,
    t.ResourceId AS resource_id,
    CAST(NULL AS VARCHAR) AS customer_type,
    coalesce(t.ServiceProviderName <> t.InvoiceIssuerName, false) AS is_marketplace,
    coalesce(list_filter(t.tag_entries, lambda e: NOT starts_with(e.key, t.x_source_provider || ':')),
             CAST([] AS STRUCT("key" VARCHAR, "value" VARCHAR)[])) AS labels,
    list_concat(
        coalesce(list_filter(t.tag_entries, lambda e: starts_with(e.key, t.x_source_provider || ':')),
                 CAST([] AS STRUCT("key" VARCHAR, "value" VARCHAR)[])),
        [{'key': 'cloudact:genai_rule', 'value': t.genai_rule}]
    ) AS system_labels
FROM (
    SELECT
        f.*,
        -- Tags as (key, value) pairs; a value that is not a string keeps its JSON text.
        map_entries(TRY_CAST(TRY_CAST(f.Tags AS JSON) AS MAP(VARCHAR, VARCHAR))) AS tag_entries,
        (
            SELECT min(r.rule_id)
            FROM ref_genai_rules AS r
            WHERE r.x_source_provider = f.x_source_provider
              AND (
                  r.match_column = '*'
                  OR CASE r.match_column
                         WHEN 'ServiceName' THEN f.ServiceName
                         WHEN 'x_service_code' THEN f.x_service_code
                         WHEN 'x_usage_type' THEN f.x_usage_type
                         WHEN 'SkuMeter' THEN f.SkuMeter
                         WHEN 'ResourceType' THEN f.ResourceType
                     END ILIKE r.pattern
              )
              AND (
                  r.and_column IS NULL
                  OR CASE r.and_column
                         WHEN 'ServiceName' THEN f.ServiceName
                         WHEN 'x_service_code' THEN f.x_service_code
                         WHEN 'x_usage_type' THEN f.x_usage_type
                         WHEN 'SkuMeter' THEN f.SkuMeter
                         WHEN 'ResourceType' THEN f.ResourceType
                     END ILIKE r.and_pattern
              )
        ) AS genai_rule
    FROM cost_data_standard_1_3 AS f
) AS t
WHERE t.genai_rule IS NOT NULL
