-- Snowflake organization cost (rows of cloud_snowflake_billing_raw_daily) -> FOCUS 1.3 Cost and Usage.
-- Two SELECTs over {{raw}}, one per view a month was read from (source_format), never both for one month:
-- the connector reads each month from one view only. Needs the macros of
-- sql/procedures/cloud/sp_cloud_1_convert_to_focus.sql, ref_snowflake_services (service type -> FOCUS
-- category and subcategory) and ref_focus_service_subcategories (the allowed pairs). The FOCUS wrapper
-- adds the lineage, x_source_provider, the PricingCurrency* columns (Snowflake prices in the billing
-- currency) and a NULL for every other column.
--
-- Both branches:
--   BillingAccount = the organization (type Organization), SubAccount = the account. ServiceName = the
--   Snowflake service type as Snowflake writes it (WAREHOUSE_METERING ...), in both views, so a month read
--   from either groups the same way. ServiceProviderName / ProviderName / PublisherName / InvoiceIssuerName
--   Snowflake. HostProviderName = the cloud of the region, spelled as the cloud providers' mappings spell
--   it (AWS, Microsoft, Google Cloud; the view writes Aws / Azure / Gcp).
--   Prices: Snowflake states no SKU or price id (the view's Sku* columns are documented as not populated;
--   the usage view has none), and FOCUS 1.3 nulls every unit price and quantity without a SkuPriceId. A
--   Snowflake rate is per service, region and edition: SkuId = service:region:edition, and SkuPriceId =
--   SkuId:unit:contracted unit price:currency on rows that state a price and a quantity, so the prices and
--   quantities Snowflake states are kept. ListCost = ListUnitPrice x PricingQuantity and ContractedCost =
--   ContractedUnitPrice x PricingQuantity on those rows (the 1.3 identities; Snowflake rounds its stated
--   ContractedUnitPrice to 2 decimals and says its ContractedCost is "not the amount actually billed").
--
-- FOCUS view branch (SNOWFLAKE.BILLING.FOCUS_COST_USAGE_V1_3, from 2026-01): Snowflake's FOCUS 1.3 values
--   kept (costs, periods, classes, regions, capacity reservations, invoice id), except the spelling of
--   HostProviderName, ServiceCategory / ServiceSubcategory (the reference's for a known service type, so
--   a month read from either view categorises a service alike; else Snowflake's when FOCUS allows it),
--   and an InvoiceId left empty (NULL; capacity customers get none). ContractApplied is NULL: Snowflake
--   writes a flat object (x_BalanceSource, x_ContractCommitCostBalance), not FOCUS 1.3's array of applied
--   contract commitments, and names no commitment to link (the validator's ContractAppliedObject rules
--   refuse it); the object stays in raw (focus_contract_applied) and its balance source is x_charge_type.
-- Usage branch (ORGANIZATION_USAGE.USAGE_IN_CURRENCY_DAILY + RATE_SHEET_DAILY, any month): one row per day,
--   account and usage type, ChargePeriod = that UTC day. BilledCost = EffectiveCost = USAGE_IN_CURRENCY
--   (the usage statement's amount, as the FOCUS view's BilledCost; a capacity customer's draw-down of its
--   prepaid balance included, BALANCE_SOURCE says which balance paid). ChargeCategory: IS_ADJUSTMENT ->
--   Adjustment; a rebate or support credit -> Credit; priority support and VPS deployment fees -> Purchase
--   (Recurring); else Usage. Units: credits, TB-Days (storage, a day's average TB) or TB (data transfer).
--   The rate sheet's EFFECTIVE_RATE (after contract discounts) is the only unit price these views hold:
--   ContractedUnitPrice = ListUnitPrice = it (list prices are not in ORGANIZATION_USAGE), on Usage rows
--   metered in credits or TB transferred; storage is not priced per unit (its rate is per TB-month, its
--   usage a day's TB), nor is a row without exactly one rate.
WITH focus_view AS (
    SELECT
        r.*,
        r.focus_list_unit_price IS NOT NULL AND r.focus_contracted_unit_price IS NOT NULL
            AND r.focus_pricing_quantity IS NOT NULL AND r.focus_pricing_unit IS NOT NULL AS priced,
        coalesce(r.focus_sku_id, concat_ws(':', r.focus_service_name, r.focus_region_id, r.focus_x_service_level))
            AS sku_id,
        -- The reference's category first: months read from the usage view use it, and one ServiceName
        -- has one ServiceCategory across the table (FOCUS); Snowflake's own for a service it does not know.
        CASE WHEN s.service_category IS NOT NULL THEN s.service_category
             WHEN r.focus_service_category IN (SELECT service_category FROM ref_focus_service_subcategories)
             THEN r.focus_service_category
             ELSE 'Other' END AS service_category,
        s.service_category AS ref_category,
        s.service_subcategory AS ref_subcategory
    FROM {{raw}} AS r
    LEFT JOIN ref_snowflake_services AS s ON s.product_code = upper(replace(r.focus_service_name, ' ', '_'))
    WHERE r.source_format LIKE 'snowflake_focus%'
),
usage_view AS (
    SELECT
        r.*,
        coalesce(r.service_type, upper(replace(r.usage_type, ' ', '_'))) AS service,
        CASE
            WHEN coalesce(r.rating_type, r.usage_type) ILIKE '%storage%' THEN 'TB-Days'
            WHEN coalesce(r.rating_type, r.usage_type) ILIKE '%transfer%' THEN 'TB'
            ELSE 'Credits'
        END AS unit,
        CASE
            WHEN r.is_adjustment THEN 'Adjustment'
            WHEN lower(r.billing_type) IN ('rebate', 'support_credit') OR lower(r.balance_source) = 'rebate' THEN 'Credit'
            WHEN lower(r.billing_type) IN ('priority support', 'priority_support', 'vps_deployment_fee') THEN 'Purchase'
            ELSE 'Usage'
        END AS charge_category
    FROM {{raw}} AS r
    WHERE r.source_format LIKE 'snowflake_usage_in_currency%'
)
SELECT
    focus_money(x.focus_billed_cost) AS BilledCost,
    x.focus_billing_account_id AS BillingAccountId,
    coalesce(x.focus_billing_account_name, x.focus_billing_account_id) AS BillingAccountName,
    'Organization' AS BillingAccountType,
    x.focus_billing_currency AS BillingCurrency,
    x.focus_billing_period_end AS BillingPeriodEnd,
    x.focus_billing_period_start AS BillingPeriodStart,
    x.focus_capacity_reservation_id AS CapacityReservationId,
    CASE WHEN x.focus_capacity_reservation_id IS NOT NULL THEN x.focus_capacity_reservation_status END
        AS CapacityReservationStatus,
    x.focus_charge_category AS ChargeCategory,
    CASE WHEN x.focus_charge_class = 'Correction' THEN 'Correction' END AS ChargeClass,
    x.focus_charge_description AS ChargeDescription,
    coalesce(x.focus_charge_frequency, 'Usage-Based') AS ChargeFrequency,
    x.focus_charge_period_end AS ChargePeriodEnd,
    x.focus_charge_period_start AS ChargePeriodStart,
    focus_money(x.focus_consumed_quantity) AS ConsumedQuantity,
    x.focus_consumed_unit AS ConsumedUnit,
    focus_money(CASE WHEN x.priced THEN x.focus_contracted_unit_price * x.focus_pricing_quantity
                     ELSE coalesce(x.focus_contracted_cost, x.focus_billed_cost) END) AS ContractedCost,
    focus_money(CASE WHEN x.priced THEN x.focus_contracted_unit_price END) AS ContractedUnitPrice,
    focus_money(x.focus_effective_cost) AS EffectiveCost,
    CASE lower(coalesce(x.focus_host_provider_name, split_part(x.focus_region_id, '_', 1)))
        WHEN 'aws' THEN 'AWS' WHEN 'azure' THEN 'Microsoft' WHEN 'gcp' THEN 'Google Cloud'
        ELSE x.focus_host_provider_name
    END AS HostProviderName,
    nullif(trim(x.focus_invoice_id), '') AS InvoiceId,
    coalesce(x.focus_invoice_issuer_name, 'Snowflake') AS InvoiceIssuerName,
    focus_money(CASE WHEN x.priced THEN x.focus_list_unit_price * x.focus_pricing_quantity
                     ELSE coalesce(x.focus_list_cost, x.focus_billed_cost) END) AS ListCost,
    focus_money(CASE WHEN x.priced THEN x.focus_list_unit_price END) AS ListUnitPrice,
    CASE WHEN x.priced THEN coalesce(x.focus_pricing_category, 'Standard') END AS PricingCategory,
    focus_money(CASE WHEN x.priced THEN x.focus_pricing_quantity END) AS PricingQuantity,
    CASE WHEN x.priced THEN x.focus_pricing_unit END AS PricingUnit,
    'Snowflake' AS ProviderName,
    'Snowflake' AS PublisherName,
    x.focus_region_id AS RegionId,
    coalesce(x.focus_region_name, x.focus_region_id) AS RegionName,
    x.focus_resource_id AS ResourceId,
    x.focus_resource_name AS ResourceName,
    x.focus_resource_type AS ResourceType,
    x.service_category AS ServiceCategory,
    x.focus_service_name AS ServiceName,
    coalesce(x.focus_service_provider_name, 'Snowflake') AS ServiceProviderName,
    focus_subcategory(
        x.service_category,
        CASE
            WHEN x.ref_category = x.service_category THEN x.ref_subcategory
            WHEN pair.service_subcategory IS NOT NULL THEN x.focus_service_subcategory
        END
    ) AS ServiceSubcategory,
    x.sku_id AS SkuId,
    coalesce(x.focus_sku_meter, x.focus_service_name) AS SkuMeter,
    CASE WHEN x.priced THEN CAST(json_object('x_ServiceLevel', x.focus_x_service_level) AS VARCHAR) END
        AS SkuPriceDetails,
    coalesce(x.focus_sku_price_id, CASE WHEN x.priced THEN concat_ws(':', x.sku_id, x.focus_pricing_unit,
        CAST(x.focus_contracted_unit_price AS VARCHAR), x.focus_billing_currency) END) AS SkuPriceId,
    x.focus_sub_account_id AS SubAccountId,
    x.focus_sub_account_name AS SubAccountName,
    x.focus_sub_account_type AS SubAccountType,
    focus_tags(x.focus_tags, CAST(NULL AS MAP(VARCHAR, VARCHAR))) AS Tags,
    x.focus_service_name AS x_service_code,
    x.focus_charge_description AS x_usage_type,
    json_extract_string(x.focus_contract_applied, '$.x_BalanceSource') AS x_charge_type
FROM focus_view AS x
LEFT JOIN ref_focus_service_subcategories AS pair
    ON pair.service_category = x.service_category AND pair.service_subcategory = x.focus_service_subcategory

UNION ALL BY NAME

SELECT
    focus_money(u.usage_in_currency) AS BilledCost,
    u.organization_name AS BillingAccountId,
    u.organization_name AS BillingAccountName,
    'Organization' AS BillingAccountType,
    u.currency AS BillingCurrency,
    timezone('UTC', CAST(u.billing_period + INTERVAL 1 MONTH AS TIMESTAMP)) AS BillingPeriodEnd,
    timezone('UTC', CAST(u.billing_period AS TIMESTAMP)) AS BillingPeriodStart,
    u.charge_category AS ChargeCategory,
    u.usage_type || coalesce(' (' || u.balance_source || ')', '') AS ChargeDescription,
    CASE WHEN u.charge_category = 'Purchase' THEN 'Recurring' ELSE 'Usage-Based' END AS ChargeFrequency,
    timezone('UTC', CAST(u.usage_date + INTERVAL 1 DAY AS TIMESTAMP)) AS ChargePeriodEnd,
    timezone('UTC', CAST(u.usage_date AS TIMESTAMP)) AS ChargePeriodStart,
    focus_money(u.usage) AS ConsumedQuantity,
    u.unit AS ConsumedUnit,
    focus_money(CASE WHEN u.priced THEN u.rate_sheet_effective_rate * u.usage ELSE u.usage_in_currency END)
        AS ContractedCost,
    focus_money(CASE WHEN u.priced THEN u.rate_sheet_effective_rate END) AS ContractedUnitPrice,
    focus_money(u.usage_in_currency) AS EffectiveCost,
    CASE lower(split_part(u.region, '_', 1))
        WHEN 'aws' THEN 'AWS' WHEN 'azure' THEN 'Microsoft' WHEN 'gcp' THEN 'Google Cloud'
    END AS HostProviderName,
    'Snowflake' AS InvoiceIssuerName,
    focus_money(CASE WHEN u.priced THEN u.rate_sheet_effective_rate * u.usage ELSE u.usage_in_currency END)
        AS ListCost,
    focus_money(CASE WHEN u.priced THEN u.rate_sheet_effective_rate END) AS ListUnitPrice,
    CASE WHEN u.priced THEN 'Standard' END AS PricingCategory,
    focus_money(CASE WHEN u.priced THEN u.usage END) AS PricingQuantity,
    CASE WHEN u.priced THEN u.unit END AS PricingUnit,
    'Snowflake' AS ProviderName,
    'Snowflake' AS PublisherName,
    u.region AS RegionId,
    u.region AS RegionName,
    coalesce(s.service_category, 'Other') AS ServiceCategory,
    u.service AS ServiceName,
    'Snowflake' AS ServiceProviderName,
    focus_subcategory(s.service_category, s.service_subcategory) AS ServiceSubcategory,
    u.sku_id AS SkuId,
    u.service AS SkuMeter,
    CASE WHEN u.priced THEN CAST(json_object('x_ServiceLevel', u.service_level, 'x_ContractNumber', u.contract_number)
        AS VARCHAR) END AS SkuPriceDetails,
    CASE WHEN u.priced THEN concat_ws(':', u.sku_id, u.unit, CAST(u.rate_sheet_effective_rate AS VARCHAR), u.currency) END
        AS SkuPriceId,
    u.account_locator AS SubAccountId,
    coalesce(u.account_name, u.account_locator) AS SubAccountName,
    -- ORGANIZATION_USAGE lists the organization's accounts; reader accounts are not among them (their
    -- usage is their provider account's, WAREHOUSE_METERING_READER): every one is a Regular account.
    'Regular' AS SubAccountType,
    u.service AS x_service_code,
    u.usage_type AS x_usage_type,
    u.balance_source AS x_charge_type
FROM (
    SELECT
        v.*,
        concat_ws(':', v.service, v.region, v.service_level) AS sku_id,
        -- A storage rate is per TB-month and its usage a day's TB: not a price of that quantity.
        v.rate_sheet_effective_rate IS NOT NULL AND v.usage IS NOT NULL AND v.charge_category = 'Usage'
            AND v.unit <> 'TB-Days' AS priced
    FROM usage_view AS v
) AS u
LEFT JOIN ref_snowflake_services AS s ON s.product_code = u.service
