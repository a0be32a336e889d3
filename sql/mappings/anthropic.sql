-- Anthropic Admin API cost and usage reports (rows of cloud_anthropic_billing_raw_daily) -> FOCUS 1.3 Cost and Usage.
-- One SELECT over {{raw}}; needs the macros of sql/procedures/cloud/sp_cloud_1_convert_to_focus.sql and
-- ref_anthropic_services (cost_type -> ServiceName / Category / Subcategory), and follows the mapping
-- contract at its top: only the columns Anthropic states; the wrapper adds the lineage, x_source_provider,
-- the PricingCurrency* columns (one currency: the billing currency) and a NULL for every other column.
--
-- Rows: one FOCUS row per cost report row (record_type 'cost': a UTC day, a workspace, a model, service
-- tier, context window, inference geo, cost type and token type), from either report (report_api
-- 'analytics': the Usage and Cost Analytics API; 'legacy': cost_report grouped by workspace and
-- description, whose rows then name the same dimensions). Usage rows bill nothing: they give quantities.
-- Money: amounts are decimal strings of CENTS (fractional): dollars = cents x 0.01, an exact decimal
--   product (never a division, which DuckDB would take through a DOUBLE), rounded to FOCUS's 12 places.
--   BilledCost = EffectiveCost = ContractedCost = amount (analytics: after discounts, before credits;
--   credits are not reported, so the invoice can be lower); ListCost = list_amount (before discounts;
--   the legacy report has none: = amount).
--   Priority Tier usage is billed outside these reports (Anthropic's caveat): it has no cost row here.
-- Quantities: the usage report's count for the same day, workspace, model, service tier, context window
--   and inference geo (null-safe), the cost row's token type naming the usage metric
--   (uncached_input_tokens, cache_read_input_tokens, cache_creation.ephemeral_5m_input_tokens,
--   cache_creation.ephemeral_1h_input_tokens, output_tokens), web searches for web_search rows; summed per
--   key first, so the join never repeats a cost row. Code execution and session usage have no quantity.
-- Prices: a row with a quantity is priced (tokens per million, '1000000 Tokens'; web searches per thousand,
--   '1000 Requests', as Anthropic lists them): SkuId = model/meter, SkuPriceId = SkuId/tier/context/geo
--   (each changes the price), List/ContractedUnitPrice = list amount / billed amount per PricingQuantity.
-- Accounts: BillingAccount = the key's organization (/v1/organizations/me); SubAccount = the workspace (its
--   id; the default workspace's is null in the legacy reports), also x_project_id.
-- Periods: ChargePeriod = the daily bucket (UTC); BillingPeriod = its UTC calendar month (Anthropic bills
--   monthly); CAST(BillingPeriodStart AS DATE) = raw billing_period.
WITH usage_counts AS (
    SELECT
        t.starting_at AS usage_day,
        t.workspace_id AS usage_workspace_id,
        t.model AS usage_model,
        t.service_tier AS usage_service_tier,
        t.context_window AS usage_context_window,
        t.inference_geo AS usage_inference_geo,
        t.counted.meter AS usage_meter,
        sum(t.counted.quantity) AS usage_quantity
    FROM (
        SELECT
            r.starting_at,
            r.workspace_id,
            r.model,
            r.service_tier,
            r.context_window,
            r.inference_geo,
            UNNEST([
                {'meter': 'uncached_input_tokens', 'quantity': r.uncached_input_tokens},
                {'meter': 'cache_read_input_tokens', 'quantity': r.cache_read_input_tokens},
                {'meter': 'cache_creation.ephemeral_5m_input_tokens', 'quantity': r.cache_creation_ephemeral_5m_input_tokens},
                {'meter': 'cache_creation.ephemeral_1h_input_tokens', 'quantity': r.cache_creation_ephemeral_1h_input_tokens},
                {'meter': 'output_tokens', 'quantity': r.output_tokens},
                {'meter': 'web_search', 'quantity': r.server_tool_use_web_search_requests}
            ]) AS counted
        FROM {{raw}} AS r
        WHERE r.record_type = 'usage'
    ) AS t
    WHERE t.counted.quantity IS NOT NULL
    GROUP BY ALL
)
SELECT
    focus_money(x.billed) AS BilledCost,
    x.organization_id AS BillingAccountId,
    coalesce(x.organization_name, x.organization_id) AS BillingAccountName,
    'Organization' AS BillingAccountType,
    x.currency AS BillingCurrency,
    timezone('UTC', CAST(x.billing_period + INTERVAL 1 MONTH AS TIMESTAMP)) AS BillingPeriodEnd,
    timezone('UTC', CAST(x.billing_period AS TIMESTAMP)) AS BillingPeriodStart,
    'Usage' AS ChargeCategory,
    coalesce(x.description, concat_ws(', ', x.model, x.meter, x.service_tier, x.context_window, x.inference_geo))
        AS ChargeDescription,
    'Usage-Based' AS ChargeFrequency,
    x.ending_at AS ChargePeriodEnd,
    x.starting_at AS ChargePeriodStart,
    focus_money(x.quantity) AS ConsumedQuantity,
    CASE x.meter WHEN 'web_search' THEN 'Requests' ELSE 'Tokens' END AS ConsumedUnit,
    focus_money(x.billed) AS ContractedCost,
    focus_money(CASE WHEN x.priced THEN x.billed / x.pricing_quantity END) AS ContractedUnitPrice,
    focus_money(x.billed) AS EffectiveCost,
    'Anthropic' AS HostProviderName,
    'Anthropic' AS InvoiceIssuerName,
    focus_money(x.listed) AS ListCost,
    focus_money(CASE WHEN x.priced THEN x.listed / x.pricing_quantity END) AS ListUnitPrice,
    CASE WHEN x.priced THEN 'Standard' END AS PricingCategory,
    focus_money(CASE WHEN x.priced THEN x.pricing_quantity END) AS PricingQuantity,
    CASE WHEN x.priced THEN CASE x.meter WHEN 'web_search' THEN '1000 Requests' ELSE '1000000 Tokens' END END
        AS PricingUnit,
    'Anthropic' AS ProviderName,
    'Anthropic' AS PublisherName,
    coalesce(s.service_category, 'AI and Machine Learning') AS ServiceCategory,
    coalesce(s.service_name, 'Anthropic API') AS ServiceName,
    'Anthropic' AS ServiceProviderName,
    focus_subcategory(coalesce(s.service_category, 'AI and Machine Learning'), s.service_subcategory) AS ServiceSubcategory,
    x.sku_id AS SkuId,
    x.meter AS SkuMeter,
    CASE WHEN x.priced THEN CAST(json_object(
        'x_ServiceTier', x.service_tier,
        'x_ContextWindow', x.context_window,
        'x_InferenceGeo', x.inference_geo) AS VARCHAR) END AS SkuPriceDetails,
    CASE WHEN x.priced THEN concat_ws('/', x.sku_id, coalesce(x.service_tier, '-'), coalesce(x.context_window, '-'),
                                      coalesce(x.inference_geo, '-')) END AS SkuPriceId,
    x.workspace_id AS SubAccountId,
    x.workspace_id AS SubAccountName,
    CASE WHEN x.workspace_id IS NOT NULL THEN 'Workspace' END AS SubAccountType,
    x.cost_type AS x_service_code,
    x.description AS x_usage_type,
    x.model AS x_model,
    x.token_type AS x_token_type,
    x.workspace_id AS x_project_id
FROM (
    SELECT
        q.*,
        coalesce(q.pricing_quantity, 0) > 0 AS priced
    FROM (
        SELECT
            m.*,
            u.usage_quantity AS quantity,
            -- Each branch cast to one type: DuckDB gives a CASE of DECIMAL(38,3) and DECIMAL(38,6) the
            -- smaller scale, which would round a quantity of 800 tokens to 0.001 million.
            CASE m.meter
                WHEN 'web_search' THEN CAST(u.usage_quantity * CAST(0.001 AS DECIMAL(4, 3)) AS DECIMAL(38, 12))
                ELSE CAST(u.usage_quantity * CAST(0.000001 AS DECIMAL(7, 6)) AS DECIMAL(38, 12))
            END AS pricing_quantity
        FROM (
            SELECT
                r.*,
                r.amount * CAST(0.01 AS DECIMAL(3, 2)) AS billed,
                coalesce(r.list_amount, r.amount) * CAST(0.01 AS DECIMAL(3, 2)) AS listed,
                -- What is metered: the token type of a token cost, else the cost type.
                CASE WHEN r.cost_type = 'tokens' OR r.token_type IS NOT NULL THEN r.token_type ELSE r.cost_type END AS meter,
                nullif(concat_ws('/', r.model,
                          CASE WHEN r.cost_type = 'tokens' OR r.token_type IS NOT NULL THEN r.token_type ELSE r.cost_type END),
                       '') AS sku_id
            FROM {{raw}} AS r
            WHERE r.record_type = 'cost'
        ) AS m
        LEFT JOIN usage_counts AS u
            ON m.meter IN ('uncached_input_tokens', 'cache_read_input_tokens', 'cache_creation.ephemeral_5m_input_tokens',
                           'cache_creation.ephemeral_1h_input_tokens', 'output_tokens', 'web_search')
            AND u.usage_meter = m.meter
            AND u.usage_day = m.starting_at
            AND u.usage_workspace_id IS NOT DISTINCT FROM m.workspace_id
            AND u.usage_model IS NOT DISTINCT FROM m.model
            AND u.usage_service_tier IS NOT DISTINCT FROM m.service_tier
            AND u.usage_context_window IS NOT DISTINCT FROM m.context_window
            AND u.usage_inference_geo IS NOT DISTINCT FROM m.inference_geo
    ) AS q
) AS x
LEFT JOIN ref_anthropic_services AS s ON s.product_code = x.cost_type
