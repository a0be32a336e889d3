-- OCI cost and usage reports -> FOCUS 1.3 Cost and Usage.
-- One query over {{raw}} (rows of cloud_oci_billing_raw_daily); focus_svc substitutes the relation.
-- Needs the macros and reference tables of sql/procedures/cloud/sp_cloud_1_convert_to_focus.sql
-- (focus_money, focus_subcategory, focus_tags and the "upgrade FOCUS 1.x" macros), and follows the
-- mapping contract at its top: each branch states only OCI's columns; the FOCUS wrapper adds to each
-- the lineage, x_source_provider, the PricingCurrency* columns (OCI bills in the currency it prices in:
-- the branch's billing currency and prices) and a NULL for every column it leaves out (Allocated*,
-- CapacityReservation*, ContractApplied, x_operation, CommitmentDiscountQuantity/Unit; the cost report
-- also every other CommitmentDiscount* column and InvoiceId).
-- Two branches, told apart by the raw source_format, joined with UNION ALL BY NAME:
--   oci_cost_csv  : the proprietary cost report (reports/cost-csv), mapped column by column.
--   oci_focus_csv : OCI's own FOCUS report (FOCUS Reports/), 1.0-preview or 1.0 names, UPGRADED to
--                   1.3: OCI's values are kept, renamed columns take their 1.3 names, and only what
--                   1.3 added or tightened is derived.
--
-- One row per line item, before either branch:
--   Duplicates: a report file delivered twice (two object names, same rows) is read twice into raw
--   (raw keeps both copies, each with its source_object). The line item id (lineItem/referenceNo,
--   oci_ReferenceNumber) plus its interval start identifies a row; when several objects hold it,
--   only the first object's copy (by object name) reaches FOCUS. Rows of one object are distinct
--   line items: none is dropped.
--   Corrections: Oracle's documentation ("Cost and Usage Reports", docs.oracle.com/iaas/Content/
--   Billing/Concepts/costusagereportsoverview.htm) says only that corrections are added as new rows,
--   with lineItem/isCorrection set and lineItem/backreferenceNo holding the referenceNo of the
--   corrected line. It does not say whether the correction carries the corrected full value or a
--   delta (the question is open on Oracle Customer Connect, thread 934420, without an answer from
--   Oracle). Being silent, we take the reading that cannot double count: a correction RESTATES the
--   line it points back to (full value). The corrected line is superseded: it stays in raw, but not
--   in FOCUS; the correction row carries ChargeClass = Correction and its own value. A correction
--   of a correction supersedes that one in turn, so the latest statement of a line wins. The FOCUS
--   report's oci_BackReferenceNumber is the same signal (OCI writes no isCorrection there).
--   A correction supersedes only within its own billing period (the run's slice key): an earlier
--   month stays as invoiced, and the result never depends on which months a run converts together.
--   A correction whose original is not in its billing period (an earlier month, or a report never
--   loaded) therefore counts with its own value, marked x_charge_type 'Correction (original not in
--   period)' so such rows can be found and reconciled.
-- Both facts come from a narrow pass over the rows' keys (line_keys) and are joined back to the wide
-- rows as small lookups: deduplicating the wide rows themselves (a window over every column) was
-- most of a conversion's time (1M rows: 5.5 of 16 CPU seconds).
WITH keyed AS NOT MATERIALIZED (
    SELECT
        r.*,
        coalesce(r.line_item_reference_no, r.oci_reference_number) AS line_ref,
        coalesce(r.line_item_backreference_no, r.oci_back_reference_number) AS back_ref,
        coalesce(r.line_item_interval_usage_start, r.focus_charge_period_start) AS line_start,
        coalesce(r.line_item_is_correction, false)
            OR r.oci_back_reference_number IS NOT NULL
            OR r.focus_charge_class = 'Correction' AS is_correction
    FROM {{raw}} AS r
),

line_keys AS MATERIALIZED (
    SELECT source_format, billing_period, source_object, line_ref, back_ref, line_start, is_correction
    FROM keyed
),

-- Line items that more than one object holds, and the object whose copy counts.
later_copies AS (
    SELECT source_format, line_ref, line_start, min(source_object) AS first_object
    FROM line_keys
    WHERE line_ref IS NOT NULL
    GROUP BY source_format, line_ref, line_start
    HAVING count(DISTINCT source_object) > 1
),

-- The keys of the rows that reach FOCUS before corrections: every line item once.
line_items AS (
    SELECT k.*
    FROM line_keys AS k
    ANTI JOIN later_copies AS d
        ON d.source_format = k.source_format AND d.line_ref = k.line_ref
        AND d.line_start IS NOT DISTINCT FROM k.line_start AND k.source_object <> d.first_object
),

-- Lines a later correction restates (a correction never supersedes itself).
superseded AS (
    SELECT DISTINCT source_format, billing_period, back_ref AS line_ref
    FROM line_items
    WHERE is_correction AND back_ref IS DISTINCT FROM line_ref
),

-- The corrections whose original line is in their billing period.
with_original AS (
    SELECT DISTINCT c.source_format, c.billing_period, c.back_ref
    FROM line_items AS c
    SEMI JOIN line_items AS o
        ON o.line_ref = c.back_ref AND o.source_format = c.source_format AND o.billing_period = c.billing_period
    WHERE c.is_correction
),

current_lines AS (
    SELECT
        l.*,
        l.is_correction AND w.back_ref IS NOT NULL AS has_original
    FROM keyed AS l
    LEFT JOIN with_original AS w
        ON w.back_ref = l.back_ref AND w.source_format = l.source_format AND w.billing_period = l.billing_period
    ANTI JOIN later_copies AS d
        ON d.source_format = l.source_format AND d.line_ref = l.line_ref
        AND d.line_start IS NOT DISTINCT FROM l.line_start AND l.source_object <> d.first_object
    ANTI JOIN superseded AS c
        ON c.line_ref = l.line_ref AND c.source_format = l.source_format AND c.billing_period = l.billing_period
),

-- ---- Branch 1: the cost report ----------------------------------------------------------------
-- Cost columns: the cost report states one amount, cost/myCost (= cost/unitPrice x usage/billedQuantity,
-- the customer's contracted price, overage included). No list price and no commitment amortization
-- are reported, so:
--   BilledCost = EffectiveCost = ContractedCost = cost/myCost
--   ListCost   = ListUnitPrice x PricingQuantity, ListUnitPrice = cost/unitPrice (no list price exists
--                in the report; OCI's own FOCUS report does the same), else cost/myCost.
-- Corrections: ChargeClass = Correction, same ChargeCategory as what they correct (Usage).
-- BillingPeriod: the UTC calendar month of intervalUsageStart (the raw billing_period).
cost_report AS (
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
        ) AS has_price
    FROM current_lines AS r
    WHERE r.source_format = 'oci_cost_csv'
),

-- OCI's FOCUS ServiceName: its service code (COMPUTE) or a display name (Block Volume); either finds
-- the service in sql/reference/oci_services.csv, codes first.
service_names AS (
    SELECT *
    FROM (
        SELECT product_code AS name_key, 1 AS preference, * FROM ref_oci_services
        UNION ALL
        SELECT upper(replace(service_name, ' ', '_')) AS name_key, 2 AS preference, * FROM ref_oci_services
    )
    QUALIFY row_number() OVER (PARTITION BY name_key ORDER BY preference) = 1
),

-- ---- Branch 2: OCI's FOCUS report, upgraded --------------------------------------------------
-- Kept as OCI states them: BilledCost, EffectiveCost, the periods, ChargeCategory, ChargeFrequency,
-- ServiceName, ServiceCategory (when a 1.3 category), the account, resource, SKU and commitment ids,
-- Tags, ProviderName and PublisherName (deprecated in 1.3, still Mandatory: emitted beside their
-- successors). Renamed: Provider/Publisher/InvoiceIssuer -> *Name, Region -> RegionId (+ RegionName
-- from sql/reference/oci_regions.csv), UsageQuantity/UsageUnit -> ConsumedQuantity/ConsumedUnit,
-- PricingCategory On-Demand/Commitment-Based (1.0-preview) -> Standard/Committed (1.0+).
-- Derived: ChargeClass (correction signal), ServiceProviderName/HostProviderName (Oracle itself
-- unless a third-party Publisher sells it), CommitmentDiscountStatus (ChargeSubcategory Used/Unused
-- Commitment), ServiceSubcategory (one consistent with the category), SkuPriceId = SkuId when OCI
-- leaves it empty on a priced row (one price per SKU and subscription, as in the cost report), and
-- the 1.3 identities ListCost = ListUnitPrice x PricingQuantity and ContractedCost =
-- ContractedUnitPrice x PricingQuantity (ContractedUnitPrice: OCI's, else its unit price, the only
-- price it states; BilledCost where no price exists). The oci_* extensions have no column in
-- cost_data_standard_1_3 and stay in raw, except oci_OverageFlag in SkuPriceDetails (x_OverageFlag).
focus_report AS (
    SELECT
        f.*,
        coalesce(f.focus_provider_name, 'Oracle') AS provider,
        -- Oracle publishing its own service is no third-party seller (1.3 migration: a direct purchase
        -- is SP = HP = the provider); the upgrade macros then see no publisher.
        CASE
            WHEN lower(trim(f.focus_publisher_name)) IN ('oracle', 'oci', 'oracle cloud infrastructure')
                OR f.focus_publisher_name = f.focus_provider_name THEN NULL
            ELSE f.focus_publisher_name
        END AS third_party,
        coalesce(
            f.focus_sku_price_id,
            CASE WHEN f.focus_sku_id IS NOT NULL AND f.focus_list_unit_price IS NOT NULL
                AND f.focus_pricing_quantity IS NOT NULL AND f.focus_pricing_unit IS NOT NULL
                THEN f.focus_sku_id END
        ) AS sku_price_id,
        CASE
            WHEN f.focus_commitment_discount_id IS NULL OR f.focus_charge_category <> 'Usage' THEN NULL
            WHEN f.focus_commitment_discount_status IN ('Used', 'Unused') THEN f.focus_commitment_discount_status
            WHEN f.focus_charge_subcategory = 'Unused Commitment' THEN 'Unused'
            ELSE 'Used'
        END AS commitment_status,
        CASE
            WHEN f.focus_service_category IN (SELECT service_category FROM ref_focus_service_subcategories)
                THEN f.focus_service_category
            ELSE coalesce(s.service_category, 'Other')
        END AS service_category,
        s.service_category AS ref_category,
        s.service_subcategory AS ref_subcategory,
        g.region_name AS ref_region_name
    FROM current_lines AS f
    LEFT JOIN service_names AS s ON s.name_key = upper(replace(f.focus_service_name, ' ', '_'))
    LEFT JOIN ref_oci_regions AS g ON g.region_id = f.focus_region_id
    WHERE f.source_format = 'oci_focus_csv'
),

focus_priced AS (
    SELECT
        x.*,
        focus_upgrade_priced(x.sku_price_id, x.focus_list_unit_price) AS list_unit_price,
        focus_upgrade_priced(x.sku_price_id, coalesce(x.focus_contracted_unit_price, x.focus_list_unit_price))
            AS contracted_unit_price,
        focus_upgrade_priced(x.sku_price_id, x.focus_pricing_quantity) AS pricing_quantity,
        -- ConsumedQuantity/Unit: Usage rows with a price and no unused commitment (1.3 nullability).
        x.focus_charge_category = 'Usage' AND x.sku_price_id IS NOT NULL
            AND x.commitment_status IS DISTINCT FROM 'Unused' AS measured
    FROM focus_report AS x
)

SELECT
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
    'Usage' AS ChargeCategory,
    CASE WHEN x.is_correction THEN 'Correction' END AS ChargeClass,
    coalesce(x.product_description, x.cost_product_sku, x.product_service) AS ChargeDescription,
    'Usage-Based' AS ChargeFrequency,
    x.line_item_interval_usage_end AS ChargePeriodEnd,
    x.line_item_interval_usage_start AS ChargePeriodStart,
    focus_money(CASE WHEN x.has_price THEN x.usage_billed_quantity END) AS ConsumedQuantity,
    -- Units as OCI writes them ('GB Months', 'Million Datapoints'): the FOCUS wrapper maps them to Unit
    -- Format (sql/reference/focus_units.csv) and keeps them in x_*_unit_raw.
    CASE WHEN x.has_price THEN x.cost_sku_unit_description END AS ConsumedUnit,
    focus_money(x.cost_my_cost) AS ContractedCost,
    focus_money(CASE WHEN x.has_price THEN x.cost_unit_price END) AS ContractedUnitPrice,
    focus_money(x.cost_my_cost) AS EffectiveCost,
    'Oracle' AS HostProviderName,
    'Oracle' AS InvoiceIssuerName,
    focus_money(CASE WHEN x.has_price THEN x.cost_unit_price * x.usage_billed_quantity ELSE x.cost_my_cost END)
        AS ListCost,
    focus_money(CASE WHEN x.has_price THEN x.cost_unit_price END) AS ListUnitPrice,
    CASE WHEN x.has_price THEN 'Standard' END AS PricingCategory,
    focus_money(CASE WHEN x.has_price THEN x.usage_billed_quantity END) AS PricingQuantity,
    CASE WHEN x.has_price THEN x.cost_sku_unit_description END AS PricingUnit,
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
    x.product_service AS x_service_code,
    x.cost_billing_unit_readable AS x_usage_type,
    CASE
        WHEN x.is_correction AND NOT x.has_original THEN 'Correction (original not in period)'
        WHEN x.is_correction THEN 'Correction'
        ELSE 'Usage'
    END AS x_charge_type
FROM cost_report AS x
LEFT JOIN ref_oci_services AS s ON s.product_code = x.product_service
LEFT JOIN ref_oci_regions AS g ON g.region_id = x.product_region

UNION ALL BY NAME

SELECT
    x.focus_availability_zone AS AvailabilityZone,
    focus_money(x.focus_billed_cost) AS BilledCost,
    x.focus_billing_account_id AS BillingAccountId,
    x.focus_billing_account_name AS BillingAccountName,
    -- OCI's FOCUS BillingAccountId is its billing (customer) account number, not the tenancy OCID.
    CASE WHEN x.focus_billing_account_id LIKE 'ocid1.tenancy.%' THEN 'Tenancy' ELSE 'Billing Account' END
        AS BillingAccountType,
    x.focus_billing_currency AS BillingCurrency,
    coalesce(x.focus_billing_period_end, x.focus_billing_period_start + INTERVAL 1 MONTH) AS BillingPeriodEnd,
    x.focus_billing_period_start AS BillingPeriodStart,
    x.focus_charge_category AS ChargeCategory,
    CASE WHEN x.is_correction THEN 'Correction' END AS ChargeClass,
    x.focus_charge_description AS ChargeDescription,
    CASE
        WHEN x.focus_charge_frequency IN ('One-Time', 'Recurring', 'Usage-Based') THEN x.focus_charge_frequency
        WHEN x.focus_charge_category = 'Usage' THEN 'Usage-Based'
        ELSE 'One-Time'
    END AS ChargeFrequency,
    x.focus_charge_period_end AS ChargePeriodEnd,
    x.focus_charge_period_start AS ChargePeriodStart,
    CASE WHEN x.focus_commitment_discount_id IS NOT NULL THEN x.focus_commitment_discount_category END
        AS CommitmentDiscountCategory,
    x.focus_commitment_discount_id AS CommitmentDiscountId,
    CASE WHEN x.focus_commitment_discount_id IS NOT NULL THEN x.focus_commitment_discount_name END
        AS CommitmentDiscountName,
    x.commitment_status AS CommitmentDiscountStatus,
    CASE WHEN x.focus_commitment_discount_id IS NOT NULL THEN x.focus_commitment_discount_type END
        AS CommitmentDiscountType,
    focus_money(CASE WHEN x.measured THEN coalesce(x.focus_consumed_quantity, x.pricing_quantity) END)
        AS ConsumedQuantity,
    CASE WHEN x.measured THEN coalesce(x.focus_consumed_unit, x.focus_pricing_unit) END AS ConsumedUnit,
    focus_money(CASE
        WHEN x.contracted_unit_price IS NOT NULL AND x.pricing_quantity IS NOT NULL
            THEN x.contracted_unit_price * x.pricing_quantity
        ELSE coalesce(x.focus_contracted_cost, x.focus_billed_cost)
    END) AS ContractedCost,
    focus_money(x.contracted_unit_price) AS ContractedUnitPrice,
    focus_money(coalesce(x.focus_effective_cost, x.focus_billed_cost)) AS EffectiveCost,
    focus_upgrade_host_provider(x.provider, x.third_party, x.focus_resource_id) AS HostProviderName,
    x.focus_invoice_id AS InvoiceId,
    coalesce(x.focus_invoice_issuer_name, x.provider) AS InvoiceIssuerName,
    focus_money(CASE
        WHEN x.list_unit_price IS NOT NULL AND x.pricing_quantity IS NOT NULL
            THEN x.list_unit_price * x.pricing_quantity
        ELSE coalesce(x.focus_list_cost, x.focus_billed_cost)
    END) AS ListCost,
    focus_money(x.list_unit_price) AS ListUnitPrice,
    focus_upgrade_priced(x.sku_price_id, CASE
        WHEN x.focus_pricing_category IN ('Standard', 'On-Demand') OR x.focus_pricing_category IS NULL THEN 'Standard'
        WHEN x.focus_pricing_category IN ('Committed', 'Commitment-Based') THEN 'Committed'
        WHEN x.focus_pricing_category = 'Dynamic' THEN 'Dynamic'
        ELSE 'Other'
    END) AS PricingCategory,
    focus_money(x.pricing_quantity) AS PricingQuantity,
    focus_upgrade_priced(x.sku_price_id, x.focus_pricing_unit) AS PricingUnit,
    x.provider AS ProviderName,
    coalesce(x.focus_publisher_name, x.provider) AS PublisherName,
    x.focus_region_id AS RegionId,
    CASE WHEN x.focus_region_id IS NOT NULL
         THEN coalesce(x.focus_region_name, x.ref_region_name, x.focus_region_id) END AS RegionName,
    x.focus_resource_id AS ResourceId,
    x.focus_resource_name AS ResourceName,
    CASE WHEN x.focus_resource_id IS NOT NULL
         THEN coalesce(x.focus_resource_type,
                       nullif(regexp_extract(x.focus_resource_id, '^ocid1\.([a-z0-9_]+)\.', 1), ''),
                       x.focus_service_name) END AS ResourceType,
    x.service_category AS ServiceCategory,
    x.focus_service_name AS ServiceName,
    focus_upgrade_service_provider(x.provider, x.third_party) AS ServiceProviderName,
    -- OCI's subcategory (1.1+ reports) or ours when it belongs to the category, else its "Other (...)".
    focus_subcategory(x.service_category, coalesce(
        (SELECT p.service_subcategory FROM ref_focus_service_subcategories AS p
         WHERE p.service_category = x.service_category AND p.service_subcategory = x.focus_service_subcategory),
        CASE WHEN x.ref_category = x.service_category THEN x.ref_subcategory END
    )) AS ServiceSubcategory,
    x.focus_sku_id AS SkuId,
    coalesce(x.focus_sku_meter, CASE WHEN x.focus_sku_id IS NOT NULL THEN x.focus_charge_description END)
        AS SkuMeter,
    CASE WHEN x.sku_price_id IS NOT NULL AND x.oci_overage_flag IS NOT NULL
         THEN CAST(json_object('x_OverageFlag', x.oci_overage_flag) AS VARCHAR) END AS SkuPriceDetails,
    x.sku_price_id AS SkuPriceId,
    x.focus_sub_account_id AS SubAccountId,
    x.focus_sub_account_name AS SubAccountName,
    CASE
        WHEN x.focus_sub_account_id IS NULL THEN NULL
        WHEN x.focus_sub_account_id LIKE 'ocid1.tenancy.%' THEN 'Tenancy'
        WHEN x.focus_sub_account_id LIKE 'ocid1.compartment.%' THEN 'Compartment'
        ELSE 'Sub Account'
    END AS SubAccountType,
    focus_tags(x.tags, NULL) AS Tags,
    x.focus_service_name AS x_service_code,
    x.focus_consumed_unit AS x_usage_type,
    CASE
        WHEN x.is_correction AND NOT x.has_original THEN 'Correction (original not in period)'
        WHEN x.is_correction THEN 'Correction'
        ELSE coalesce(x.focus_charge_subcategory, x.focus_charge_category)
    END AS x_charge_type
FROM focus_priced AS x
