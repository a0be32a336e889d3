-- GCP Cloud Billing export (detailed or standard, rows of cloud_gcp_billing_raw_daily) -> FOCUS 1.3 Cost and Usage.
-- One SELECT over {{raw}}; needs the macros and reference tables of sql/procedures/cloud/sp_cloud_1_convert_to_focus.sql
-- (ref_gcp_services keyed by service.id with a fallback on service.description, ref_gcp_regions), and
-- follows the mapping contract at its top: only the columns GCP states; the FOCUS wrapper adds the
-- lineage, x_source_provider, the PricingCurrency* columns (the export has one currency: the billing
-- currency and its prices) and a NULL for every other column (Allocated*, CapacityReservation*,
-- ContractApplied, InvoiceId, x_operation).
--
-- Rows: every export row gives one "charge" row, plus one Credit row per credit of a credit-row type.
-- Credits (credits[], nested in the charge row, amounts negative), by credits.type:
--   Discounts applied to the charge (FOCUS "Discount handling": a discount is applied on the row it
--   belongs to, never as a separate negated row): COMMITTED_USAGE_DISCOUNT, COMMITTED_USAGE_DISCOUNT_DOLLAR_BASE,
--   SUSTAINED_USAGE_DISCOUNT, DISCOUNT (contractual), RESELLER_MARGIN, SUBSCRIPTION_BENEFIT,
--   FEE_UTILIZATION_OFFSET. They are netted into the charge: BilledCost = EffectiveCost = cost + their sum.
--   Credit rows (money granted, not a rate): PROMOTION, FREE_TIER and any other / unknown type. Each becomes
--   a ChargeCategory = Credit row with the parent's dimensions, BilledCost = EffectiveCost = ListCost =
--   ContractedCost = the credit amount, and no price or quantity.
--   So the sum of BilledCost over a month = sum(cost) + sum(all credits) = the invoice total, as on Google's invoice.
-- Costs of a charge row:
--   BilledCost = cost + discount credits (what Google invoices for the row).
--   EffectiveCost = BilledCost, except for commitments (below): FOCUS defines it as the cost after every
--   discount *and* the applicable part of the prepaid purchases, one-time or recurring, that covered the charge.
--   ListCost       = ListUnitPrice x PricingQuantity when priced, else cost_at_list, else cost.
--   ContractedCost = ContractedUnitPrice x PricingQuantity when priced, else cost (GCP's cost is already at
--                    contracted rates; credits are not part of it).
--   Priced (SkuPriceId and the unit prices set) only for Usage/Purchase rows of a detailed export with
--   price.effective_price, usage.amount_in_pricing_units and usage.pricing_unit. ContractedUnitPrice =
--   price.effective_price / price.pricing_unit_quantity; ListUnitPrice = cost_at_list / PricingQuantity
--   (no pricing export is joined), else the contracted price.
-- ChargeCategory: cost_type regular -> Usage ("Commitment..." SKUs -> Purchase), tax -> Tax,
--   adjustment / rounding_error -> Adjustment; ChargeClass = Correction when any adjustment_info field is set.
-- Commitment discounts: CommitmentDiscountId = subscription.instance_id, else the CUD credit's id; on the
--   commitment fee rows and on usage carrying a COMMITTED_USAGE_DISCOUNT* credit. Category Usage (resource-based)
--   or Spend (DOLLAR_BASE credit / "dollar based" fee SKU). Status Used on such Usage rows.
-- Commitment fees are amortized (FOCUS: EffectiveCost is 0 on a commitment purchase; covered charges carry their
--   share of it; unused commitment goes on Usage rows with CommitmentDiscountStatus "Unused", as AWS's RIFee /
--   SavingsPlanRecurringFee are in mappings/aws.sql). A commitment's fee rows ("Commitment v1: ..." SKUs, Purchase,
--   Recurring) are billed hour by hour, and Google applies a commitment hour by hour (a covered hour never borrows
--   from another), so the period is the export row's hour: per commitment, invoice month, usage hour and unit
--   (CPU fees in hours, RAM fees in GiB-hours: each covers its own kind of usage),
--     committed = the fee rows' usage.amount_in_pricing_units (a resource-based fee is priced per committed unit),
--     covered   = per covered usage row, the part of its quantity its CUD credits paid for:
--                 amount_in_pricing_units x -(CUD credits) / cost (the credit reverses the covered part at the
--                 row's own price); for spend-based (Spend) commitments, -(CUD credits), in money,
--     used      = fee x min(1, covered / committed); a spend-based fee states no committed quantity, so one with
--                 covered usage in its hour counts as used whole (OpenCost spreads flexible CUD fees the same way).
--   The fee row keeps BilledCost and gets EffectiveCost 0; each covered row gets used x its covered / covered on
--   top of its billed cost; fee - used goes to a copy of the fee row: ChargeCategory Usage, Status Unused,
--   BilledCost/ListCost/ContractedCost 0, no price. Sum of EffectiveCost = sum of BilledCost (each share is
--   rounded to the 12 decimals of FOCUS money). A fee whose hour has no covered usage (including fees that
--   Google already offsets with FEE_UTILIZATION_OFFSET credits in the 2026 spend-based model, whose usage
--   carries no CUD credit) is unused whole; covered usage with no fee in its hour keeps its billed cost.
--   Why not keep the fee's EffectiveCost as Google does: Google's own FOCUS view template ("FOCUS (FinOps Open
--   Cost and Usage Specification) BigQuery View", last updated 2024-03-19, FOCUS 1.0; public copies e.g.
--   github.com/sidstefani/focus views/focus.view.lkml) sets EffectiveCost = BilledCost = cost + all credits on
--   every row, but maps the fee rows (cost_type regular) to ChargeCategory "Usage", not "Purchase", with no
--   Used/Unused status; the schema page of Google's native FOCUS export (Preview,
--   docs.cloud.google.com/billing/docs/how-to/export-data-bigquery-tables/focus-export) states no CUD
--   EffectiveCost rule. No Google definition makes a fee a Purchase that keeps its cost, so FOCUS's rule applies.
-- Marketplace: transaction_type THIRD_PARTY_RESELLER / THIRD_PARTY_AGENCY (or a seller_name) -> ServiceProviderName
--   = PublisherName = seller_name; Google still invoices. HostProviderName = Google Cloud when the row has a
--   region or a resource (it runs on Google's infrastructure), else the seller.
-- Tags (one JSON object; later sources win on the same key): project.labels (inherited, key as written) <
--   tags (Resource Manager tags, key "namespace/key" as GCP spells them) < labels (resource labels, key as
--   written) < system_labels (provider-defined, prefixed "gcp:" like AWS's "aws:" keys, e.g.
--   "gcp:compute.googleapis.com/machine_spec"). Label values stay strings (an empty value stays "").
-- Billing period: invoice.month is a US/Pacific month; BillingPeriodStart is its first instant
--   (00:00 America/Los_Angeles, i.e. 07:00 or 08:00 UTC), BillingPeriodEnd the first instant of the next month
--   (exclusive). CAST(BillingPeriodStart AS DATE) in UTC = raw billing_period.
-- SubAccount = the project (project.id / project.name); BillingAccount = billing_account_id (the export has
--   no account name: the id is shown, as the console does for an unnamed account).
WITH charges AS (
    -- Every export row as its charge row and its credit rows, with its costs and commitment, and what it
    -- brings to its commitment's hour: a fee, a committed quantity, a covered quantity (see the header).
    SELECT
        d.*,
        CASE WHEN d.commitment_id IS NOT NULL AND d.charge_category = 'Purchase' THEN d.billed_cost END
            AS commitment_fee,
        CASE WHEN d.commitment_id IS NOT NULL AND d.charge_category = 'Purchase' AND d.commitment_category = 'Usage'
             THEN d.usage_amount_in_pricing_units END AS committed_quantity,
        CASE
            WHEN d.commitment_id IS NULL OR d.charge_category <> 'Usage' OR d.cud_total >= 0 THEN NULL
            WHEN d.commitment_category = 'Spend' THEN -d.cud_total
            WHEN d.cost > 0 THEN d.usage_amount_in_pricing_units * -d.cud_total / d.cost
        END AS covered_quantity,
        -- Spend commitments count money; resource-based ones count their own unit.
        coalesce(CASE WHEN d.commitment_category = 'Spend' THEN d.currency ELSE d.pricing_unit END, '')
            AS commitment_unit
    FROM (
        SELECT
            c.*,
            CASE WHEN c.is_credit_row THEN c.cr.amount ELSE c.cost + c.discount_total END AS billed_cost,
            CASE
                WHEN c.is_credit_row THEN c.cr.amount
                WHEN c.has_price THEN c.list_unit_price * c.usage_amount_in_pricing_units
                ELSE coalesce(c.cost_at_list, c.cost)
            END AS list_cost,
            CASE
                WHEN c.is_credit_row THEN c.cr.amount
                WHEN c.has_price THEN c.contracted_unit_price * c.usage_amount_in_pricing_units
                ELSE c.cost
            END AS contracted_cost,
            CASE WHEN c.is_credit_row THEN NULL
                 WHEN c.is_commitment_fee OR c.cud IS NOT NULL
                     THEN coalesce(c.subscription_instance_id, c.cud.id, c.cud.full_name, c.cud.name) END AS commitment_id,
            CASE WHEN c.cud.type = 'COMMITTED_USAGE_DISCOUNT_DOLLAR_BASE' THEN 'Spend'
                 WHEN c.cud IS NULL AND c.sku_description ILIKE '%dollar%' THEN 'Spend'
                 ELSE 'Usage' END AS commitment_category
        FROM (
            SELECT
                p.*,
                CASE WHEN p.has_price THEN p.price_effective_price / coalesce(nullif(p.price_pricing_unit_quantity, 0), 1) END
                    AS contracted_unit_price,
                CASE
                    WHEN NOT p.has_price THEN NULL
                    WHEN p.cost_at_list IS NOT NULL AND p.usage_amount_in_pricing_units <> 0
                        THEN p.cost_at_list / p.usage_amount_in_pricing_units
                    ELSE p.price_effective_price / coalesce(nullif(p.price_pricing_unit_quantity, 0), 1)
                END AS list_unit_price
            FROM (
                SELECT
                    k.*,
                    NOT k.is_credit_row AND k.charge_category IN ('Usage', 'Purchase')
                        AND k.sku_id IS NOT NULL
                        AND k.price_effective_price IS NOT NULL
                        AND k.usage_amount_in_pricing_units IS NOT NULL
                        AND k.pricing_unit IS NOT NULL AS has_price
                FROM (
                    SELECT
                        u.*,
                        u.credit_idx > 0 AS is_credit_row,
                        CASE WHEN u.credit_idx > 0 THEN u.credit_rows[u.credit_idx] END AS cr,
                        CASE WHEN u.credit_idx > 0 THEN NULL ELSE u.cud_credit END AS cud,
                        CASE
                            WHEN u.credit_idx > 0 THEN 'Credit'
                            WHEN u.cost_type = 'tax' THEN 'Tax'
                            WHEN u.cost_type IN ('adjustment', 'rounding_error') THEN 'Adjustment'
                            WHEN u.is_commitment_fee THEN 'Purchase'
                            ELSE 'Usage'
                        END AS charge_category
                    FROM (
                        SELECT
                            t.*,
                            -- One charge row (0) and one row per credit-row credit (1..n), repeated in the same scan.
                            UNNEST(range(0, 1 + coalesce(array_length(t.credit_rows), 0))) AS credit_idx
                        FROM (
                            SELECT
                                r.*,
                                coalesce(r.resource_global_name, r.resource_name) AS resource_id,
                                r.adjustment_info_id IS NOT NULL OR r.adjustment_info_description IS NOT NULL
                                    OR r.adjustment_info_mode IS NOT NULL OR r.adjustment_info_type IS NOT NULL
                                    AS is_correction,
                                coalesce(r.cost_type, 'regular') = 'regular' AND r.sku_description ILIKE 'Commitment%'
                                    AS is_commitment_fee,
                                CASE WHEN r.transaction_type IN ('THIRD_PARTY_RESELLER', 'THIRD_PARTY_AGENCY')
                                          OR (r.seller_name IS NOT NULL AND r.seller_name NOT ILIKE 'Google%')
                                     THEN coalesce(r.seller_name, 'Google Cloud Marketplace')
                                     ELSE 'Google Cloud' END AS service_provider,
                                -- GCP spells pricing units in lower case singular ('gibibyte month', 'hour').
                                CASE r.usage_pricing_unit
                                    WHEN 'hour' THEN 'Hours'
                                    WHEN 'gibibyte' THEN 'GiB'
                                    WHEN 'gibibyte month' THEN 'GiB-Months'
                                    WHEN 'gibibyte hour' THEN 'GiB-Hours'
                                    WHEN 'tebibyte' THEN 'TiB'
                                    WHEN 'month' THEN 'Months'
                                    WHEN 'count' THEN 'Count'
                                    WHEN 'request' THEN 'Requests'
                                    ELSE r.usage_pricing_unit
                                END AS pricing_unit,
                                list_filter(r.credit_list, lambda c: c.type IS NULL OR c.type NOT IN (
                                    'COMMITTED_USAGE_DISCOUNT', 'COMMITTED_USAGE_DISCOUNT_DOLLAR_BASE', 'SUSTAINED_USAGE_DISCOUNT',
                                    'DISCOUNT', 'RESELLER_MARGIN', 'SUBSCRIPTION_BENEFIT', 'FEE_UTILIZATION_OFFSET')) AS credit_rows,
                                coalesce(list_sum(list_transform(list_filter(r.credit_list, lambda c: c.type IN (
                                    'COMMITTED_USAGE_DISCOUNT', 'COMMITTED_USAGE_DISCOUNT_DOLLAR_BASE', 'SUSTAINED_USAGE_DISCOUNT',
                                    'DISCOUNT', 'RESELLER_MARGIN', 'SUBSCRIPTION_BENEFIT', 'FEE_UTILIZATION_OFFSET')),
                                    lambda c: c.amount)), 0) AS discount_total,
                                list_filter(r.credit_list, lambda c: c.type LIKE 'COMMITTED_USAGE_DISCOUNT%')[1] AS cud_credit,
                                -- What the row's commitments covered, at the row's own price (the credits' sum; negative).
                                coalesce(list_sum(list_transform(list_filter(r.credit_list, lambda c: c.type LIKE 'COMMITTED_USAGE_DISCOUNT%'),
                                    lambda c: c.amount)), 0) AS cud_total,
                                map_concat(
                                    coalesce(r.project_labels, CAST(MAP {} AS MAP(VARCHAR, VARCHAR))),
                                    coalesce(map_from_entries(list_transform(
                                        list_distinct(list_transform(r.tag_list, lambda e: coalesce(e.namespace || '/', '') || e.key)),
                                        lambda k: {'key': k, 'value': list_filter(r.tag_list,
                                            lambda e: coalesce(e.namespace || '/', '') || e.key = k)[-1].value})),
                                        CAST(MAP {} AS MAP(VARCHAR, VARCHAR))),
                                    coalesce(r.labels, CAST(MAP {} AS MAP(VARCHAR, VARCHAR))),
                                    coalesce(map_from_entries(list_transform(map_entries(r.system_labels),
                                        lambda e: {'key': 'gcp:' || e.key, 'value': e.value})),
                                        CAST(MAP {} AS MAP(VARCHAR, VARCHAR)))
                                ) AS all_tags
                            FROM (
                                SELECT
                                    raw.*,
                                    CASE WHEN raw.credits IS NOT NULL THEN json_transform(raw.credits,
                                        '[{"name":"VARCHAR","amount":"DECIMAL(38,12)","full_name":"VARCHAR","id":"VARCHAR","type":"VARCHAR"}]')
                                    END AS credit_list,
                                    CASE WHEN raw.tags IS NOT NULL THEN json_transform(raw.tags,
                                        '[{"key":"VARCHAR","value":"VARCHAR","inherited":"BOOLEAN","namespace":"VARCHAR"}]')
                                    END AS tag_list
                                FROM {{raw}} AS raw
                            ) AS r
                        ) AS t
                    ) AS u
                ) AS k
            ) AS p
        ) AS c
    ) AS d
),
commitment_hours AS (
    -- Per commitment, invoice month, hour and unit: its fee, what it committed to, what it covered, the
    -- used share (utilization) and the used part of the fee (a whole or no fee is kept exact, not taken
    -- through a DOUBLE ratio).
    SELECT
        u.*,
        CASE WHEN u.utilization >= 1 THEN u.hour_fee WHEN u.utilization <= 0 THEN 0
             ELSE focus_money(u.hour_fee * u.utilization) END AS hour_used
    FROM (
        SELECT
            h.*,
            CASE WHEN coalesce(h.hour_covered, 0) <= 0 THEN 0
                 WHEN coalesce(h.hour_committed, 0) <= 0 THEN 1
                 ELSE least(1, h.hour_covered / h.hour_committed) END AS utilization
        FROM (
            SELECT
                commitment_id AS hour_commitment_id,
                billing_period AS hour_billing_period,
                usage_start_time AS hour_start,
                usage_end_time AS hour_end,
                commitment_unit AS hour_unit,
                sum(commitment_fee) AS hour_fee,
                sum(committed_quantity) AS hour_committed,
                sum(covered_quantity) AS hour_covered
            FROM charges
            WHERE commitment_fee IS NOT NULL OR covered_quantity IS NOT NULL
            GROUP BY ALL
        ) AS h
    ) AS u
)
SELECT
    x.location_zone AS AvailabilityZone,
    focus_money(x.billed_cost) AS BilledCost,
    x.billing_account_id AS BillingAccountId,
    x.billing_account_id AS BillingAccountName,
    'Billing Account' AS BillingAccountType,
    x.currency AS BillingCurrency,
    timezone('America/Los_Angeles', CAST(x.billing_period + INTERVAL 1 MONTH AS TIMESTAMP)) AS BillingPeriodEnd,
    timezone('America/Los_Angeles', CAST(x.billing_period AS TIMESTAMP)) AS BillingPeriodStart,
    x.charge_category AS ChargeCategory,
    CASE WHEN x.is_correction THEN 'Correction' END AS ChargeClass,
    CASE WHEN x.is_credit_row THEN coalesce(x.cr.full_name, x.cr.name, x.cr.type)
         WHEN x.is_unused THEN 'Unused commitment: ' || coalesce(x.sku_description, '')
         ELSE coalesce(x.adjustment_info_description, x.sku_description) END AS ChargeDescription,
    CASE WHEN x.charge_category = 'Purchase' THEN 'Recurring' ELSE 'Usage-Based' END AS ChargeFrequency,
    x.usage_end_time AS ChargePeriodEnd,
    x.usage_start_time AS ChargePeriodStart,
    CASE WHEN x.commitment_id IS NOT NULL THEN x.commitment_category END AS CommitmentDiscountCategory,
    x.commitment_id AS CommitmentDiscountId,
    CASE WHEN x.commitment_id IS NOT NULL THEN coalesce(x.cud.full_name, x.cud.name, x.sku_description) END
        AS CommitmentDiscountName,
    focus_money(CASE
        WHEN x.commitment_id IS NULL OR x.charge_category <> 'Usage' OR NOT x.has_price THEN NULL
        WHEN x.commitment_category = 'Spend' THEN -x.cud.amount
        ELSE x.usage_amount_in_pricing_units
    END) AS CommitmentDiscountQuantity,
    CASE WHEN x.commitment_id IS NOT NULL AND x.charge_category = 'Usage'
         THEN CASE WHEN x.is_unused THEN 'Unused' ELSE 'Used' END END AS CommitmentDiscountStatus,
    CASE WHEN x.commitment_id IS NOT NULL THEN 'Committed Use Discount' END AS CommitmentDiscountType,
    CASE
        WHEN x.commitment_id IS NULL OR x.charge_category <> 'Usage' OR NOT x.has_price THEN NULL
        WHEN x.commitment_category = 'Spend' THEN x.currency
        ELSE x.pricing_unit
    END AS CommitmentDiscountUnit,
    focus_money(CASE WHEN x.has_price AND x.charge_category = 'Usage' THEN x.usage_amount END) AS ConsumedQuantity,
    CASE WHEN x.has_price AND x.charge_category = 'Usage' THEN x.usage_unit END AS ConsumedUnit,
    focus_money(x.contracted_cost) AS ContractedCost,
    focus_money(x.contracted_unit_price) AS ContractedUnitPrice,
    focus_money(x.effective_cost) AS EffectiveCost,
    CASE WHEN x.service_provider = 'Google Cloud' THEN 'Google Cloud'
         WHEN x.location_region IS NOT NULL OR x.resource_global_name IS NOT NULL THEN 'Google Cloud'
         ELSE x.service_provider END AS HostProviderName,
    'Google Cloud' AS InvoiceIssuerName,
    focus_money(x.list_cost) AS ListCost,
    focus_money(x.list_unit_price) AS ListUnitPrice,
    CASE
        WHEN NOT x.has_price THEN NULL
        WHEN x.charge_category = 'Purchase' THEN 'Standard'
        WHEN x.commitment_id IS NOT NULL THEN 'Committed'
        WHEN x.sku_description ILIKE '%preemptible%' OR x.sku_description ILIKE 'spot %' THEN 'Dynamic'
        ELSE 'Standard'
    END AS PricingCategory,
    focus_money(CASE WHEN x.has_price THEN x.usage_amount_in_pricing_units END) AS PricingQuantity,
    CASE WHEN x.has_price THEN x.pricing_unit END AS PricingUnit,
    'Google Cloud' AS ProviderName,
    x.service_provider AS PublisherName,
    x.location_region AS RegionId,
    CASE WHEN x.location_region IS NOT NULL THEN coalesce(g.region_name, x.location_region) END AS RegionName,
    x.resource_id AS ResourceId,
    x.resource_name AS ResourceName,
    CASE WHEN x.resource_id IS NOT NULL
         THEN coalesce(nullif(regexp_extract(x.resource_global_name, '^//[^/]+/.*/([^/]+)/[^/]+$', 1), ''),
                       x.service_description) END AS ResourceType,
    coalesce(s1.service_category, s2.service_category, 'Other') AS ServiceCategory,
    x.service_description AS ServiceName,
    x.service_provider AS ServiceProviderName,
    focus_subcategory(coalesce(s1.service_category, s2.service_category),
                      coalesce(s1.service_subcategory, s2.service_subcategory)) AS ServiceSubcategory,
    CASE WHEN x.charge_category <> 'Tax' THEN x.sku_id END AS SkuId,  -- FOCUS: SkuId is null on Tax rows
    CASE WHEN x.sku_id IS NOT NULL AND x.charge_category <> 'Tax' THEN x.sku_description END AS SkuMeter,
    CASE WHEN x.has_price THEN CAST(json_object(
        'x_PriceUnit', x.price_unit,
        'x_PricingUnitQuantity', x.price_pricing_unit_quantity,
        'x_TierStartAmount', x.price_tier_start_amount) AS VARCHAR) END AS SkuPriceDetails,
    CASE WHEN x.has_price THEN x.sku_id || ':' || coalesce(CAST(CAST(x.price_tier_start_amount AS DOUBLE) AS VARCHAR), '0') END
        AS SkuPriceId,
    x.project_id AS SubAccountId,
    coalesce(x.project_name, x.project_id) AS SubAccountName,
    CASE WHEN x.project_id IS NOT NULL THEN 'Project' END AS SubAccountType,
    focus_tags(CASE WHEN cardinality(x.all_tags) > 0 THEN x.all_tags END, CAST(NULL AS MAP(VARCHAR, VARCHAR))) AS Tags,
    x.service_id AS x_service_code,
    x.sku_description AS x_usage_type,
    CASE WHEN x.is_credit_row THEN coalesce(x.cr.type, 'CREDIT') ELSE coalesce(x.cost_type, 'regular') END AS x_charge_type
FROM (
    SELECT
        -- The Unused copy of a fee row is a Usage row that bills, lists and prices nothing.
        a.* REPLACE (
            CASE WHEN a.is_unused THEN 'Usage' ELSE a.charge_category END AS charge_category,
            a.has_price AND NOT a.is_unused AS has_price,
            CASE WHEN NOT a.is_unused THEN a.list_unit_price END AS list_unit_price,
            CASE WHEN NOT a.is_unused THEN a.contracted_unit_price END AS contracted_unit_price,
            CASE WHEN a.is_unused THEN 0 ELSE a.billed_cost END AS billed_cost,
            CASE WHEN a.is_unused THEN 0 ELSE a.list_cost END AS list_cost,
            CASE WHEN a.is_unused THEN 0 ELSE a.contracted_cost END AS contracted_cost
        ),
        CASE
            WHEN a.is_unused THEN a.unused_fee
            WHEN a.commitment_fee IS NOT NULL THEN 0
            ELSE a.billed_cost + coalesce(a.amortized_fee, 0)
        END AS effective_cost
    FROM (
        SELECT
            j.*,
            -- A fee row with an unused part is emitted a second time, as that part (UNNEST repeats the row
            -- in the same scan, as for the credit rows).
            UNNEST(CASE WHEN j.unused_fee <> 0 THEN [false, true] ELSE [false] END) AS is_unused
        FROM (
            SELECT
                ch.*,
                ch.commitment_fee - CASE
                    WHEN hr.utilization >= 1 THEN ch.commitment_fee
                    WHEN hr.utilization <= 0 THEN 0
                    ELSE focus_money(ch.commitment_fee * hr.utilization)
                END AS unused_fee,
                CASE
                    WHEN ch.covered_quantity = hr.hour_covered THEN hr.hour_used
                    ELSE focus_money(hr.hour_used * ch.covered_quantity / hr.hour_covered)
                END AS amortized_fee
            FROM charges AS ch
            LEFT JOIN commitment_hours AS hr
                ON hr.hour_commitment_id = ch.commitment_id
                AND hr.hour_billing_period = ch.billing_period
                AND hr.hour_start = ch.usage_start_time
                AND hr.hour_end = ch.usage_end_time
                AND hr.hour_unit = ch.commitment_unit
        ) AS j
    ) AS a
) AS x
LEFT JOIN ref_gcp_services AS s1 ON s1.product_code = x.service_id
LEFT JOIN ref_gcp_services AS s2 ON s1.product_code IS NULL AND s2.service_name = x.service_description
LEFT JOIN ref_gcp_regions AS g ON g.region_id = x.location_region
