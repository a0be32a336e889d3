-- Databricks system.billing.usage with list prices (rows of cloud_databricks_billing_raw_daily) -> FOCUS 1.3.
-- One SELECT over {{raw}}; needs the macros of sql/procedures/cloud/sp_cloud_1_convert_to_focus.sql and
-- ref_databricks_services (sql/reference/databricks_services.csv: billing_origin_product -> service name,
-- FOCUS category and subcategory). Only what Databricks states; the FOCUS wrapper adds the lineage,
-- x_source_provider, the PricingCurrency* columns (prices and bill share one currency_code) and a NULL for
-- every other column (Allocated*, CapacityReservation*, CommitmentDiscount*, ContractApplied, InvoiceId).
--
-- Rows: one FOCUS row per usage record (raw keeps only records with exactly one price row in force).
-- Costs: the record's quantity at its list price. The price is pricing.effective_list.default (the list
--   price in effect, a promotion applied) where the price row states it, else pricing.default; it is the
--   only price the two tables hold, so ListUnitPrice = ContractedUnitPrice = that price and
--   BilledCost = EffectiveCost = ListCost = ContractedCost = usage_quantity x price, exact decimals
--   (both cast to 12 decimals before the product: DECIMAL(38,18) x DECIMAL(38,18) keeps 2 integer digits).
--   Negotiated discounts are not in these tables (system.billing.account_prices, an AWS/GCP-only
--   preview, holds them): a contract customer's invoice is lower than BilledCost here.
-- Corrections: Databricks never rewrites a record; it appends a RETRACTION (the original's quantity,
--   negated) and a RESTATEMENT (the corrected quantity), both on the original's usage hour. Every record
--   is a row, so the month nets to the corrected usage: original + retraction + restatement = restatement.
--   They keep ChargeCategory Usage (a correction has the category of what it corrects) with negative
--   quantities and costs on retractions; ChargeClass is Correction only where FOCUS means it, a
--   correction to a previously invoiced billing period: one Databricks ingested after the usage month
--   ended (Databricks invoices a month after it closes). A correction within the month is part of the
--   month's usage before it is invoiced (ChargeClass NULL).
-- Identifiers: BillingAccount = account_id (no name in the tables), SubAccount = workspace_id
--   (SubAccountType Workspace; the name is in system.access.workspaces_latest, not read), SkuId = sku_name,
--   SkuPriceId = SKU, currency and start of the price row (each price change is a new price),
--   SkuMeter = usage_type. ResourceId: the compute the usage_metadata names (cluster, SQL warehouse,
--   DLT pipeline, serving endpoint, job), of that ResourceType.
-- Providers: ServiceProviderName Databricks. HostProviderName the cloud the workspace runs on (AWS,
--   Microsoft, Google Cloud, as the cloud providers' mappings spell them; serverless compute also runs in
--   that cloud, in Databricks' account). InvoiceIssuerName: Microsoft for Azure Databricks (a first-party
--   Azure service, invoiced by Microsoft: the same DBUs are on the Azure bill, so do not add both up),
--   Databricks otherwise.
-- Not stated (gaps of the two tables): RegionId (needs system.access.workspaces_latest or the metastore),
--   InvoiceId, names of workspaces and compute.
-- Against Databricks' published FOCUS 1.3 query (databricks-solutions/cloud-infra-costs,
--   focus/focus_query_1_3.sql), the reference for the columns above: it ignores record_type (ChargeClass
--   always NULL; retractions only show as negative quantities), prices with pricing.default (promotions
--   ignored), keeps USD prices only, joins prices on usage_end_time BETWEEN start AND end (a record ending on
--   a price change matches two prices), and takes SubAccountName, RegionId and resource names from
--   system.access / system.compute tables this pipeline does not read.
SELECT
    focus_money(x.cost) AS BilledCost,
    x.account_id AS BillingAccountId,
    x.account_id AS BillingAccountName,
    'Account' AS BillingAccountType,
    x.currency_code AS BillingCurrency,
    timezone('UTC', CAST(x.billing_period + INTERVAL 1 MONTH AS TIMESTAMP)) AS BillingPeriodEnd,
    timezone('UTC', CAST(x.billing_period AS TIMESTAMP)) AS BillingPeriodStart,
    'Usage' AS ChargeCategory,
    CASE WHEN x.record_type IN ('RETRACTION', 'RESTATEMENT')
              AND x.record_ingestion_date >= CAST(x.billing_period + INTERVAL 1 MONTH AS DATE)
         THEN 'Correction' END AS ChargeClass,
    CASE x.record_type
        WHEN 'RETRACTION' THEN 'Retraction of ' || x.sku_name
        WHEN 'RESTATEMENT' THEN 'Restatement of ' || x.sku_name
        ELSE x.sku_name
    END AS ChargeDescription,
    'Usage-Based' AS ChargeFrequency,
    x.usage_end_time AS ChargePeriodEnd,
    x.usage_start_time AS ChargePeriodStart,
    focus_money(x.usage_quantity) AS ConsumedQuantity,
    x.usage_unit AS ConsumedUnit,
    focus_money(x.cost) AS ContractedCost,
    focus_money(x.unit_price) AS ContractedUnitPrice,
    focus_money(x.cost) AS EffectiveCost,
    CASE x.cloud WHEN 'AWS' THEN 'AWS' WHEN 'AZURE' THEN 'Microsoft' WHEN 'GCP' THEN 'Google Cloud'
                 ELSE 'Databricks' END AS HostProviderName,
    CASE WHEN x.cloud = 'AZURE' THEN 'Microsoft' ELSE 'Databricks' END AS InvoiceIssuerName,
    focus_money(x.cost) AS ListCost,
    focus_money(x.unit_price) AS ListUnitPrice,
    'Standard' AS PricingCategory,
    focus_money(x.usage_quantity) AS PricingQuantity,
    x.usage_unit AS PricingUnit,
    'Databricks' AS ProviderName,
    'Databricks' AS PublisherName,
    x.resource_id AS ResourceId,
    x.resource_id AS ResourceName,
    CASE WHEN x.resource_id IS NOT NULL THEN x.resource_type END AS ResourceType,
    coalesce(s.service_category, 'Other') AS ServiceCategory,
    coalesce(s.service_name, x.billing_origin_product, 'Databricks') AS ServiceName,
    'Databricks' AS ServiceProviderName,
    focus_subcategory(s.service_category, s.service_subcategory) AS ServiceSubcategory,
    x.sku_name AS SkuId,
    x.usage_type AS SkuMeter,
    CAST(json_object(
        'x_PriceDefault', CAST(x.price_default AS VARCHAR),
        'x_PricePromotional', CAST(x.price_promotional AS VARCHAR),
        'x_PriceEffectiveList', CAST(x.price_effective_list AS VARCHAR),
        'x_PriceStartTime', strftime(x.price_start_time, '%Y-%m-%dT%H:%M:%SZ'),
        'x_PriceEndTime', strftime(x.price_end_time, '%Y-%m-%dT%H:%M:%SZ')) AS VARCHAR) AS SkuPriceDetails,
    x.sku_name || ':' || x.currency_code || ':' || strftime(x.price_start_time, '%Y-%m-%dT%H:%M:%SZ') AS SkuPriceId,
    x.workspace_id AS SubAccountId,
    x.workspace_id AS SubAccountName,
    'Workspace' AS SubAccountType,
    focus_tags(x.custom_tags, CAST(NULL AS MAP(VARCHAR, VARCHAR))) AS Tags,
    x.billing_origin_product AS x_service_code,
    x.usage_type AS x_usage_type,
    x.record_type AS x_charge_type
FROM (
    SELECT
        r.*,
        coalesce(r.price_effective_list, r.price_default) AS unit_price,
        CAST(r.usage_quantity AS DECIMAL(38, 12)) * CAST(coalesce(r.price_effective_list, r.price_default) AS DECIMAL(38, 12))
            AS cost,
        coalesce(
            json_extract_string(r.usage_metadata, '$.cluster_id'),
            json_extract_string(r.usage_metadata, '$.warehouse_id'),
            json_extract_string(r.usage_metadata, '$.dlt_pipeline_id'),
            json_extract_string(r.usage_metadata, '$.endpoint_id'),
            json_extract_string(r.usage_metadata, '$.job_id')
        ) AS resource_id,
        CASE
            WHEN json_extract_string(r.usage_metadata, '$.cluster_id') IS NOT NULL THEN 'Cluster'
            WHEN json_extract_string(r.usage_metadata, '$.warehouse_id') IS NOT NULL THEN 'SQL Warehouse'
            WHEN json_extract_string(r.usage_metadata, '$.dlt_pipeline_id') IS NOT NULL THEN 'Pipeline'
            WHEN json_extract_string(r.usage_metadata, '$.endpoint_id') IS NOT NULL THEN 'Serving Endpoint'
            WHEN json_extract_string(r.usage_metadata, '$.job_id') IS NOT NULL THEN 'Job'
        END AS resource_type
    FROM {{raw}} AS r
) AS x
LEFT JOIN ref_databricks_services AS s ON s.product_code = x.billing_origin_product
