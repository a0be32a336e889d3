-- DataHub custom cost events (rows of cloud_datahub_billing_raw_daily) -> FOCUS 1.3 Cost and Usage.
-- One SELECT over {{raw}}, one FOCUS row per event; follows the mapping contract of
-- sql/procedures/cloud/sp_cloud_1_convert_to_focus.sql (the wrapper adds x_source_provider = 'datahub',
-- the lineage and the PricingCurrency* columns: an event states one currency).
--
-- Who: the event's cloud is the provider of the service (ServiceProviderName) and, as an event states
--   nothing else about who sells, hosts and invoices it, also ProviderName, PublisherName,
--   HostProviderName and InvoiceIssuerName. BillingAccountId = billing_account_id (shown as its name
--   too: an event carries no account name); SubAccount = the project (project_id / project_name, type
--   Project).
-- Costs: an event states one amount, `cost`, what was charged for it. BilledCost = EffectiveCost =
--   ListCost = ContractedCost = cost: there is no list or negotiated price, discount or prepayment to
--   tell them apart, so no saving is claimed (the list and contracted costs equal the billed one) and
--   nothing is amortized (what was billed is what it effectively cost).
-- Prices and quantities: none. FOCUS 1.3 states a quantity or a unit price only with a SkuPriceId (a
--   price point of the provider's price list), which an event does not carry; usage_amount and
--   pricing_unit stay in the raw table, and the wrapper's null rules would null them here anyway.
-- ChargeCategory from cost_type (any case): Usage (also regular, and the default), Purchase, Tax,
--   Credit, Adjustment (also rounding_error). ChargeFrequency One-Time for a Purchase (FOCUS: never
--   Usage-Based), Usage-Based otherwise.
-- Charge period: the hour usage_date_time falls in, or the day when it was given as a date
--   (usage_granularity). Billing period: the UTC month of usage_date_time (the raw billing_period).
-- Services: ServiceName = service_description, else the name of a service the native providers'
--   reference data knows by id (an AWS product code, a GCP service id, an OCI service), else
--   service_id. Category and subcategory: ref_datahub_services by name (services custom events
--   commonly report: SaaS and data platforms), else the native providers' reference data by id, then
--   by name (so a GCP or AWS service gets the category its own export gets), else Other.
-- Location: RegionId = region, RegionName from the native providers' region names, else the region;
--   AvailabilityZone = zone. ResourceId = resource_global_id, else resource_id; ResourceName =
--   resource_id, else the global id; ResourceType: the service (an event names no resource type).
-- SKU: SkuId = sku_id, SkuMeter = sku_description (what the SKU meters), else the id.
-- Tags (one JSON object; later sources win on the same key): project_labels < labels < system_labels,
--   whose keys are prefixed "datahub:" (labels the platform applies: FOCUS asks provider-defined tags to
--   be prefixed, and the provider slug is the prefix every mapping uses, GCP's "gcp:", AWS's "aws:").
--   metrics are not costs and stay in the raw table.
-- x_service_code = service_id, x_operation = operation, x_charge_type = cost_type as sent.
WITH native_services AS (
    -- The native providers' services, once per id and once per name (a name several providers use
    -- takes the first provider's entry, in the order below).
    SELECT product_code AS service_id, service_name, service_category, service_subcategory, 1 AS rank
    FROM ref_aws_services
    UNION ALL
    SELECT product_code, service_name, service_category, service_subcategory, 2 FROM ref_gcp_services
    UNION ALL
    SELECT product_code, service_name, service_category, service_subcategory, 3 FROM ref_oci_services
    UNION ALL
    SELECT NULL, service_name, service_category, service_subcategory, 4 FROM ref_azure_services
),
services_by_id AS (
    SELECT * FROM native_services WHERE service_id IS NOT NULL
    QUALIFY row_number() OVER (PARTITION BY service_id ORDER BY rank) = 1
),
services_by_name AS (
    SELECT * FROM native_services
    QUALIFY row_number() OVER (PARTITION BY lower(service_name) ORDER BY rank, service_id) = 1
),
curated_services AS (
    SELECT * FROM ref_datahub_services
    QUALIFY row_number() OVER (PARTITION BY lower(service_name) ORDER BY service_category) = 1
),
regions AS (
    SELECT region_id, region_name, 1 AS rank FROM ref_aws_regions
    UNION ALL SELECT region_id, region_name, 2 FROM ref_gcp_regions
    UNION ALL SELECT region_id, region_name, 3 FROM ref_oci_regions
    UNION ALL SELECT region_id, region_name, 4 FROM ref_azure_regions
),
region_names AS (
    SELECT * FROM regions QUALIFY row_number() OVER (PARTITION BY region_id ORDER BY rank) = 1
)
SELECT
    x.zone AS AvailabilityZone,
    focus_money(x.cost) AS BilledCost,
    x.billing_account_id AS BillingAccountId,
    x.billing_account_id AS BillingAccountName,
    'Billing Account' AS BillingAccountType,
    x.currency AS BillingCurrency,
    CAST(x.billing_period AS TIMESTAMPTZ) + INTERVAL 1 MONTH AS BillingPeriodEnd,
    CAST(x.billing_period AS TIMESTAMPTZ) AS BillingPeriodStart,
    x.charge_category AS ChargeCategory,
    coalesce(x.sku_description, x.operation, x.service_name) AS ChargeDescription,
    CASE WHEN x.charge_category = 'Purchase' THEN 'One-Time' ELSE 'Usage-Based' END AS ChargeFrequency,
    x.charge_period_start + CASE WHEN x.usage_granularity = 'day' THEN INTERVAL 1 DAY ELSE INTERVAL 1 HOUR END
        AS ChargePeriodEnd,
    x.charge_period_start AS ChargePeriodStart,
    focus_money(x.cost) AS ContractedCost,
    focus_money(x.cost) AS EffectiveCost,
    x.cloud AS HostProviderName,
    x.cloud AS InvoiceIssuerName,
    focus_money(x.cost) AS ListCost,
    x.cloud AS ProviderName,
    x.cloud AS PublisherName,
    x.region AS RegionId,
    CASE WHEN x.region IS NOT NULL THEN coalesce(g.region_name, x.region) END AS RegionName,
    x.resource AS ResourceId,
    CASE WHEN x.resource IS NOT NULL THEN coalesce(x.resource_id, x.resource_global_id) END AS ResourceName,
    CASE WHEN x.resource IS NOT NULL THEN x.service_name END AS ResourceType,
    coalesce(x.category, 'Other') AS ServiceCategory,
    x.service_name AS ServiceName,
    x.cloud AS ServiceProviderName,
    focus_subcategory(x.category, x.subcategory) AS ServiceSubcategory,
    x.sku_id AS SkuId,
    CASE WHEN x.sku_id IS NOT NULL THEN coalesce(x.sku_description, x.sku_id) END AS SkuMeter,
    x.project_id AS SubAccountId,
    x.project_name AS SubAccountName,
    CASE WHEN x.project_id IS NOT NULL THEN 'Project' END AS SubAccountType,
    -- NULL when no label map is given, else their merge (focus_tags: later wins). map_concat counts
    -- a NULL map as empty and is NULL when all are; through focus_tags, the BigQuery form (which
    -- stores a missing map empty) gives NULL when no map has an entry.
    focus_tags(
        map_concat(x.project_labels, x.labels),
        map_from_entries(list_transform(map_entries(x.system_labels),
            lambda e: {'key': 'datahub:' || e.key, 'value': e.value}))) AS Tags,
    x.service_id AS x_service_code,
    x.operation AS x_operation,
    x.cost_type AS x_charge_type,
    -- The event's own id, so datahub_dci (and anyone) finds an event's row by it.
    x.event_id AS x_source_record_id
FROM (
    SELECT
        r.*,
        CASE lower(trim(r.cost_type))
            WHEN 'purchase' THEN 'Purchase'
            WHEN 'tax' THEN 'Tax'
            WHEN 'credit' THEN 'Credit'
            WHEN 'adjustment' THEN 'Adjustment'
            WHEN 'rounding_error' THEN 'Adjustment'
            ELSE 'Usage'
        END AS charge_category,
        CASE WHEN r.usage_granularity = 'day' THEN date_trunc('day', r.usage_date_time)
             ELSE date_trunc('hour', r.usage_date_time) END AS charge_period_start,
        coalesce(r.resource_global_id, r.resource_id) AS resource,
        coalesce(r.service_description, si.service_name, r.service_id) AS service_name,
        CASE
            WHEN c.service_category IS NOT NULL THEN c.service_category
            WHEN si.service_category IS NOT NULL THEN si.service_category
            ELSE sn.service_category
        END AS category,
        CASE
            WHEN c.service_category IS NOT NULL THEN c.service_subcategory
            WHEN si.service_category IS NOT NULL THEN si.service_subcategory
            ELSE sn.service_subcategory
        END AS subcategory
    FROM {{raw}} AS r
    LEFT JOIN curated_services AS c ON lower(c.service_name) = lower(r.service_description)
    LEFT JOIN services_by_id AS si ON si.service_id = r.service_id
    LEFT JOIN services_by_name AS sn ON lower(sn.service_name) = lower(coalesce(r.service_description, r.service_id))
) AS x
LEFT JOIN region_names AS g ON g.region_id = x.region
