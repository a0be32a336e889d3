-- Datadog cost by organization (rows of cloud_datadog_billing_raw_daily) -> FOCUS 1.3 Cost and Usage.
-- One SELECT over {{raw}}; needs the macros and reference tables of sql/procedures/cloud/sp_cloud_1_convert_to_focus.sql
-- (ref_datadog_services keyed by Datadog's product_name), and follows the mapping contract at its top: only
-- the columns Datadog states; the FOCUS wrapper adds the lineage, x_source_provider, the PricingCurrency*
-- columns (USD, as billed) and a NULL for every other column.
--
-- Rows: one per charge of an organization's month (product_name x charge_type committed | on_demand).
-- Datadog's "total" charge of a product is the sum of its other charges: it stays in raw and is left out
-- here, so a month's BilledCost is counted once.
-- Estimates: a month read from the estimated cost endpoint (cost_source 'estimated_cost': month to date, up
-- to 72 hours late) is marked on every FOCUS row: x_operation = 'estimated_cost' (the final month's rows say
-- 'historical_cost') and its ChargeDescription ends in "(estimated month to date)". ChargeClass cannot say it
-- (FOCUS allows only NULL or Correction). The pipeline replaces a month whole, so the first run after Datadog
-- publishes the final cost (by the 16th of the next month) swaps the estimate for it. Where both answers of
-- one account's month are in {{raw}} (a file of each converted together), the final one wins and the
-- estimate is left out: they are two statements of the same cost.
-- Costs: Datadog states what it bills (USD), after its contract rates, with no list price, unit price or
-- quantity: BilledCost = EffectiveCost = ListCost = ContractedCost = cost; no SkuPriceId, so the wrapper
-- leaves every price and quantity column NULL. Quantities are not joined from the usage endpoints (no
-- documented rule maps a usage type to a product_name).
-- Accounts: BillingAccount = the parent organization (account_public_id / account_name; in the summary view
-- the organization itself), SubAccount = the organization the cost belongs to (public_id / org_name).
-- Region = the Datadog site region of the organization (us, eu ...), as Datadog names it.
-- Services: ref_datadog_services by product_name; a product it does not list keeps Datadog's product_name
-- as ServiceName, in Management and Governance / Observability (what Datadog sells unless listed otherwise).
-- Billing and charge period: the calendar month in UTC (Datadog's date is the month's first instant, UTC).
SELECT
    focus_money(r.cost) AS BilledCost,
    r.billing_account_id AS BillingAccountId,
    coalesce(r.account_name, r.org_name, r.billing_account_id) AS BillingAccountName,
    'Parent Organization' AS BillingAccountType,
    'USD' AS BillingCurrency,
    timezone('UTC', CAST(r.billing_period + INTERVAL 1 MONTH AS TIMESTAMP)) AS BillingPeriodEnd,
    timezone('UTC', CAST(r.billing_period AS TIMESTAMP)) AS BillingPeriodStart,
    'Usage' AS ChargeCategory,
    coalesce(s.service_name, r.product_name)
        || CASE r.charge_type WHEN 'committed' THEN ', committed' WHEN 'on_demand' THEN ', on-demand'
                              ELSE ', ' || r.charge_type END
        || CASE WHEN r.cost_source = 'estimated_cost' THEN ' (estimated month to date)' ELSE '' END
        AS ChargeDescription,
    'Usage-Based' AS ChargeFrequency,
    timezone('UTC', CAST(r.billing_period + INTERVAL 1 MONTH AS TIMESTAMP)) AS ChargePeriodEnd,
    timezone('UTC', CAST(r.billing_period AS TIMESTAMP)) AS ChargePeriodStart,
    focus_money(r.cost) AS ContractedCost,
    focus_money(r.cost) AS EffectiveCost,
    'Datadog' AS HostProviderName,
    'Datadog' AS InvoiceIssuerName,
    focus_money(r.cost) AS ListCost,
    'Datadog' AS ProviderName,
    'Datadog' AS PublisherName,
    r.region AS RegionId,
    r.region AS RegionName,
    coalesce(s.service_category, 'Management and Governance') AS ServiceCategory,
    coalesce(s.service_name, r.product_name) AS ServiceName,
    'Datadog' AS ServiceProviderName,
    focus_subcategory(coalesce(s.service_category, 'Management and Governance'),
                      CASE WHEN s.product_code IS NULL THEN 'Observability' ELSE s.service_subcategory END)
        AS ServiceSubcategory,
    r.public_id AS SubAccountId,
    coalesce(r.org_name, r.public_id) AS SubAccountName,
    CASE WHEN r.public_id IS NOT NULL THEN 'Organization' END AS SubAccountType,
    r.product_name AS x_service_code,
    r.charge_type AS x_charge_type,
    r.cost_source AS x_operation
FROM (
    SELECT
        raw.*,
        coalesce(raw.account_public_id, raw.public_id) AS billing_account_id,
        bool_or(raw.cost_source = 'historical_cost') OVER (
            PARTITION BY raw.billing_period, coalesce(raw.account_public_id, raw.public_id)
        ) AS month_is_final
    FROM {{raw}} AS raw
) AS r
LEFT JOIN ref_datadog_services AS s ON s.product_code = r.product_name
WHERE r.charge_type <> 'total'
    AND NOT (r.cost_source = 'estimated_cost' AND r.month_is_final)
