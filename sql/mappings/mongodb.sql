-- MongoDB Atlas invoices (rows of cloud_mongodb_billing_raw_daily) -> FOCUS 1.3 Cost and Usage.
-- One SELECT over {{raw}}; needs the macros and reference tables of sql/procedures/cloud/sp_cloud_1_convert_to_focus.sql
-- (ref_mongodb_services: LIKE patterns over the SKU, the lowest priority matching wins), and follows the mapping
-- contract at its top: only the columns Atlas states; the FOCUS wrapper adds the lineage, x_source_provider, the
-- PricingCurrency* columns (USD: Atlas invoices and prices in US dollars) and a NULL for every other column.
--
-- Rows: one per line item of an invoice (record_type line_item), plus a Tax row of the invoice's salesTaxCents from
-- its invoice record (record_type invoice) when the tax is not zero; the invoice record makes no other row.
-- Money: Atlas states amounts in integer cents; they become dollars exactly (cents x 0.01 in DECIMAL arithmetic,
-- never a division, which DuckDB would do in DOUBLE). Unit prices are stated in dollars already.
--   BilledCost = EffectiveCost = (totalPriceCents - discountCents) / 100: what the invoice charges for the line.
--     Atlas documents totalPriceCents as unitPriceDollars x quantity x 100 and discountCents as the sum by which
--     it discounted the line, so the discount is taken off here; the sum of a month's BilledCost is the
--     invoice's amountBilledCents (line items net of discounts, plus the sales tax).
--   ListCost = ContractedCost = unitPriceDollars x quantity on priced lines (the line's own price; Atlas states no
--     other list price), else BilledCost. ListUnitPrice = ContractedUnitPrice = unitPriceDollars.
--   Priced (SkuPriceId and the price and quantity columns set): line items of a SKU with a unit price, a quantity
--     and a unit, and a non-negative total. PricingQuantity = ConsumedQuantity = quantity, in Atlas's unit.
-- ChargeCategory: Tax for the sales tax; Credit for a line item with a negative total (Atlas writes credits as
--   negative lines); Usage otherwise. Credits are One-Time charges, everything else Usage-Based.
-- Billing period: the invoice's startDate .. endDate (its billing cycle); charge period: the line item's
--   startDate .. endDate (the usage date), the invoice's for the tax.
-- Accounts: BillingAccount = the organization (orgId; the invoice does not name it), SubAccount = the project
--   (groupId / groupName). Resource = the cluster (<groupId>/clusters/<clusterName>) or the App Services
--   application (<groupId>/apps/<stitchAppName>). InvoiceId = the invoice's id.
-- Services: ref_mongodb_services by SKU pattern; a SKU it does not match is "MongoDB Atlas", Databases / NoSQL
--   Databases. HostProviderName is the cloud the SKU names (ATLAS_AWS_..., ATLAS_GCP_..., ATLAS_AZURE_...), else
--   MongoDB.
-- Tags: the line item's tags (key -> list of values), a list of several values joined with ','.
SELECT
    focus_money(r.billed_cost) AS BilledCost,
    r.org_id AS BillingAccountId,
    r.org_id AS BillingAccountName,
    'Organization' AS BillingAccountType,
    'USD' AS BillingCurrency,
    r.invoice_end_date AS BillingPeriodEnd,
    r.invoice_start_date AS BillingPeriodStart,
    r.charge_category AS ChargeCategory,
    CASE WHEN r.record_type = 'invoice' THEN 'Sales tax'
         ELSE concat_ws(', ', coalesce(r.service.name, 'MongoDB Atlas') || ': ' || r.sku, r.cluster_name,
                        r.stitch_app_name, r.note) END AS ChargeDescription,
    CASE WHEN r.charge_category = 'Credit' THEN 'One-Time' ELSE 'Usage-Based' END AS ChargeFrequency,
    coalesce(r.end_date, r.invoice_end_date) AS ChargePeriodEnd,
    coalesce(r.start_date, r.invoice_start_date) AS ChargePeriodStart,
    focus_money(CASE WHEN r.priced AND r.charge_category = 'Usage' THEN r.quantity END) AS ConsumedQuantity,
    CASE WHEN r.priced AND r.charge_category = 'Usage' THEN r.unit END AS ConsumedUnit,
    focus_money(r.list_cost) AS ContractedCost,
    focus_money(CASE WHEN r.priced THEN r.unit_price_dollars END) AS ContractedUnitPrice,
    focus_money(r.billed_cost) AS EffectiveCost,
    CASE WHEN r.sku LIKE '%\_AWS\_%' ESCAPE '\' THEN 'AWS'
         WHEN r.sku LIKE '%\_GCP\_%' ESCAPE '\' THEN 'Google Cloud'
         WHEN r.sku LIKE '%\_AZURE\_%' ESCAPE '\' THEN 'Microsoft Azure'
         ELSE 'MongoDB' END AS HostProviderName,
    r.invoice_id AS InvoiceId,
    'MongoDB' AS InvoiceIssuerName,
    focus_money(r.list_cost) AS ListCost,
    focus_money(CASE WHEN r.priced THEN r.unit_price_dollars END) AS ListUnitPrice,
    CASE WHEN r.priced THEN 'Standard' END AS PricingCategory,
    focus_money(CASE WHEN r.priced THEN r.quantity END) AS PricingQuantity,
    CASE WHEN r.priced THEN r.unit END AS PricingUnit,
    'MongoDB' AS ProviderName,
    'MongoDB' AS PublisherName,
    r.resource_id AS ResourceId,
    coalesce(r.cluster_name, r.stitch_app_name) AS ResourceName,
    CASE WHEN r.cluster_name IS NOT NULL THEN 'Cluster'
         WHEN r.stitch_app_name IS NOT NULL THEN 'App Services Application' END AS ResourceType,
    coalesce(r.service.category, 'Databases') AS ServiceCategory,
    coalesce(r.service.name, 'MongoDB Atlas') AS ServiceName,
    'MongoDB' AS ServiceProviderName,
    focus_subcategory(coalesce(r.service.category, 'Databases'),
                      CASE WHEN r.service IS NULL THEN 'NoSQL Databases' ELSE r.service.subcategory END)
        AS ServiceSubcategory,
    CASE WHEN r.record_type = 'line_item' THEN r.sku END AS SkuId,
    CASE WHEN r.record_type = 'line_item' THEN r.sku END AS SkuMeter,
    CASE WHEN r.priced AND (r.tier_lower_bound IS NOT NULL OR r.tier_upper_bound IS NOT NULL)
         THEN CAST(json_object('x_TierLowerBound', r.tier_lower_bound, 'x_TierUpperBound', r.tier_upper_bound) AS VARCHAR)
    END AS SkuPriceDetails,
    CASE WHEN r.priced THEN r.sku || ':' || CAST(r.unit_price_dollars AS VARCHAR)
                            || coalesce(':' || CAST(r.tier_lower_bound AS VARCHAR), '') END AS SkuPriceId,
    r.group_id AS SubAccountId,
    coalesce(r.group_name, r.group_id) AS SubAccountName,
    CASE WHEN r.group_id IS NOT NULL THEN 'Project' END AS SubAccountType,
    focus_tags(CASE WHEN r.tags IS NOT NULL AND r.tags <> '{}' THEN map_from_entries(list_transform(
                   map_entries(json_transform(r.tags, '"MAP(VARCHAR, VARCHAR[])"')),
                   lambda e: {'key': e.key, 'value': array_to_string(e.value, ',')})) END,
               CAST(NULL AS MAP(VARCHAR, VARCHAR))) AS Tags,
    r.sku AS x_service_code,
    CASE WHEN r.record_type = 'invoice' THEN 'sales_tax' ELSE r.record_type END AS x_charge_type
FROM (
    SELECT
        c.*,
        c.record_type = 'line_item' AND c.total_price_cents >= 0 AND c.sku IS NOT NULL
            AND c.unit_price_dollars IS NOT NULL AND c.quantity IS NOT NULL AND c.unit IS NOT NULL AS priced,
        CASE WHEN c.record_type = 'line_item' AND c.total_price_cents >= 0 AND c.sku IS NOT NULL
                  AND c.unit_price_dollars IS NOT NULL AND c.quantity IS NOT NULL AND c.unit IS NOT NULL
             -- each branch at FOCUS's scale: a CASE of DECIMAL(38,24) and DECIMAL(38,2) would round to cents
             THEN focus_money(c.unit_price_dollars * c.quantity) ELSE focus_money(c.billed_cost) END AS list_cost
    FROM (
        SELECT
            raw.*,
            CAST(CASE WHEN raw.record_type = 'invoice' THEN raw.sales_tax_cents
                      ELSE raw.total_price_cents - coalesce(raw.discount_cents, 0) END AS DECIMAL(38, 0))
                * CAST(0.01 AS DECIMAL(3, 2)) AS billed_cost,
            CASE WHEN raw.record_type = 'invoice' THEN 'Tax'
                 WHEN raw.total_price_cents < 0 THEN 'Credit'
                 ELSE 'Usage' END AS charge_category,
            CASE WHEN raw.cluster_name IS NOT NULL THEN raw.group_id || '/clusters/' || raw.cluster_name
                 WHEN raw.stitch_app_name IS NOT NULL THEN raw.group_id || '/apps/' || raw.stitch_app_name END
                AS resource_id,
            (SELECT arg_min({'name': s.service_name, 'category': s.service_category,
                             'subcategory': s.service_subcategory}, CAST(s.priority AS INTEGER))
             FROM ref_mongodb_services AS s WHERE raw.sku LIKE s.product_code) AS service
        FROM {{raw}} AS raw
        WHERE raw.record_type = 'line_item' OR coalesce(raw.sales_tax_cents, 0) <> 0
    ) AS c
) AS r
