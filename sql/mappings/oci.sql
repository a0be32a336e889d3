-- OCI cost report (reports/cost-csv) -> FOCUS 1.3 Cost and Usage.
-- One SELECT over {{raw}} (rows of cloud_oci_billing_raw_daily); focus_svc substitutes the relation.
-- Needs the macros and reference tables of sql/procedures/cloud/sp_cloud_1_convert_to_focus.sql.
-- Cost columns: the cost report states one amount, cost/myCost (= cost/unitPrice x usage/billedQuantity,
-- the customer's contracted price, overage included). No list price and no commitment amortization
-- are reported, so:
--   BilledCost = EffectiveCost = ContractedCost = cost/myCost
--   ListCost   = ListUnitPrice x PricingQuantity, ListUnitPrice = cost/unitPrice (no list price exists
--                in the report; OCI's own FOCUS report does the same), else cost/myCost.
-- Corrections (lineItem/isCorrection = true) are new rows pointing back via backreferenceNo:
-- ChargeClass = Correction, same ChargeCategory as what they correct (Usage).
-- BillingPeriod: the UTC calendar month of intervalUsageStart (the raw billing_period).
SELECT
    CAST(NULL AS VARCHAR) AS AllocatedMethodDetails,
    CAST(NULL AS VARCHAR) AS AllocatedMethodId,
    CAST(NULL AS VARCHAR) AS AllocatedResourceId,
    CAST(NULL AS VARCHAR) AS AllocatedResourceName,
    CAST(NULL AS VARCHAR) AS AllocatedTags,
    x.product_availability_domain AS AvailabilityZone,
    focus_money(x.cost_my_cost) AS BilledCost,
    -- The tenancy is what OCI bills (the bucket of the reports is the tenancy OCID); the report has
    -- no tenancy name column, so the name is the id (as for an unnamed account).
    x.line_item_tenant_id AS BillingAccountId,
    x.line_item_tenant_id AS BillingAccountName,
    'Tenancy' AS BillingAccountType,
    x.cost_currency_code AS BillingCurrency,
    CAST(x.billing_period AS TIMESTAMPTZ) + INTERVAL 1 MONTH AS BillingPeriodEnd,
    CAST(x.billing_period AS TIMESTAMPTZ) AS BillingPeriodStart,
    CAST(NULL AS VARCHAR) AS CapacityReservationId,
    CAST(NULL AS VARCHAR) AS CapacityReservationStatus,
    'Usage' AS ChargeCategory,
    CASE WHEN x.line_item_is_correction THEN 'Correction' END AS ChargeClass,
    coalesce(x.product_description, x.cost_product_sku, x.product_service) AS ChargeDescription,
    'Usage-Based' AS ChargeFrequency,
    x.line_item_interval_usage_end AS ChargePeriodEnd,
    x.line_item_interval_usage_start AS ChargePeriodStart,
    CAST(NULL AS VARCHAR) AS CommitmentDiscountCategory,
    CAST(NULL AS VARCHAR) AS CommitmentDiscountId,
    CAST(NULL AS VARCHAR) AS CommitmentDiscountName,
    CAST(NULL AS DECIMAL(38, 12)) AS CommitmentDiscountQuantity,
    CAST(NULL AS VARCHAR) AS CommitmentDiscountStatus,
    CAST(NULL AS VARCHAR) AS CommitmentDiscountType,
    CAST(NULL AS VARCHAR) AS CommitmentDiscountUnit,
    focus_money(CASE WHEN x.has_price THEN x.usage_billed_quantity END) AS ConsumedQuantity,
    CASE WHEN x.has_price THEN x.focus_unit END AS ConsumedUnit,
    CAST(NULL AS VARCHAR) AS ContractApplied,
    focus_money(x.cost_my_cost) AS ContractedCost,
    focus_money(CASE WHEN x.has_price THEN x.cost_unit_price END) AS ContractedUnitPrice,
    focus_money(x.cost_my_cost) AS EffectiveCost,
    'Oracle' AS HostProviderName,
    CAST(NULL AS VARCHAR) AS InvoiceId,
    'Oracle' AS InvoiceIssuerName,
    focus_money(CASE WHEN x.has_price THEN x.cost_unit_price * x.usage_billed_quantity ELSE x.cost_my_cost END)
        AS ListCost,
    focus_money(CASE WHEN x.has_price THEN x.cost_unit_price END) AS ListUnitPrice,
    CASE WHEN x.has_price THEN 'Standard' END AS PricingCategory,
    x.cost_currency_code AS PricingCurrency,
    focus_money(CASE WHEN x.has_price THEN x.cost_unit_price END) AS PricingCurrencyContractedUnitPrice,
    focus_money(x.cost_my_cost) AS PricingCurrencyEffectiveCost,
    focus_money(CASE WHEN x.has_price THEN x.cost_unit_price END) AS PricingCurrencyListUnitPrice,
    focus_money(CASE WHEN x.has_price THEN x.usage_billed_quantity END) AS PricingQuantity,
    CASE WHEN x.has_price THEN x.focus_unit END AS PricingUnit,
    'Oracle' AS ProviderName,
    'Oracle' AS PublisherName,
    x.product_region AS RegionId,
    CASE WHEN x.product_region IS NOT NULL THEN coalesce(g.region_name, x.product_region) END AS RegionName,
    x.product_resource_id AS ResourceId,
    x.product_resource_name AS ResourceName,
    -- The OCID's resource type (ocid1.<type>.<realm>...); non-OCID resource ids (bucket paths,
    -- internal meters) get the service.
    CASE WHEN x.product_resource_id IS NOT NULL
         THEN coalesce(nullif(regexp_extract(x.product_resource_id, '^ocid1\.([a-z0-9_]+)\.', 1), ''),
                       x.product_service) END AS ResourceType,
    coalesce(s.service_category, 'Other') AS ServiceCategory,
    coalesce(s.service_name, x.product_service) AS ServiceName,
    'Oracle' AS ServiceProviderName,
    focus_subcategory(s.service_category, s.service_subcategory) AS ServiceSubcategory,
    x.cost_product_sku AS SkuId,
    CASE WHEN x.cost_product_sku IS NOT NULL THEN x.product_description END AS SkuMeter,
    CASE WHEN x.has_price THEN CAST(json_object(
        'x_BillingUnitReadable', x.cost_billing_unit_readable,
        'x_OverageFlag', x.cost_overage_flag) AS VARCHAR) END AS SkuPriceDetails,
    -- OCI has no price id: a SKU has one price per subscription, and its overage price when the
    -- subscription's commitment is used up.
    CASE WHEN x.has_price THEN x.cost_product_sku || CASE WHEN x.is_overage THEN ':overage' ELSE '' END END
        AS SkuPriceId,
    x.product_compartment_id AS SubAccountId,
    coalesce(x.product_compartment_name, x.product_compartment_id) AS SubAccountName,
    CASE WHEN x.product_compartment_id IS NOT NULL THEN 'Compartment' END AS SubAccountType,
    focus_tags(x.tags, NULL) AS Tags,
    'oci' AS x_source_provider,
    x.product_service AS x_service_code,
    x.cost_billing_unit_readable AS x_usage_type,
    CAST(NULL AS VARCHAR) AS x_operation,
    CASE WHEN x.line_item_is_correction THEN 'Correction' ELSE 'Usage' END AS x_charge_type,
    x.x_pipeline_id,
    x.x_credential_id,
    x.x_run_id,
    x.x_ingested_at,
    x.x_pipeline_run_date
FROM (
    SELECT
        r.*,
        lower(coalesce(r.cost_overage_flag, '')) IN ('true', 'y', 'yes') AS is_overage,
        -- A price (SkuPriceId, unit prices, PricingQuantity...) exists only when every input is there
        -- (FOCUS 1.3: the unit prices are non-null exactly when SkuPriceId is).
        (
            r.cost_product_sku IS NOT NULL
            AND r.cost_unit_price IS NOT NULL
            AND r.usage_billed_quantity IS NOT NULL
            AND r.cost_sku_unit_description IS NOT NULL
        ) AS has_price,
        -- FOCUS Unit Format: time units spelled out after a hyphen ('GB Months' -> 'GB-Months'),
        -- multiples as a leading number ('Million Datapoints' -> '1000000 Datapoints').
        CASE
            WHEN r.cost_sku_unit_description = 'Instance per hour' THEN 'Instance-Hours'
            WHEN r.cost_sku_unit_description = 'Gigabytes Per Hour' THEN 'GB-Hours'
            WHEN r.cost_sku_unit_description = 'GB Of Data Transferred' THEN 'GB'
            ELSE regexp_replace(regexp_replace(regexp_replace(r.cost_sku_unit_description,
                '^Million ', '1000000 '), ' (Hours|Hour)$', '-Hours'), ' (Months|Month)$', '-Months')
        END AS focus_unit
    FROM {{raw}} AS r
) AS x
LEFT JOIN ref_oci_services AS s ON s.product_code = x.product_service
LEFT JOIN ref_oci_regions AS g ON g.region_id = x.product_region
