-- _saas_dci: the one table shape the seed gives databricks_dci, datadog_dci, mongodb_dci and
-- snowflake_dci (DoiT Cloud Intelligence, sql/views/seed_columns.json), over every FOCUS row, with
-- x_source_provider kept so each of those views is this one filtered to its providers
-- (seed_views.csv). A helper: callers of ExecuteSql cannot name it, only the four views.
--
-- Money: cost = BilledCost (what the platform invoices for the row); report.cost = EffectiveCost
-- (after discounts and with commitments amortized: the seed's "final calculated cost after all
-- credits and discounts"); report.savings = ListCost - EffectiveCost, report.savings_description
-- the commitment that saved it (CommitmentDiscountType), else "Discount from list price" when
-- there is a saving. A Credit row's BilledCost is negative and it names its credit in
-- report.credit (ChargeDescription; the seed's report.credit is a name, not an amount).
-- currency = BillingCurrency; currency_conversion_rate = 1: amounts are in the billing currency.
-- usage = {ConsumedQuantity, ConsumedUnit, PricingQuantity, PricingUnit}; invoice.month = the
-- billing period's month (YYYYMM, a flat dotted column as in the seed); usage_date_time =
-- ChargePeriodStart in UTC without a zone (the seed's DATETIME).
-- etl: the run that loaded the row (ts and run_start_time = x_ingested_at, session_id = x_run_id);
-- export_time = x_ingested_at (when the source was read; FOCUS keeps no export time).
-- project = SubAccountId / SubAccountName (the workspace, project or account); FOCUS keeps no
-- number, ancestry or sub-account tags. location = RegionId / AvailabilityZone (no country).
-- Labels: every Tags key is a label, the ones prefixed "<provider slug>:" (the provider's own) are
-- system_labels. is_marketplace: the service provider is not who invoices (ServiceProviderName <>
-- InvoiceIssuerName). FOCUS rows carry no row id, customer type or id, and no extra metrics:
-- row_id, customer_type, customer_id and report.ext_metric are null.
SELECT
    t.x_source_provider,
    [{'ts': t.x_ingested_at, 'session_id': t.x_run_id, 'run_start_time': t.x_ingested_at}] AS etl,
    t.BillingAccountId AS billing_account_id,
    t.ServiceName AS service_description,
    t.x_service_code AS service_id,
    coalesce(t.SkuMeter, t.ChargeDescription) AS sku_description,
    t.SkuId AS sku_id,
    timezone('UTC', t.ChargePeriodStart) AS usage_date_time,
    t.ChargePeriodStart AS usage_start_time,
    t.ChargePeriodEnd AS usage_end_time,
    {
        'id': t.SubAccountId,
        'name': t.SubAccountName,
        'number': CAST(NULL AS VARCHAR),
        'ancestry_numbers': CAST(NULL AS VARCHAR),
        'project_labels': CAST([] AS STRUCT("key" VARCHAR, "value" VARCHAR)[])
    } AS project,
    coalesce(list_filter(t.tag_entries, lambda e: NOT starts_with(e.key, t.x_source_provider || ':')),
             CAST([] AS STRUCT("key" VARCHAR, "value" VARCHAR)[])) AS labels,
    coalesce(list_filter(t.tag_entries, lambda e: starts_with(e.key, t.x_source_provider || ':')),
             CAST([] AS STRUCT("key" VARCHAR, "value" VARCHAR)[])) AS system_labels,
    {'country': CAST(NULL AS VARCHAR), 'region': t.RegionId, 'zone': t.AvailabilityZone} AS location,
    t.x_ingested_at AS export_time,
    CAST(t.BilledCost AS DOUBLE) AS cost,
    t.BillingCurrency AS currency,
    CAST(1 AS DOUBLE) AS currency_conversion_rate,
    {
        'amount': CAST(t.ConsumedQuantity AS DOUBLE),
        'unit': t.ConsumedUnit,
        'amount_in_pricing_units': CAST(t.PricingQuantity AS DOUBLE),
        'pricing_unit': t.PricingUnit
    } AS usage,
    strftime(timezone('UTC', t.BillingPeriodStart), '%Y%m') AS "invoice.month",
    t.ChargeCategory AS cost_type,
    {
        'cost': CAST(t.EffectiveCost AS DOUBLE),
        'usage': CAST(t.ConsumedQuantity AS DOUBLE),
        'savings': CAST(t.ListCost - t.EffectiveCost AS DOUBLE),
        'savings_description': coalesce(t.CommitmentDiscountType,
                                        CASE WHEN t.ListCost <> t.EffectiveCost THEN 'Discount from list price' END),
        'credit': CASE WHEN t.ChargeCategory = 'Credit' THEN t.ChargeDescription END,
        'ext_metric': CAST(NULL AS STRUCT("key" VARCHAR, "value" DOUBLE, "type" VARCHAR))
    } AS report,
    t.ResourceId AS resource_id,
    t.x_operation AS operation,
    CAST(NULL AS VARCHAR) AS row_id,
    t.ChargeDescription AS description,
    CAST(NULL AS VARCHAR) AS customer_type,
    coalesce(t.ServiceProviderName <> t.InvoiceIssuerName, false) AS is_marketplace,
    CAST(NULL AS VARCHAR) AS customer_id
FROM (
    SELECT
        f.*,
        -- Tags as (key, value) pairs; a value that is not a string keeps its JSON text.
        map_entries(TRY_CAST(TRY_CAST(f.Tags AS JSON) AS MAP(VARCHAR, VARCHAR))) AS tag_entries
    FROM cost_data_standard_1_3 AS f
) AS t
