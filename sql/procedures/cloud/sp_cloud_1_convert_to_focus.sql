-- sp_cloud_1_convert_to_focus: the cross-provider part of raw -> FOCUS 1.3 (Cost and Usage).
--
-- Contract (what focus_svc.conversion runs, in this order):
--   1. The reference tables: every sql/reference/<name>.csv is loaded as table ref_<name> (all VARCHAR).
--        ref_focus_service_subcategories(service_category, service_subcategory): the 1.3 allowed pairs.
--        ref_<provider>_services(product_code, service_name, service_category, service_subcategory).
--        ref_<provider>_regions(region_id, region_name).
--   2. The statements of this file: shared macros, so every mapping states money, subcategories
--      and tags the same way.
--   3. sql/mappings/<provider>.sql: ONE query over the placeholder {{raw}} (a relation holding
--      rows of cloud_<provider>_billing_raw_daily), inside the FOCUS wrapper that
--      focus_svc.conversion.focus_select_sql builds from sql/schemas/cost_data_standard_1_3.json.
--      Adding a provider = adding its mapping file and reference CSVs; nothing here changes.
--
-- The mapping contract (focus_select_sql checks it and refuses a mapping that breaks it):
--   A mapping states only what is specific to its provider.
--   - Shape: top-level SELECTs (no DISTINCT), alone or joined by UNION [ALL] [BY NAME], CTEs
--     allowed; "top-level" is outside every parenthesis (the wrapper reads the mapping with DuckDB's
--     tokenizer). Each top-level SELECT has a FROM clause whose rows come from {{raw}} with the raw
--     columns kept (e.g. through r.* in the subqueries).
--   - Columns: each one written `expression AS Name` (or a bare column reference, named as its
--     column), Name exactly a column of sql/schemas/cost_data_standard_1_3.json; no *, none twice,
--     no other column. Types need not be exact (the wrapper casts); money, price and quantity
--     columns use focus_money.
--   - Each top-level SELECT yields every column the schema marks REQUIRED, except
--     x_source_provider and the lineage columns (x_pipeline_id, x_credential_id, x_run_id,
--     x_ingested_at, x_pipeline_run_date); it states what the wrapper supplies (below) only to
--     override it.
-- What the wrapper does: it rewrites the column list of each top-level SELECT to every FOCUS
-- column, in schema order, keeping the text of each expression the mapping states and adding:
--   - the lineage columns of the raw rows, unqualified, so they resolve to the one relation of the
--     FROM clause that carries them (joined reference tables have none): every FOCUS row carries
--     the lineage of the raw row it comes from;
--   - for each other column the SELECT does not yield, its default:
--       x_source_provider                  = the provider slug
--       PricingCurrency                    = the SELECT's BillingCurrency      (the source states no
--       PricingCurrencyContractedUnitPrice = the SELECT's ContractedUnitPrice   pricing currency of
--       PricingCurrencyEffectiveCost       = the SELECT's EffectiveCost         its own: the prices in
--       PricingCurrencyListUnitPrice       = the SELECT's ListUnitPrice         it are the billing ones)
--     (the expression the SELECT writes for the source column, repeated; NULL when it has none), and
--     for every other column a NULL of its type (Allocated*, CapacityReservation*, ContractApplied,
--     and whatever the provider does not report).
--   Then one projection over the result casts every column to its schema type. DuckDB plans the
--   same query as for a mapping that wrote all 75 columns itself.
--   A SELECT overrides any of these by yielding the column (Azure yields every PricingCurrency*
--   column; AWS yields PricingCurrency).
--
-- Dialect: DuckDB is the source of truth. Macros are scalar SQL macros (BigQuery: temporary SQL
-- functions, CREATE TEMP FUNCTION name(x ANY TYPE) AS (...)), so sqlglot-transpiled mappings keep
-- calling them by name. BigQuery-side: this file becomes the procedure body that creates them.

-- FOCUS Decimal columns: one precision and scale for every money, price and quantity column.
CREATE OR REPLACE MACRO focus_money(x) AS CAST(x AS DECIMAL(38, 12));

-- ServiceSubcategory: the provider table's value, or the category's "Other (...)" bucket; a service
-- absent from the table is Other / Other (Other) (ServiceCategory is Mandatory and never null).
CREATE OR REPLACE MACRO focus_subcategory(category, subcategory) AS
    CASE
        WHEN category IS NULL THEN 'Other (Other)'
        WHEN subcategory IS NOT NULL AND subcategory <> '' THEN subcategory
        ELSE 'Other (' || category || ')'
    END;

-- Tags: one JSON object of the provider's tag maps (FOCUS Key-Value Format), keys as the provider
-- writes them; null when the row has no tag at all (raw maps are NULL, never empty).
CREATE OR REPLACE MACRO focus_tags(tags, more_tags) AS
    CASE
        WHEN tags IS NULL AND more_tags IS NULL THEN NULL
        WHEN more_tags IS NULL THEN CAST(to_json(tags) AS VARCHAR)
        WHEN tags IS NULL THEN CAST(to_json(more_tags) AS VARCHAR)
        ELSE CAST(to_json(map_concat(tags, more_tags)) AS VARCHAR)
    END;

-- ==== Upgrading FOCUS 1.0 - 1.2 exports to 1.3 ==============================================
-- For providers that deliver FOCUS themselves (Azure FocusCost, OCI FOCUS reports): keep their
-- values, and derive only what 1.3 changed. Small and generic on purpose; provider quirks stay in
-- the provider's mapping.

-- ServiceProviderName (1.3) from the deprecated pair: the entity that sells the service, i.e. the
-- marketplace publisher when there is one (migration guide: SaaS bought through a cloud
-- marketplace -> the SaaS vendor), else the provider itself.
CREATE OR REPLACE MACRO focus_upgrade_service_provider(provider_name, publisher_name) AS
    coalesce(nullif(trim(publisher_name), ''), provider_name);

-- HostProviderName (1.3): the provider whose infrastructure runs it. A direct purchase, or a
-- third-party offer running on a provider resource (ResourceId set), is hosted by the provider;
-- a resource-less third-party offer (SaaS) is hosted by its vendor.
CREATE OR REPLACE MACRO focus_upgrade_host_provider(provider_name, publisher_name, resource_id) AS
    CASE
        WHEN nullif(trim(publisher_name), '') IS NULL OR publisher_name = provider_name OR resource_id IS NOT NULL
            THEN provider_name
        ELSE publisher_name
    END;

-- 1.3 made explicit that unit prices, PricingQuantity, PricingCategory, ConsumedQuantity and
-- CommitmentDiscountQuantity are null when SkuPriceId is null: value only on priced rows.
CREATE OR REPLACE MACRO focus_upgrade_priced(sku_price_id, value) AS
    CASE WHEN sku_price_id IS NOT NULL THEN value END;
