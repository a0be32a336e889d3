-- Azure Cost Management cost details (EA and MCA, ActualCost + AmortizedCost) -> FOCUS 1.3 Cost and Usage.
-- Two SELECTs over {{raw}} (rows of cloud_azure_billing_raw_daily), joined with UNION ALL BY NAME; focus_svc
-- substitutes the relation. Follows the mapping contract at the top of
-- sql/procedures/cloud/sp_cloud_1_convert_to_focus.sql: each branch states only Azure's columns (both
-- state every PricingCurrency* column: MCA prices in a pricing currency of its own); the FOCUS wrapper
-- adds to each the lineage, x_source_provider and a NULL for every column it leaves out (Allocated*,
-- ContractApplied; CapacityReservation* in the first, AvailabilityZone and x_charge_type in the second).
-- Follows Microsoft's documented conversion (finops-toolkit docs-mslearn/focus/convert.md):
--   rows          = every amortized row + the actual rows that are commitment Purchase/Refund
--                   (PricingModel Reservation/SavingsPlan). When a billing month of a billing account has
--                   no amortized rows at all, its actual rows are used as they are (billed view only).
--   BilledCost    = CostInBillingCurrency, 0 on amortized commitment-covered usage and Unused* rows
--                   (the actual Purchase row bills the commitment; no double counting).
--   EffectiveCost = CostInBillingCurrency, 0 on commitment Purchase/Refund rows (amortized elsewhere).
--   PricingQuantity = Quantity: the cost details' Quantity is already counted in pricing blocks
--                   (Cost = Quantity x EffectivePrice on every sample row, e.g. UnitOfMeasure '10K',
--                   Quantity 0.0129, EffectivePrice 0.004379084, Cost 5.649E-05), so the block size is
--                   applied to ConsumedQuantity (Quantity x block) instead of dividing PricingQuantity.
--   BillingAccountId = EA BillingAccountId, MCA BillingProfileId (convert.md). Two layouts have neither
--                   (cloudact_providers/azure/formats.py): partner (CSP) subscription-scope exports bill the
--                   customer, so its tenant (CustomerTenantId, named by CustomerName, type 'Customer'); pay-as-
--                   you-go usage details bill the subscription ("BillingProfileId: ... pay-as-you-go
--                   subscription", Microsoft's "Understand cost details fields"), which is also the fallback of
--                   a partner row without a tenant (type 'Subscription'). The per-account facts below key the same way.
SELECT
    x.availability_zone AS AvailabilityZone,
    focus_money(x.billed_cost) AS BilledCost,
    x.account_id AS BillingAccountId,
    coalesce(x.derived_account_name, x.billing_name, x.account_id) AS BillingAccountName,
    x.account_type AS BillingAccountType,
    x.billing_currency AS BillingCurrency,
    CAST(coalesce(x.billing_period_end_date + INTERVAL 1 DAY, x.billing_period + INTERVAL 1 MONTH) AS TIMESTAMPTZ)
        AS BillingPeriodEnd,
    CAST(x.billing_period AS TIMESTAMPTZ) AS BillingPeriodStart,
    x.charge_category AS ChargeCategory,
    CASE WHEN x.charge_type = 'Refund' THEN 'Correction' END AS ChargeClass,
    coalesce(x.product_name, x.meter_name) AS ChargeDescription,
    CASE
        WHEN x.frequency = 'OneTime' THEN 'One-Time'
        WHEN x.frequency = 'Recurring' THEN 'Recurring'
        WHEN x.charge_category = 'Purchase' THEN 'One-Time'
        ELSE 'Usage-Based'
    END AS ChargeFrequency,
    CAST(x.date + INTERVAL 1 DAY AS TIMESTAMPTZ) AS ChargePeriodEnd,
    CAST(x.date AS TIMESTAMPTZ) AS ChargePeriodStart,
    CASE WHEN x.commitment_id IS NOT NULL THEN CASE x.commitment_kind WHEN 'SP' THEN 'Spend' ELSE 'Usage' END END
        AS CommitmentDiscountCategory,
    x.commitment_id AS CommitmentDiscountId,
    CASE WHEN x.commitment_id IS NOT NULL
         THEN coalesce(x.benefit_name, x.reservation_name, regexp_extract(x.commitment_id, '[^/]+$')) END
        AS CommitmentDiscountName,
    focus_money(x.commitment_quantity) AS CommitmentDiscountQuantity,
    CASE WHEN x.commitment_id IS NOT NULL AND x.charge_category = 'Usage'
         THEN CASE WHEN x.is_unused THEN 'Unused' ELSE 'Used' END END AS CommitmentDiscountStatus,
    CASE WHEN x.commitment_id IS NOT NULL THEN CASE x.commitment_kind WHEN 'SP' THEN 'Savings Plan' ELSE 'Reservation' END END
        AS CommitmentDiscountType,
    CASE WHEN x.commitment_quantity IS NOT NULL
         THEN CASE x.commitment_kind WHEN 'SP' THEN x.billing_currency ELSE x.pricing_unit END END
        AS CommitmentDiscountUnit,
    focus_money(CASE WHEN x.is_consumed THEN x.quantity * x.block_size END) AS ConsumedQuantity,
    CASE WHEN x.is_consumed THEN x.base_unit END AS ConsumedUnit,
    focus_money(CASE
        WHEN x.has_price THEN x.contracted_unit_price * x.quantity
        WHEN x.is_unused THEN 0
        ELSE x.cost
    END) AS ContractedCost,
    focus_money(x.contracted_unit_price) AS ContractedUnitPrice,
    focus_money(x.effective_cost) AS EffectiveCost,
    CASE WHEN NOT x.is_marketplace THEN 'Microsoft'
         WHEN x.resource_id IS NOT NULL THEN 'Microsoft'
         ELSE x.service_provider END AS HostProviderName,
    x.invoice_id AS InvoiceId,
    coalesce(x.partner_name, 'Microsoft') AS InvoiceIssuerName,
    focus_money(CASE
        WHEN x.has_price THEN x.list_unit_price * x.quantity
        WHEN x.is_unused THEN 0
        ELSE coalesce(x.payg_cost_in_billing_currency, x.cost)
    END) AS ListCost,
    focus_money(x.list_unit_price) AS ListUnitPrice,
    CASE
        WHEN NOT x.has_price THEN NULL
        WHEN x.charge_category = 'Purchase' THEN 'Standard'  -- never Committed on the purchase itself
        WHEN x.pricing_model IN ('Reservation', 'SavingsPlan') THEN 'Committed'
        WHEN x.pricing_model = 'Spot' THEN 'Dynamic'
        WHEN x.pricing_model = 'OnDemand' OR x.pricing_model IS NULL THEN 'Standard'
        ELSE 'Other'
    END AS PricingCategory,
    coalesce(x.pricing_currency, x.billing_currency) AS PricingCurrency,
    focus_money(CASE WHEN x.has_price THEN x.unit_price END) AS PricingCurrencyContractedUnitPrice,
    focus_money(CASE
        WHEN x.is_commitment_purchase THEN 0
        -- Partner subscription-scope exports have no CostInPricingCurrency: back through the exchange rate.
        WHEN x.is_mca THEN coalesce(x.cost_in_pricing_currency, x.effective_cost / nullif(x.exchange_rate, 0))
        ELSE x.effective_cost
    END) AS PricingCurrencyEffectiveCost,
    focus_money(CASE WHEN x.has_price THEN x.list_price_in_pricing_currency END) AS PricingCurrencyListUnitPrice,
    focus_money(CASE WHEN x.has_price THEN x.quantity END) AS PricingQuantity,
    CASE WHEN x.has_price THEN x.pricing_unit END AS PricingUnit,
    'Microsoft' AS ProviderName,
    x.service_provider AS PublisherName,
    x.region_id AS RegionId,
    CASE WHEN x.region_id IS NOT NULL THEN coalesce(g.region_name, x.resource_location) END AS RegionName,
    x.resource_id AS ResourceId,
    CASE WHEN x.resource_id IS NOT NULL
         THEN coalesce(x.resource_name, nullif(regexp_extract(x.resource_id, '([^/]+)/?$', 1), '')) END
        AS ResourceName,
    CASE WHEN x.resource_id IS NOT NULL
         THEN coalesce(nullif(focus_arm_provider_type(x.resource_id), ''),
                       x.consumed_service, x.meter_category, 'Resource') END AS ResourceType,
    coalesce(s1.service_category, s2.service_category, s3.service_category, 'Other') AS ServiceCategory,
    coalesce(s1.service_name, s2.service_name, s3.service_name, x.meter_category, x.consumed_service, 'Unknown') AS ServiceName,
    x.service_provider AS ServiceProviderName,
    focus_subcategory(
        coalesce(s1.service_category, s2.service_category, s3.service_category),
        CASE WHEN s1.service_category IS NOT NULL THEN s1.service_subcategory
             WHEN s2.service_category IS NOT NULL THEN s2.service_subcategory
             ELSE s3.service_subcategory END) AS ServiceSubcategory,
    x.sku_id AS SkuId,
    CASE WHEN x.sku_id IS NOT NULL THEN x.meter_name END AS SkuMeter,
    CASE WHEN x.has_price THEN x.sku_price_details END AS SkuPriceDetails,
    CASE WHEN x.has_price THEN x.sku_price_id END AS SkuPriceId,
    x.subscription_id AS SubAccountId,
    coalesce(x.subscription_name, x.subscription_id) AS SubAccountName,
    CASE WHEN x.subscription_id IS NOT NULL THEN 'Subscription' END AS SubAccountType,
    focus_tags(x.tags, CAST(NULL AS MAP(VARCHAR, VARCHAR))) AS Tags,
    x.consumed_service AS x_service_code,
    x.meter_sub_category AS x_usage_type,
    x.meter_name AS x_operation,
    x.charge_type AS x_charge_type
FROM (
    SELECT
        c.*,
        CASE
            WHEN c.dataset = 'amortized' AND c.pricing_model IN ('Reservation', 'SavingsPlan')
                AND c.charge_type = 'Usage' THEN 0
            WHEN c.is_unused THEN 0
            ELSE c.cost
        END AS billed_cost,
        CASE WHEN c.is_commitment_purchase THEN 0 ELSE c.cost END AS effective_cost,
        -- Commitment use on priced usage rows: hours for reservations, spend for savings plans.
        CASE
            WHEN c.commitment_id IS NULL OR c.charge_category <> 'Usage' OR NOT c.has_price THEN NULL
            WHEN c.commitment_kind = 'SP' THEN c.cost
            ELSE c.quantity
        END AS commitment_quantity,
        c.has_price AND c.charge_category = 'Usage' AND NOT c.is_unused AS is_consumed,
        CASE WHEN c.has_price THEN c.list_price_in_pricing_currency * c.exchange_rate END AS list_unit_price,
        CASE WHEN c.has_price THEN c.unit_price * c.exchange_rate END AS contracted_unit_price,
        CASE WHEN c.has_price THEN concat_ws('_', c.sku_id, c.meter_id) END AS sku_price_id,
        CASE WHEN c.has_price AND json_valid(c.additional_info) AND starts_with(ltrim(c.additional_info), '{')
             THEN CAST(to_json(map_from_entries(list_transform(
                    map_entries(json_transform(c.additional_info, '"MAP(VARCHAR, JSON)"')),
                    lambda e: {'key': 'x_' || e.key, 'value': e.value}))) AS VARCHAR) END AS sku_price_details,
        CASE
            WHEN c.block_size = 1 THEN c.base_unit
            ELSE CAST(CAST(c.block_size AS BIGINT) AS VARCHAR) || ' ' || c.base_unit
        END AS pricing_unit,
        CASE WHEN c.resource_location IS NOT NULL
                  AND lower(c.resource_location) NOT IN ('global', 'unassigned', 'unknown', 'intercontinental')
             THEN lower(replace(c.resource_location, ' ', '')) END AS region_id
    FROM (
        SELECT
            t.*,
            t.charge_type IN ('Usage', 'Purchase', 'Refund')
                AND t.meter_id IS NOT NULL AND t.quantity IS NOT NULL AND t.unit_of_measure IS NOT NULL
                AND t.unit_price IS NOT NULL AND t.list_price_in_pricing_currency IS NOT NULL AS has_price,
            -- Block size and unit from UnitOfMeasure: '10K' -> 10000 Units, '1 Hour' -> 1 Hours,
            -- '1 GB/Month' -> 1 GB-Months, '100 GB' -> 100 GB.
            CASE upper(regexp_extract(t.unit_of_measure, '^\s*[0-9.]+\s*([KMB]?)', 1))
                WHEN 'K' THEN 1000 WHEN 'M' THEN 1000000 WHEN 'B' THEN 1000000000 ELSE 1
            END * coalesce(TRY_CAST(regexp_extract(t.unit_of_measure, '^\s*([0-9.]+)', 1) AS DOUBLE), 1)
                AS block_size,
            CASE
                WHEN t.unit_name IN ('Hour', 'Hours', 'Hrs') THEN 'Hours'
                WHEN t.unit_name IN ('Day', 'Days') THEN 'Days'
                WHEN t.unit_name IN ('', '/Month') THEN CASE WHEN t.unit_name = '' THEN 'Units' ELSE 'Units/Month' END
                WHEN t.unit_name = '/Day' THEN 'Units/Day'
                ELSE regexp_replace(regexp_replace(t.unit_name, '/Month$', '-Months'), '/Hour$', '-Hours')
            END AS base_unit,
            CASE WHEN t.publisher_type = 'Marketplace' THEN coalesce(t.publisher_name, 'Azure Marketplace')
                 ELSE 'Microsoft' END AS service_provider
        FROM (
            SELECT
                k.*,
                trim(regexp_replace(coalesce(k.unit_of_measure, ''), '^\s*[0-9.]+\s*[KMB]?\s*', '')) AS unit_name,
                -- EA writes PayGPrice 0 on commitment-covered rows; the on-demand rate is then UnitPrice.
                CASE WHEN coalesce(k.payg_price, 0) = 0 AND k.pricing_model IN ('Reservation', 'SavingsPlan')
                     THEN k.unit_price ELSE k.payg_price END AS list_price_in_pricing_currency,
                CASE WHEN k.is_mca THEN coalesce(k.exchange_rate_pricing_to_billing, 1) ELSE 1 END AS exchange_rate,
                CASE
                    WHEN k.commitment_kind IS NULL THEN NULL
                    WHEN k.benefit_id IS NOT NULL AND NOT ends_with(k.benefit_id, '/') THEN lower(k.benefit_id)
                    WHEN k.reservation_id IS NOT NULL AND k.product_order_id IS NOT NULL AND k.commitment_kind = 'RI'
                        THEN lower('/providers/microsoft.capacity/reservationorders/' || k.product_order_id
                                   || '/reservations/' || k.reservation_id)
                    ELSE lower(coalesce(k.benefit_id, k.reservation_id, k.product_order_id))
                END AS commitment_id
            FROM (
                SELECT
                    r.* EXCLUDE (resource_id),
                    lower(r.resource_id) AS resource_id,
                    starts_with(r.source_format, 'azure_mca') AS is_mca,
                    CASE WHEN starts_with(r.source_format, 'azure_mca')
                         THEN coalesce(r.billing_profile_id, r.billing_account_id, r.customer_tenant_id, r.subscription_id)
                         ELSE coalesce(r.billing_account_id, r.billing_profile_id, r.customer_tenant_id, r.subscription_id)
                    END AS account_id,
                    CASE WHEN starts_with(r.source_format, 'azure_mca') THEN coalesce(r.billing_profile_name, r.billing_account_name)
                         ELSE coalesce(r.billing_account_name, r.billing_profile_name) END AS billing_name,
                    -- Not account_name: r.* already holds a raw account_name (EA's AccountName, the
                    -- enrollment account, not the billing account), and the raw column would win.
                    CASE WHEN r.billing_profile_id IS NULL AND r.billing_account_id IS NULL
                         THEN CASE WHEN r.customer_tenant_id IS NOT NULL THEN r.customer_name ELSE r.subscription_name END
                    END AS derived_account_name,
                    CASE
                        WHEN r.billing_profile_id IS NOT NULL OR r.billing_account_id IS NOT NULL
                            THEN CASE WHEN starts_with(r.source_format, 'azure_mca') THEN 'Billing Profile' ELSE 'Billing Account' END
                        WHEN r.customer_tenant_id IS NOT NULL THEN 'Customer'
                        WHEN r.subscription_id IS NOT NULL THEN 'Subscription'
                    END AS account_type,
                    coalesce(r.cost_in_billing_currency, 0) AS cost,
                    r.charge_type IN ('UnusedReservation', 'UnusedSavingsPlan') AS is_unused,
                    r.charge_type IN ('Purchase', 'Refund') AND r.pricing_model IN ('Reservation', 'SavingsPlan')
                        AS is_commitment_purchase,
                    coalesce(r.publisher_type = 'Marketplace', false) AS is_marketplace,
                    coalesce(r.product_id, r.part_number) AS sku_id,
                    CASE
                        WHEN lower(r.benefit_id) LIKE '%/microsoft.billingbenefits/%' THEN 'SP'
                        WHEN lower(r.benefit_id) LIKE '%/microsoft.capacity/%' THEN 'RI'
                        WHEN r.pricing_model = 'SavingsPlan' OR r.charge_type = 'UnusedSavingsPlan' THEN 'SP'
                        WHEN r.pricing_model = 'Reservation' OR r.charge_type = 'UnusedReservation' THEN 'RI'
                    END AS commitment_kind,
                    CASE
                        WHEN r.charge_type IN ('Usage', 'Purchase', 'Credit', 'Tax') THEN r.charge_type
                        WHEN r.charge_type IN ('UnusedReservation', 'UnusedSavingsPlan') THEN 'Usage'
                        WHEN r.charge_type = 'Refund' THEN 'Purchase'
                        ELSE 'Adjustment'
                    END AS charge_category
                FROM (
                    SELECT
                        -- The FocusCost columns are the other branch's; this one reads cost details only.
                        a.* EXCLUDE (
                            billing_account_type, billing_period_start, billing_period_end, charge_period_start, charge_period_end, billed_cost,
                            effective_cost, list_cost, contracted_cost, list_unit_price, contracted_unit_price, pricing_quantity,
                            pricing_unit, pricing_category, pricing_currency_contracted_unit_price, pricing_currency_effective_cost, pricing_currency_list_unit_price, consumed_quantity,
                            consumed_unit, charge_category, charge_class, charge_description, charge_frequency, commitment_discount_id,
                            commitment_discount_name, commitment_discount_category, commitment_discount_type, commitment_discount_status, commitment_discount_quantity, commitment_discount_unit,
                            capacity_reservation_id, capacity_reservation_status, provider_name, invoice_issuer_name, region_id, region_name,
                            resource_type, service_category, service_subcategory, service_name, sku_id, sku_price_id,
                            sku_meter, sku_price_details, sub_account_id, sub_account_name, sub_account_type, x_pricing_block_size
                        ),
                        -- Does this month of this billing account have amortized rows? Then only those,
                        -- plus the actual commitment purchases and refunds, make FOCUS rows.
                        m.has_amortized,
                        -- FocusCost of the same month and account already holds both views: it wins.
                        m.has_focus
                    FROM {{raw}} AS a
                    -- Per (month, account) facts in one small aggregate joined back: a window over the
                    -- wide raw rows sorted all of them (measured: about half the mapping's time at 1M rows).
                    JOIN (
                        SELECT
                            billing_period,
                            coalesce(billing_profile_id, billing_account_id, customer_tenant_id, subscription_id) AS account_key,
                            bool_or(dataset = 'amortized') AS has_amortized,
                            bool_or(dataset = 'focus') AS has_focus
                        FROM {{raw}}
                        GROUP BY ALL
                    ) AS m
                        ON m.billing_period IS NOT DISTINCT FROM a.billing_period
                        AND m.account_key IS NOT DISTINCT FROM
                            coalesce(a.billing_profile_id, a.billing_account_id, a.customer_tenant_id, a.subscription_id)
                ) AS r
                WHERE r.dataset IN ('actual', 'amortized') AND NOT r.has_focus AND (
                    r.dataset = 'amortized'
                    OR NOT r.has_amortized
                    OR (r.charge_type IN ('Purchase', 'Refund') AND r.pricing_model IN ('Reservation', 'SavingsPlan'))
                )
            ) AS k
        ) AS t
    ) AS c
) AS x
LEFT JOIN ref_azure_regions AS g ON g.region_id = x.region_id
-- ServiceName/Category: the (ConsumedService, MeterCategory) row of sql/reference/azure_services.csv,
-- else its MeterCategory-only row, else its ConsumedService-only row.
LEFT JOIN ref_azure_services AS s1
    ON lower(s1.consumed_service) = lower(x.consumed_service) AND lower(s1.meter_category) = lower(x.meter_category)
LEFT JOIN ref_azure_services AS s2
    ON s2.consumed_service IS NULL AND lower(s2.meter_category) = lower(x.meter_category)
LEFT JOIN ref_azure_services AS s3
    ON lower(s3.consumed_service) = lower(x.consumed_service) AND s3.meter_category IS NULL
UNION ALL BY NAME
-- ==== FocusCost (Microsoft's FOCUS export, dataset 1.0 / 1.0r2 / 1.2-preview) upgraded to FOCUS 1.3 ====
-- Microsoft's values stay (costs, prices, charge and commitment columns, services, tags); only what
-- changed for 1.3 is adjusted or filled (columns in the order of the branch above, matched by name):
--   ServiceProviderName / HostProviderName from ProviderName / PublisherName (deprecated, both kept);
--   1.0's x_InvoiceId, x_PricingCurrency, x_SkuMeterName -> InvoiceId, PricingCurrency, SkuMeter
--     (the raw SELECT already put them in invoice_id, pricing_currency, meter_name);
--   1.3's null-when-SkuPriceId-is-null rule on prices, PricingQuantity/Unit/Category, ConsumedQuantity
--     and CommitmentDiscountQuantity; status columns only where 1.3 allows them;
--   where Microsoft leaves a column empty, its documented workaround (finops-toolkit
--     docs-mslearn/focus/conformance-summary.md): PublisherName null -> the provider; ServiceName
--     empty -> the marketplace publisher, else x_SkuMeterSubcategory; ChargeDescription empty (unused
--     savings plans ...) -> "Unused <type> <name>", else the meter names; SkuMeter empty on a row with
--     a SkuId (some purchases) -> x_SkuMeterCategory; SkuPriceDetails -> x_SkuDetails
--     with x_-prefixed keys; CapacityReservationId -> x_SkuDetails.VMCapacityReservationId (Unused when
--     the row's resource is the reservation itself); CommitmentDiscountQuantity -> the consumed (else
--     pricing) quantity x RINormalizationRatio for reservations, EffectiveCost for savings plans
--     (unit: the consumed/pricing unit, or the billing currency);
--   ServiceSubcategory (1.2-preview) kept when it is a 1.3 pair of its ServiceCategory, else from
--     sql/reference/azure_services.csv by ServiceName, else 'Other (<category>)';
--   PricingCurrency* (not delivered by Microsoft) from the billing-currency values and x_BillingExchangeRate.
--   AvailabilityZone, ContractApplied, Allocated* and x_charge_type are not in FocusCost: left out (null).
SELECT
    focus_money(f.billed_cost) AS BilledCost,
    f.billing_account_id AS BillingAccountId,
    f.billing_account_name AS BillingAccountName,
    f.billing_account_type AS BillingAccountType,
    f.billing_currency AS BillingCurrency,
    f.billing_period_end AS BillingPeriodEnd,
    f.billing_period_start AS BillingPeriodStart,
    f.capacity_reservation AS CapacityReservationId,
    CASE WHEN f.capacity_reservation IS NOT NULL AND f.charge_category = 'Usage'
         THEN coalesce(f.capacity_reservation_status,
                       CASE WHEN f.resource_id = f.capacity_reservation THEN 'Unused' ELSE 'Used' END) END
        AS CapacityReservationStatus,
    f.charge_category AS ChargeCategory,
    f.charge_class AS ChargeClass,
    f.description AS ChargeDescription,
    coalesce(f.charge_frequency, CASE WHEN f.charge_category = 'Purchase' THEN 'One-Time' ELSE 'Usage-Based' END)
        AS ChargeFrequency,
    f.charge_period_end AS ChargePeriodEnd,
    f.charge_period_start AS ChargePeriodStart,
    CASE WHEN f.commitment_id IS NOT NULL THEN f.commitment_discount_category END AS CommitmentDiscountCategory,
    f.commitment_id AS CommitmentDiscountId,
    CASE WHEN f.commitment_id IS NOT NULL THEN f.commitment_discount_name END AS CommitmentDiscountName,
    focus_money(f.commitment_quantity) AS CommitmentDiscountQuantity,
    CASE WHEN f.commitment_id IS NOT NULL AND f.charge_category = 'Usage' THEN f.commitment_discount_status END
        AS CommitmentDiscountStatus,
    CASE WHEN f.commitment_id IS NOT NULL THEN f.commitment_discount_type END AS CommitmentDiscountType,
    CASE WHEN f.commitment_quantity IS NOT NULL THEN f.commitment_unit END AS CommitmentDiscountUnit,
    focus_money(f.consumed) AS ConsumedQuantity,
    CASE WHEN f.consumed IS NOT NULL THEN f.consumed_unit END AS ConsumedUnit,
    focus_money(f.contracted_cost) AS ContractedCost,
    focus_money(focus_upgrade_priced(f.sku_price_id, f.contracted_unit_price)) AS ContractedUnitPrice,
    focus_money(f.effective_cost) AS EffectiveCost,
    focus_upgrade_host_provider(f.provider, f.publisher, f.resource_id) AS HostProviderName,
    f.invoice_id AS InvoiceId,
    f.invoice_issuer_name AS InvoiceIssuerName,
    focus_money(f.list_cost) AS ListCost,
    focus_money(focus_upgrade_priced(f.sku_price_id, f.list_unit_price)) AS ListUnitPrice,
    focus_upgrade_priced(f.sku_price_id, f.pricing_category) AS PricingCategory,
    f.pricing_currency_code AS PricingCurrency,
    focus_money(focus_upgrade_priced(f.sku_price_id, coalesce(f.pricing_currency_contracted_unit_price,
        CASE WHEN f.same_currency THEN f.contracted_unit_price ELSE f.contracted_unit_price / f.to_billing END)))
        AS PricingCurrencyContractedUnitPrice,
    focus_money(coalesce(f.pricing_currency_effective_cost,
        CASE WHEN f.same_currency THEN f.effective_cost ELSE f.effective_cost / f.to_billing END))
        AS PricingCurrencyEffectiveCost,
    focus_money(focus_upgrade_priced(f.sku_price_id, coalesce(f.pricing_currency_list_unit_price,
        CASE WHEN f.same_currency THEN f.list_unit_price ELSE f.list_unit_price / f.to_billing END)))
        AS PricingCurrencyListUnitPrice,
    focus_money(focus_upgrade_priced(f.sku_price_id, f.pricing_quantity)) AS PricingQuantity,
    CASE WHEN f.sku_price_id IS NOT NULL AND f.pricing_quantity IS NOT NULL THEN f.pricing_unit END AS PricingUnit,
    f.provider AS ProviderName,
    f.publisher AS PublisherName,
    f.region_id AS RegionId,
    CASE WHEN f.region_id IS NOT NULL THEN coalesce(f.region_name, g.region_name, f.region_id) END AS RegionName,
    f.resource_id AS ResourceId,
    CASE WHEN f.resource_id IS NOT NULL
         THEN coalesce(f.resource_name, nullif(regexp_extract(f.resource_id, '([^/]+)/?$', 1), '')) END
        AS ResourceName,
    CASE WHEN f.resource_id IS NOT NULL
         THEN coalesce(f.resource_type, f.extra_columns['x_ResourceType'], 'Resource') END AS ResourceType,
    f.category AS ServiceCategory,
    f.service AS ServiceName,
    focus_upgrade_service_provider(f.provider, f.publisher) AS ServiceProviderName,
    focus_subcategory(f.category, coalesce(v.service_subcategory, s.service_subcategory)) AS ServiceSubcategory,
    f.sku_id AS SkuId,
    CASE WHEN f.sku_id IS NOT NULL THEN coalesce(f.sku_meter, f.meter_name, f.meter_category) END AS SkuMeter,
    focus_upgrade_priced(f.sku_price_id, coalesce(f.price_details, f.sku_details_x)) AS SkuPriceDetails,
    f.sku_price_id AS SkuPriceId,
    f.sub_account_id AS SubAccountId,
    f.sub_account_name AS SubAccountName,
    CASE WHEN f.sub_account_id IS NOT NULL THEN coalesce(f.sub_account_type, 'Subscription') END AS SubAccountType,
    focus_tags(f.tags, CAST(NULL AS MAP(VARCHAR, VARCHAR))) AS Tags,
    lower(split_part(f.extra_columns['x_ResourceType'], '/', 1)) AS x_service_code,
    f.meter_sub_category AS x_usage_type,
    f.meter_name AS x_operation
FROM (
    SELECT
        d.*,
        -- Reservations count normalized units (instance size flexibility), savings plans money.
        focus_upgrade_priced(d.sku_price_id, coalesce(d.commitment_discount_quantity, CASE
            WHEN d.commitment_id IS NULL OR d.charge_category <> 'Usage' THEN NULL
            WHEN d.commitment_discount_category = 'Spend' THEN d.effective_cost
            ELSE coalesce(d.consumed, d.pricing_quantity)
                 * coalesce(TRY_CAST(d.sku_details ->> 'RINormalizationRatio' AS DECIMAL(38, 12)), 1)
        END)) AS commitment_quantity,
        coalesce(d.commitment_discount_unit, CASE
            WHEN d.commitment_discount_category = 'Spend' THEN d.billing_currency
            WHEN d.consumed IS NOT NULL THEN d.consumed_unit
            ELSE d.pricing_unit
        END) AS commitment_unit,
        coalesce(d.service_name, CASE WHEN d.publisher <> d.provider THEN d.publisher END,
                 d.meter_sub_category, d.meter_category, 'Unknown') AS service,
        coalesce(d.charge_description,
                 CASE WHEN d.commitment_discount_status = 'Unused'
                      THEN 'Unused ' || d.commitment_discount_type || ' ' || coalesce(d.commitment_discount_name, '') END,
                 nullif(concat_ws(' - ', d.meter_category, d.meter_sub_category, d.meter_name), '')) AS description
    FROM (
        SELECT
            r.* EXCLUDE (resource_id, commitment_discount_id),
            lower(r.resource_id) AS resource_id,
            lower(r.commitment_discount_id) AS commitment_id,
            coalesce(r.provider_name, 'Microsoft') AS provider,
            coalesce(r.publisher_name, r.provider_name, 'Microsoft') AS publisher,
            coalesce(r.service_category, 'Other') AS category,
            coalesce(r.pricing_currency, r.billing_currency) AS pricing_currency_code,
            coalesce(r.pricing_currency, r.billing_currency) = r.billing_currency AS same_currency,
            nullif(r.exchange_rate_pricing_to_billing, 0) AS to_billing,
            -- 1.3: consumption only on Usage rows that are not an unused commitment, and only when priced.
            focus_upgrade_priced(r.sku_price_id, CASE
                WHEN r.charge_category = 'Usage' AND coalesce(r.commitment_discount_status, '') <> 'Unused'
                THEN r.consumed_quantity END) AS consumed,
            CASE WHEN json_valid(r.additional_info) AND starts_with(ltrim(r.additional_info), '{')
                 THEN CAST(r.additional_info AS JSON) END AS sku_details,
            CASE WHEN json_valid(r.sku_price_details) AND starts_with(ltrim(r.sku_price_details), '{')
                      AND r.sku_price_details NOT IN ('{}')
                 THEN r.sku_price_details END AS price_details,
            CASE WHEN json_valid(r.additional_info) AND starts_with(ltrim(r.additional_info), '{')
                      AND r.additional_info NOT IN ('{}')
                 THEN CAST(to_json(map_from_entries(list_transform(
                        map_entries(json_transform(r.additional_info, '"MAP(VARCHAR, JSON)"')),
                        lambda e: {'key': 'x_' || e.key, 'value': e.value}))) AS VARCHAR) END AS sku_details_x,
            lower(coalesce(r.capacity_reservation_id, CASE
                WHEN json_valid(r.additional_info) THEN r.additional_info ->> 'VMCapacityReservationId' END))
                AS capacity_reservation
        FROM {{raw}} AS r
        WHERE r.dataset = 'focus'
    ) AS d
) AS f
LEFT JOIN ref_azure_regions AS g ON g.region_id = f.region_id
-- Microsoft's ServiceSubcategory when it is an allowed pair of its ServiceCategory ...
LEFT JOIN ref_focus_service_subcategories AS v
    ON v.service_category = f.category AND v.service_subcategory = f.service_subcategory
-- ... else the subcategory the reference table gives the service within that category.
LEFT JOIN (
    SELECT lower(service_name) AS service_name, service_category, min(service_subcategory) AS service_subcategory
    FROM ref_azure_services
    GROUP BY lower(service_name), service_category
    HAVING count(DISTINCT service_subcategory) = 1
) AS s ON s.service_name = lower(f.service) AND s.service_category = f.category
