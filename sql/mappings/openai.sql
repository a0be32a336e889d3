-- OpenAI organization Costs and Usage (rows of cloud_openai_billing_raw_daily) -> FOCUS 1.3 Cost and Usage.
-- One SELECT over {{raw}}; needs the macros of sql/procedures/cloud/sp_cloud_1_convert_to_focus.sql and
-- ref_openai_services (product -> ServiceName / Category / Subcategory), and follows the mapping contract
-- at its top: only the columns OpenAI states; the wrapper adds the lineage, x_source_provider, the
-- PricingCurrency* columns (one currency: the billing currency) and a NULL for every other column.
--
-- Rows: one FOCUS row per Costs result (record_type 'costs': a UTC day, a project, a line item), so the sum
-- of BilledCost is what the Costs endpoint reports, the figure OpenAI reconciles to the invoice. Usage rows
-- (record_type 'completions' / 'embeddings') bill nothing: they give token counts to the cost rows.
-- Costs: amount.value is in amount.currency (usd: dollars, exactly as written); BilledCost = EffectiveCost =
--   ListCost = ContractedCost = the amount (the endpoint states no list price or discount).
-- Line items read '<model>, <token type>' ('gpt-4o-2024-08-06, cached input'); the model and the token type
--   are taken from them (x_model, x_token_type; the token type normalised: input, cached_input,
--   cache_write, output, audio_input, audio_output), and a line item without ', ' has neither.
-- Quantities: the Costs result's own quantity when it states one (grouped by line item; quantity_unit
--   tokens or 1000_tokens -> Tokens, images, characters, duration_*, gibibyte_hours); otherwise, for a token
--   line item, the tokens the Usage endpoints count for the same UTC day, project, model and token type
--   (Costs results of older answers carry no quantity). Which Usage count a token type is:
--     input        = input_uncached_tokens, else input_tokens - cached - cache-write (input_tokens counts
--                    every input token, cached and cache-write ones included; the 'input' line bills the rest)
--     cached_input = input_cached_tokens, cache_write = input_cache_write_tokens, output = output_tokens,
--     audio_input  = input_audio_tokens, audio_output = output_audio_tokens.
--   The usage side is summed per key first, so the join can never repeat a cost row.
-- Prices: a row with a quantity is priced per its line item (SkuPriceId = SkuId = the line item): tokens
--   and characters per million (PricingUnit '1000000 Tokens', as OpenAI lists prices), other units per
--   unit; List/ContractedUnitPrice = the amount / PricingQuantity. Without a quantity a row is unpriced and
--   the wrapper nulls its prices and quantities (FOCUS: no quantity without SkuPriceId).
-- Service: ref_openai_services by a product the line item names (embeddings, images, audio, moderation,
--   fine-tuning, tool calls, vector stores; any other model -> models; no model -> other). Line-item names
--   are OpenAI's own and may change: an unknown one falls to 'OpenAI Models' / 'OpenAI API', never to a
--   wrong category outside AI and Machine Learning.
-- Accounts: BillingAccount = the organization (the credential's config: the Costs API does not repeat it);
--   SubAccount = the project (the API gives ids only; OpenAI's project names are not read), also x_project_id.
-- Periods: ChargePeriod = the daily bucket (UTC); BillingPeriod = its UTC calendar month (OpenAI invoices
--   monthly); CAST(BillingPeriodStart AS DATE) = raw billing_period.
WITH usage_tokens AS (
    -- Tokens per (UTC day, project, model, token type) from the Usage rows: one row per token type
    -- of each Usage row. (The types are joined as a list of names rather than unnested as structs:
    -- the BigQuery form derived from this SQL reads the same on bqemulator, which loses the fields
    -- of an unnested struct.)
    SELECT
        t.bucket_start_time AS usage_day,
        t.project_id AS usage_project_id,
        t.model AS usage_model,
        t.token_type AS usage_token_type,
        sum(t.tokens) AS usage_tokens
    FROM (
        SELECT
            r.bucket_start_time,
            r.project_id,
            r.model,
            k.token_type,
            CASE k.token_type
                WHEN 'input' THEN coalesce(r.input_uncached_tokens,
                    r.input_tokens - coalesce(r.input_cached_tokens, 0) - coalesce(r.input_cache_write_tokens, 0))
                WHEN 'cached_input' THEN r.input_cached_tokens
                WHEN 'cache_write' THEN r.input_cache_write_tokens
                WHEN 'output' THEN r.output_tokens
                WHEN 'audio_input' THEN r.input_audio_tokens
                WHEN 'audio_output' THEN r.output_audio_tokens
            END AS tokens
        FROM {{raw}} AS r
        CROSS JOIN unnest(['input', 'cached_input', 'cache_write', 'output', 'audio_input', 'audio_output'])
            AS k(token_type)
        WHERE r.record_type IN ('completions', 'embeddings') AND r.model IS NOT NULL
    ) AS t
    WHERE t.tokens IS NOT NULL
    GROUP BY ALL
)
SELECT
    focus_money(x.amount_value) AS BilledCost,
    x.organization_id AS BillingAccountId,
    coalesce(x.organization_name, x.organization_id) AS BillingAccountName,
    'Organization' AS BillingAccountType,
    x.amount_currency AS BillingCurrency,
    timezone('UTC', CAST(x.billing_period + INTERVAL 1 MONTH AS TIMESTAMP)) AS BillingPeriodEnd,
    timezone('UTC', CAST(x.billing_period AS TIMESTAMP)) AS BillingPeriodStart,
    'Usage' AS ChargeCategory,
    coalesce(x.line_item, 'OpenAI charge without a line item') AS ChargeDescription,
    'Usage-Based' AS ChargeFrequency,
    x.bucket_end_time AS ChargePeriodEnd,
    x.bucket_start_time AS ChargePeriodStart,
    focus_money(x.consumed_quantity) AS ConsumedQuantity,
    x.consumed_unit AS ConsumedUnit,
    focus_money(x.amount_value) AS ContractedCost,
    focus_money(CASE WHEN x.priced THEN x.amount_value / x.pricing_quantity END) AS ContractedUnitPrice,
    focus_money(x.amount_value) AS EffectiveCost,
    'OpenAI' AS HostProviderName,
    'OpenAI' AS InvoiceIssuerName,
    focus_money(x.amount_value) AS ListCost,
    focus_money(CASE WHEN x.priced THEN x.amount_value / x.pricing_quantity END) AS ListUnitPrice,
    CASE WHEN x.priced THEN 'Standard' END AS PricingCategory,
    focus_money(CASE WHEN x.priced THEN x.pricing_quantity END) AS PricingQuantity,
    CASE WHEN x.priced THEN x.pricing_unit END AS PricingUnit,
    'OpenAI' AS ProviderName,
    'OpenAI' AS PublisherName,
    coalesce(s.service_category, 'AI and Machine Learning') AS ServiceCategory,
    coalesce(s.service_name, 'OpenAI API') AS ServiceName,
    'OpenAI' AS ServiceProviderName,
    focus_subcategory(coalesce(s.service_category, 'AI and Machine Learning'), s.service_subcategory) AS ServiceSubcategory,
    x.line_item AS SkuId,
    CASE WHEN x.line_item IS NOT NULL THEN coalesce(x.li_kind, x.line_item) END AS SkuMeter,
    CASE WHEN x.priced THEN x.line_item END AS SkuPriceId,
    x.project_id AS SubAccountId,
    x.project_id AS SubAccountName,
    CASE WHEN x.project_id IS NOT NULL THEN 'Project' END AS SubAccountType,
    x.product_code AS x_service_code,
    x.line_item AS x_usage_type,
    x.li_model AS x_model,
    x.token_type AS x_token_type,
    x.project_id AS x_project_id
FROM (
    SELECT
        q.*,
        q.line_item IS NOT NULL AND coalesce(q.pricing_quantity, 0) > 0 AS priced
    FROM (
        SELECT
            m.*,
            -- A quantity in a unit the answer does not name (web search calls) is no FOCUS quantity.
            CASE
                WHEN m.token_type IS NOT NULL THEN CAST(coalesce(m.stated_tokens, u.usage_tokens) AS DECIMAL(38, 12))
                WHEN m.stated_unit IS NOT NULL THEN CAST(m.quantity AS DECIMAL(38, 12))
            END AS consumed_quantity,
            CASE
                WHEN m.token_type IS NOT NULL THEN 'Tokens'
                ELSE m.stated_unit
            END AS consumed_unit,
            -- Each branch cast to one type: DuckDB gives a CASE of decimals of different scales the
            -- smaller one, which would round a quantity of millions.
            CASE
                WHEN m.token_type IS NOT NULL THEN CAST(
                    coalesce(m.stated_tokens, u.usage_tokens) * CAST(0.000001 AS DECIMAL(7, 6)) AS DECIMAL(38, 12))
                WHEN m.quantity_unit = 'characters'
                    THEN CAST(m.quantity * CAST(0.000001 AS DECIMAL(7, 6)) AS DECIMAL(38, 12))
                WHEN m.stated_unit IS NOT NULL THEN CAST(m.quantity AS DECIMAL(38, 12))
            END AS pricing_quantity,
            CASE
                WHEN m.token_type IS NOT NULL THEN '1000000 Tokens'
                WHEN m.quantity_unit = 'characters' THEN '1000000 Characters'
                ELSE m.stated_unit
            END AS pricing_unit
        FROM (
            SELECT
                k.*,
                -- A token type only for what is billed in tokens: a known token line item, or a stated token quantity.
                CASE
                    WHEN k.kind IN ('input', 'cached_input', 'cache_write', 'output', 'audio_input', 'audio_output')
                        OR k.quantity_unit IN ('tokens', '1000_tokens')
                        THEN k.kind
                END AS token_type,
                CASE k.quantity_unit
                    WHEN 'tokens' THEN k.quantity
                    WHEN '1000_tokens' THEN k.quantity * 1000
                END AS stated_tokens,
                CASE k.quantity_unit
                    WHEN 'images' THEN 'Images'
                    WHEN 'characters' THEN 'Characters'
                    WHEN 'duration_seconds' THEN 'Seconds'
                    WHEN 'duration_minutes' THEN 'Minutes'
                    WHEN 'duration_hours' THEN 'Hours'
                    WHEN 'gibibyte_hours' THEN 'GiB-Hours'
                END AS stated_unit,
                CASE
                    WHEN k.li_model ILIKE 'text-embedding%' THEN 'embeddings'
                    WHEN k.li_model ILIKE 'dall-e%' OR k.li_model ILIKE 'gpt-image%' THEN 'images'
                    WHEN k.li_model ILIKE 'tts%' OR k.li_model ILIKE 'whisper%' OR k.li_model ILIKE '%transcribe%'
                        OR k.li_model ILIKE '%-tts%' THEN 'audio'
                    WHEN k.line_item ILIKE '%moderation%' THEN 'moderations'
                    WHEN k.line_item ILIKE '%fine-tun%' OR k.line_item ILIKE '%training%' THEN 'fine_tuning'
                    WHEN k.line_item ILIKE '%web search%' THEN 'web_search'
                    WHEN k.line_item ILIKE '%file search%' THEN 'file_search'
                    WHEN k.line_item ILIKE '%code interpreter%' OR k.line_item ILIKE '%container%' THEN 'code_interpreter'
                    WHEN k.line_item ILIKE '%vector stor%' THEN 'vector_stores'
                    WHEN k.li_model IS NOT NULL THEN 'models'
                    ELSE 'other'
                END AS product_code
            FROM (
                SELECT
                    c.*,
                    -- 'cached input tokens', 'Cached_Input' ... -> cached_input; uncached input is input.
                    CASE regexp_replace(regexp_replace(lower(trim(c.li_kind)), '[\s_]+', ' ', 'g'), ' tokens?$', '')
                        WHEN 'uncached input' THEN 'input'
                        WHEN 'input cached' THEN 'cached_input'
                        WHEN 'cached write' THEN 'cache_write'
                        WHEN 'input cache write' THEN 'cache_write'
                        WHEN 'input audio' THEN 'audio_input'
                        WHEN 'output audio' THEN 'audio_output'
                        ELSE replace(regexp_replace(regexp_replace(lower(trim(c.li_kind)), '[\s_]+', ' ', 'g'),
                                                    ' tokens?$', ''), ' ', '_')
                    END AS kind
                FROM (
                    SELECT
                        r.*,
                        CASE WHEN r.line_item LIKE '%, %' THEN trim(regexp_extract(r.line_item, '^(.*), ([^,]*)$', 1)) END
                            AS li_model,
                        CASE WHEN r.line_item LIKE '%, %' THEN trim(regexp_extract(r.line_item, '^(.*), ([^,]*)$', 2)) END
                            AS li_kind
                    FROM {{raw}} AS r
                    WHERE r.record_type = 'costs'
                ) AS c
            ) AS k
        ) AS m
        LEFT JOIN usage_tokens AS u
            ON m.token_type IS NOT NULL
            AND u.usage_day = m.bucket_start_time
            AND u.usage_project_id IS NOT DISTINCT FROM m.project_id
            AND u.usage_model = m.li_model
            AND u.usage_token_type = m.token_type
    ) AS q
) AS x
LEFT JOIN ref_openai_services AS s ON s.product_code = x.product_code
