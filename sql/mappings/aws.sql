-- AWS CUR (2.0 naming; legacy CUR is renamed on ingest) -> FOCUS 1.3 Cost and Usage.
-- One SELECT over {{raw}} (rows of cloud_aws_billing_raw_daily); focus_svc substitutes the relation.
-- Needs the macros and reference tables of sql/procedures/cloud/sp_cloud_1_convert_to_focus.sql, and
-- follows the mapping contract at its top: only the columns AWS states; the FOCUS wrapper adds the
-- lineage, x_source_provider, the PricingCurrency* prices (= the billing-currency ones) and a NULL for
-- every other column (Allocated*, CapacityReservation*, ContractApplied, ResourceName).
-- Cost columns follow AWS's own amortization rules (the "amortized cost" of Cost Explorer):
--   BilledCost    = what the invoice says: (net) unblended cost; 0 on RI-covered usage (the RI fee row bills it).
--   EffectiveCost = amortized: RI/SP effective cost on covered usage, 0 on commitment purchases and on
--                   SavingsPlanNegation, the unused commitment on a separate Usage/Unused row.
--   ListCost      = ListUnitPrice x PricingQuantity when both are set, else public on-demand cost / the amount.
--   ContractedCost= ContractedUnitPrice x PricingQuantity when both are set, else the amount before commitments.
SELECT
    x.line_item_availability_zone AS AvailabilityZone,
    focus_money(x.billed_cost) AS BilledCost,
    x.bill_payer_account_id AS BillingAccountId,
    -- AWS accounts always have a display name; an export without the name column shows the id,
    -- as the AWS console does for an unnamed account.
    coalesce(x.bill_payer_account_name, x.bill_payer_account_id) AS BillingAccountName,
    -- AWS bills one account type (the payer / management account) per invoice.
    'Payer Account' AS BillingAccountType,
    x.line_item_currency_code AS BillingCurrency,
    coalesce(x.bill_billing_period_end_date, x.bill_billing_period_start_date + INTERVAL 1 MONTH) AS BillingPeriodEnd,
    x.bill_billing_period_start_date AS BillingPeriodStart,
    x.charge_category AS ChargeCategory,
    -- Refunds (by line type or by a Refund bill) correct an earlier, invoiced charge.
    CASE WHEN x.line_item_line_item_type = 'Refund' OR x.bill_bill_type = 'Refund' THEN 'Correction' END
        AS ChargeClass,
    CASE WHEN x.is_unused THEN 'Unused commitment: ' || coalesce(x.line_item_line_item_description, '')
         ELSE x.line_item_line_item_description END AS ChargeDescription,
    CASE
        WHEN x.charge_category = 'Usage' THEN 'Usage-Based'
        WHEN x.line_item_line_item_type IN ('RIFee', 'SavingsPlanRecurringFee') THEN 'Recurring'
        WHEN x.charge_category = 'Purchase' THEN 'One-Time'
        -- Tax, credits, refunds and discount lines follow the usage they are computed from.
        ELSE 'Usage-Based'
    END AS ChargeFrequency,
    x.line_item_usage_end_date AS ChargePeriodEnd,
    x.line_item_usage_start_date AS ChargePeriodStart,
    CASE WHEN x.commitment_id IS NOT NULL THEN CASE x.commitment_kind WHEN 'RI' THEN 'Usage' ELSE 'Spend' END END
        AS CommitmentDiscountCategory,
    x.commitment_id AS CommitmentDiscountId,
    CASE WHEN x.commitment_id IS NOT NULL THEN regexp_extract(x.commitment_id, '[^/:]+$') END AS CommitmentDiscountName,
    -- Quantity of the commitment used: RI hours for reservations, spend for Savings Plans. Only on
    -- priced usage rows (1.3: null when SkuPriceId is null).
    focus_money(CASE
        WHEN x.commitment_id IS NULL OR x.charge_category <> 'Usage' OR NOT x.has_price THEN NULL
        WHEN x.commitment_kind = 'RI' THEN x.line_item_usage_amount
        ELSE coalesce(x.savings_plan_savings_plan_effective_cost, 0)
    END) AS CommitmentDiscountQuantity,
    CASE WHEN x.commitment_id IS NOT NULL AND x.charge_category = 'Usage'
         THEN CASE WHEN x.is_unused THEN 'Unused' ELSE 'Used' END END AS CommitmentDiscountStatus,
    CASE WHEN x.commitment_id IS NOT NULL THEN CASE x.commitment_kind WHEN 'RI' THEN 'Reserved Instance' ELSE 'Savings Plan' END END AS CommitmentDiscountType,
    CASE
        WHEN x.commitment_id IS NULL OR x.charge_category <> 'Usage' OR NOT x.has_price THEN NULL
        WHEN x.commitment_kind = 'RI' THEN x.pricing_unit
        ELSE x.line_item_currency_code
    END AS CommitmentDiscountUnit,
    focus_money(CASE WHEN x.has_price AND x.charge_category = 'Usage' THEN x.line_item_usage_amount END)
        AS ConsumedQuantity,
    -- Units as CUR writes them ('Hrs', 'GB-Mo', 'Lambda-GB-Second'): the FOCUS wrapper maps them to Unit
    -- Format (sql/reference/focus_units.csv) and keeps them in x_*_unit_raw.
    CASE WHEN x.has_price AND x.charge_category = 'Usage' THEN x.pricing_unit END AS ConsumedUnit,
    focus_money(x.contracted_cost) AS ContractedCost,
    focus_money(x.contracted_unit_price) AS ContractedUnitPrice,
    focus_money(x.effective_cost) AS EffectiveCost,
    -- A marketplace product with a resource in a region runs on AWS; otherwise the seller hosts it
    -- (or does not say), so the host is the seller (FOCUS 1.3 HostProviderName).
    CASE WHEN x.service_provider = 'AWS' THEN 'AWS'
         WHEN x.line_item_resource_id IS NOT NULL AND x.region_key IS NOT NULL THEN 'AWS'
         ELSE x.service_provider END AS HostProviderName,
    x.bill_invoice_id AS InvoiceId,
    coalesce(x.bill_invoicing_entity, 'Amazon Web Services, Inc.') AS InvoiceIssuerName,
    focus_money(x.list_cost) AS ListCost,
    focus_money(x.list_unit_price) AS ListUnitPrice,
    CASE
        WHEN NOT x.has_price THEN NULL
        WHEN x.charge_category = 'Purchase' THEN 'Standard'  -- never Committed on the purchase itself
        WHEN x.commitment_id IS NOT NULL THEN 'Committed'
        WHEN x.pricing_term = 'Spot' THEN 'Dynamic'
        WHEN x.pricing_term = 'OnDemand' OR x.pricing_term IS NULL THEN 'Standard'
        ELSE 'Other'
    END AS PricingCategory,
    -- CUR states rates and costs in one currency: the PricingCurrency* prices are the wrapper's defaults
    -- (the billing-currency values); only the currency code is CUR's own when it states one.
    coalesce(x.pricing_currency, x.line_item_currency_code) AS PricingCurrency,
    focus_money(x.pricing_quantity) AS PricingQuantity,
    CASE WHEN x.has_price THEN x.pricing_unit END AS PricingUnit,
    'AWS' AS ProviderName,
    x.service_provider AS PublisherName,
    CASE WHEN g.region_id IS NOT NULL OR x.region_key LIKE '%-%-%' THEN x.region_key END AS RegionId,
    CASE WHEN g.region_id IS NOT NULL OR x.region_key LIKE '%-%-%' THEN coalesce(g.region_name, x.region_key) END
        AS RegionName,
    x.line_item_resource_id AS ResourceId,
    CASE WHEN x.line_item_resource_id IS NOT NULL
         THEN coalesce(nullif(regexp_extract(x.line_item_resource_id, '^arn:[^:]+:[^:]+:[^:]*:[^:]*:([^/:]+)[/:]', 1), ''),
                       x.product_product_family) END AS ResourceType,
    coalesce(s.service_category, 'Other') AS ServiceCategory,
    coalesce(x.product_product_name, s.service_name, x.line_item_product_code) AS ServiceName,
    x.service_provider AS ServiceProviderName,
    focus_subcategory(s.service_category, s.service_subcategory) AS ServiceSubcategory,
    x.product_sku AS SkuId,
    CASE WHEN x.product_sku IS NOT NULL THEN x.line_item_usage_type END AS SkuMeter,
    CASE WHEN x.has_price THEN CAST(json_object(
        'x_PricingTerm', x.pricing_term,
        'x_RateCode', x.pricing_rate_code,
        'x_OfferingClass', x.pricing_offering_class,
        'x_PurchaseOption', x.pricing_purchase_option,
        'x_LeaseContractLength', x.pricing_lease_contract_length) AS VARCHAR) END AS SkuPriceDetails,
    CASE WHEN x.has_price THEN x.pricing_rate_code END AS SkuPriceId,
    x.line_item_usage_account_id AS SubAccountId,
    coalesce(x.line_item_usage_account_name, x.line_item_usage_account_id) AS SubAccountName,
    CASE WHEN x.line_item_usage_account_id IS NOT NULL THEN 'Linked Account' END AS SubAccountType,
    focus_tags(x.resource_tags, x.cost_category) AS Tags,
    x.line_item_product_code AS x_service_code,
    x.line_item_usage_type AS x_usage_type,
    x.line_item_operation AS x_operation,
    x.line_item_line_item_type AS x_charge_type
FROM (
    SELECT
        c.*,
        CASE
            WHEN c.is_unused THEN 0
            WHEN c.line_item_line_item_type = 'DiscountedUsage' THEN 0
            ELSE c.billed_amount
        END AS billed_cost,
        CASE
            WHEN c.is_unused AND c.commitment_kind = 'RI'
                THEN coalesce(c.reservation_unused_amortized_upfront_fee_for_billing_period, 0)
                    + coalesce(c.reservation_unused_recurring_fee, 0)
            WHEN c.is_unused
                THEN coalesce(c.savings_plan_total_commitment_to_date, 0) - coalesce(c.savings_plan_used_commitment, 0)
            WHEN c.line_item_line_item_type = 'DiscountedUsage'
                THEN coalesce(c.reservation_net_effective_cost, c.reservation_effective_cost, 0)
            WHEN c.line_item_line_item_type = 'SavingsPlanCoveredUsage'
                THEN coalesce(c.savings_plan_net_savings_plan_effective_cost, c.savings_plan_savings_plan_effective_cost, 0)
            -- Commitment purchases are amortized into covered usage and the Unused rows (FOCUS:
            -- EffectiveCost is 0 on a purchase that covers future charges); the negation is the
            -- commitment's effect, already inside the covered rows' effective cost.
            WHEN c.commitment_kind IS NOT NULL AND c.charge_category = 'Purchase' THEN 0
            WHEN c.line_item_line_item_type = 'SavingsPlanNegation' THEN 0
            ELSE c.billed_amount
        END AS effective_cost,
        CASE
            WHEN c.list_unit_price IS NOT NULL AND c.pricing_quantity IS NOT NULL
                THEN focus_money_product(c.list_unit_price, c.pricing_quantity)
            WHEN c.is_unused OR c.line_item_line_item_type = 'SavingsPlanNegation' THEN 0
            WHEN c.charge_category = 'Usage' THEN coalesce(c.pricing_public_on_demand_cost, c.billed_amount)
            -- Discount/credit lines have no list price: a list price never includes a discount.
            WHEN c.charge_category = 'Credit' AND c.line_item_line_item_type <> 'Credit' THEN 0
            ELSE c.billed_amount
        END AS list_cost,
        CASE
            WHEN c.contracted_unit_price IS NOT NULL AND c.pricing_quantity IS NOT NULL
                THEN focus_money_product(c.contracted_unit_price, c.pricing_quantity)
            WHEN c.is_unused OR c.line_item_line_item_type = 'SavingsPlanNegation' THEN 0
            -- RI-covered usage without a price: what it would have cost before the commitment.
            WHEN c.line_item_line_item_type = 'DiscountedUsage'
                THEN coalesce(c.pricing_public_on_demand_cost, 0)
            -- Negotiated discounts are part of contracted cost, so discount lines keep their amount.
            ELSE c.billed_amount
        END AS contracted_cost,
        CASE WHEN c.commitment_kind = 'RI' THEN c.reservation_reservation_a_r_n
             WHEN c.commitment_kind = 'SP' THEN c.savings_plan_savings_plan_a_r_n END AS commitment_id,
        -- Marketplace rows: the seller (legal entity of the line) provides the service, AWS invoices it.
        CASE WHEN c.bill_billing_entity = 'AWS Marketplace'
             THEN coalesce(c.line_item_legal_entity, c.product_product_name, 'AWS Marketplace')
             ELSE 'AWS' END AS service_provider,
        -- The static column only: reading the product map would make DuckDB build it for every row.
        c.product_region_code AS region_key
    FROM (
        SELECT
            t.*,
            -- The Unused copy of a fee row is not priced: it is the commitment's unused remainder.
            t.has_source_price AND NOT t.is_unused AS has_price,
            CASE
                WHEN t.is_unused THEN 'Usage'
                WHEN t.line_item_line_item_type IN ('Usage', 'DiscountedUsage', 'SavingsPlanCoveredUsage',
                                                    'SavingsPlanNegation') THEN 'Usage'
                WHEN t.line_item_line_item_type IN ('RIFee', 'Fee', 'SavingsPlanRecurringFee',
                                                    'SavingsPlanUpfrontFee') THEN 'Purchase'
                WHEN t.line_item_line_item_type = 'Tax' THEN 'Tax'
                -- A refund corrects an earlier charge (ChargeClass = Correction below); a refunded tax is
                -- still tax, anything else is an after-the-fact change to billed amounts: Adjustment.
                WHEN t.line_item_line_item_type = 'Refund' AND t.line_item_tax_type IS NOT NULL THEN 'Tax'
                WHEN t.line_item_line_item_type = 'Refund' THEN 'Adjustment'
                -- Credits and every discount line (EdpDiscount, PrivateRateDiscount, BundledDiscount,
                -- Discount, DistributorDiscount, SppDiscount, RiVolumeDiscount, ... which AWS only writes
                -- as separate rows with "manual discount compatibility") reduce billed cost after the fact.
                ELSE 'Credit'
            END AS charge_category,
            CASE WHEN t.has_source_price AND NOT t.is_unused THEN t.pricing_public_on_demand_rate END AS list_unit_price,
            CASE
                WHEN NOT t.has_source_price OR t.is_unused THEN NULL
                -- Covered usage: CUR zeroes (RI) or re-bills (SP) the rate; the contracted price is the
                -- price before the commitment, i.e. the on-demand rate (CUR has no other).
                WHEN t.line_item_line_item_type IN ('DiscountedUsage', 'SavingsPlanCoveredUsage')
                    THEN t.pricing_public_on_demand_rate
                ELSE coalesce(t.line_item_net_unblended_rate, t.line_item_unblended_rate)
            END AS contracted_unit_price,
            CASE WHEN t.has_source_price AND NOT t.is_unused THEN t.line_item_usage_amount END AS pricing_quantity
        FROM (
            SELECT
                r.*,
                -- RIFee and SavingsPlanRecurringFee rows also carry the month's unused commitment. FOCUS puts
                -- unused commitment on a Usage row with CommitmentDiscountStatus = Unused, so such a row is
                -- emitted a second time as that Usage row: UNNEST in the projection repeats the row in the
                -- same scan (a lateral join would be decorrelated into a join + aggregate over all rows).
                UNNEST(CASE
                        WHEN r.line_item_line_item_type = 'RIFee'
                            AND coalesce(r.reservation_unused_amortized_upfront_fee_for_billing_period, 0)
                                + coalesce(r.reservation_unused_recurring_fee, 0) <> 0
                            THEN [false, true]
                        WHEN r.line_item_line_item_type = 'SavingsPlanRecurringFee'
                            AND coalesce(r.savings_plan_total_commitment_to_date, 0)
                                - coalesce(r.savings_plan_used_commitment, 0) <> 0
                            THEN [false, true]
                        ELSE [false]
                    END) AS is_unused,
                -- Cost after negotiated discounts (EDP/PPA) when AWS reports it: the net columns only exist then.
                coalesce(r.line_item_net_unblended_cost, r.line_item_unblended_cost) AS billed_amount,
                CASE
                    WHEN r.line_item_line_item_type IN ('DiscountedUsage', 'RIFee')
                        OR (r.line_item_line_item_type = 'Fee' AND r.reservation_reservation_a_r_n IS NOT NULL)
                        THEN 'RI'
                    WHEN r.line_item_line_item_type LIKE 'SavingsPlan%' THEN 'SP'
                END AS commitment_kind,
                -- A price exists (SkuPriceId, unit prices, PricingQuantity...) only on rows AWS prices per unit:
                -- never on tax/credit/refund/discount rows, nor on SavingsPlanNegation, whose amount is the
                -- commitment's effect and must not be priced a second time. FOCUS 1.3 makes the unit prices
                -- non-null exactly when SkuPriceId is, so every input they need is checked here.
                (
                    r.line_item_line_item_type IN ('Usage', 'DiscountedUsage', 'SavingsPlanCoveredUsage', 'RIFee',
                                                   'SavingsPlanRecurringFee', 'SavingsPlanUpfrontFee', 'Fee')
                                AND r.pricing_rate_code IS NOT NULL
                    AND r.pricing_public_on_demand_rate IS NOT NULL
                    AND r.line_item_usage_amount IS NOT NULL
                    AND r.pricing_unit IS NOT NULL
                    AND coalesce(r.line_item_net_unblended_rate, r.line_item_unblended_rate) IS NOT NULL
                ) AS has_source_price
            FROM {{raw}} AS r
        ) AS t
    ) AS c
) AS x
LEFT JOIN ref_aws_services AS s ON s.product_code = x.line_item_product_code
LEFT JOIN ref_aws_regions AS g ON g.region_id = x.region_key
