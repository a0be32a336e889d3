-- sp_cloud_1_convert_to_focus: the cross-provider part of raw -> FOCUS 1.3 (Cost and Usage).
--
-- Contract (what focus_svc.conversion runs, in this order):
--   1. The reference tables: every sql/reference/<name>.csv is loaded as table ref_<name> (all VARCHAR).
--        ref_focus_service_subcategories(service_category, service_subcategory): the 1.3 allowed pairs.
--        ref_focus_units(provider_unit, focus_unit, seen_in): the wrapper's unit map, loaded for every
--          provider (each provider unit once), and compiled into the macro focus_unit(u).
--        ref_<provider>_services(product_code, service_name, service_category, service_subcategory).
--        ref_<provider>_regions(region_id, region_name).
--   2. The statements of this file: shared macros, so every mapping states money, subcategories
--      and tags the same way, and the wrapper writes units the same way.
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
--   - Units (ConsumedUnit, PricingUnit, CommitmentDiscountUnit) as the provider writes them, and
--     nulls left to the wrapper where a FOCUS null rule decides them (both below): a mapping that
--     states 'Hrs', or a SkuId on a Tax row, is still converted right.
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
--       x_consumed_unit_raw                = the SELECT's ConsumedUnit          (the unit as the mapping
--       x_pricing_unit_raw                 = the SELECT's PricingUnit            states it: state the
--       x_commitment_discount_unit_raw     = the SELECT's CommitmentDiscountUnit provider's own unit)
--     (the expression the SELECT writes for the source column, repeated; NULL when it has none), and
--     for every other column a NULL of its type (Allocated*, CapacityReservation*, ContractApplied,
--     and whatever the provider does not report).
--   A SELECT overrides any of these by yielding the column (Azure yields every PricingCurrency*
--   column; AWS yields PricingCurrency).
--   Then, over the completed SELECTs (so no mapping can forget one), the shared projection:
--   - applies the FOCUS 1.3 rules "<column> MUST be null when <condition on the row's columns>"
--     (focus_svc.conversion.NULL_RULES, with their rules-model ids): on Tax rows SkuId, SkuPriceId,
--     the unit prices, PricingQuantity and PricingCategory; without SkuPriceId every price and
--     quantity column and SkuPriceDetails; SkuMeter without SkuId; units without their quantity;
--     ConsumedQuantity off Usage rows and on unused commitment; the CommitmentDiscount* columns
--     without CommitmentDiscountId (the quantity also off Usage/Purchase rows);
--     CapacityReservationStatus, RegionName, ResourceName/Type, SubAccountName/Type,
--     BillingAccountType and AllocatedResourceName without their id. A column a rule nulls is
--     null; what the mapping states is kept everywhere else. Rules whose condition no column
--     states (split allocation, zone-specific, related to a resource...) stay the mapping's job.
--   - maps each unit column (ConsumedUnit, PricingUnit, CommitmentDiscountUnit) to FOCUS Unit
--     Format with focus_unit(u): the provider unit's entry in ref_focus_units, else the unit itself
--     when it conforms, else what the rules of focus_unit_by_rule derive when that conforms, else
--     the unit exactly as stated (nothing conforming derives from '1.5 GB'). Its x_*_unit_raw
--     column keeps the stated unit on every row whose unit is not null. A mapping states units as
--     the provider writes them; a unit the rules cannot derive belongs in the map.
--   - casts every column to its schema type.
--   It is one projection, planned once per conversion: a CASE per ruled column (its condition
--   rewritten over the mapping's own columns: a Tax row loses SkuPriceId, so its prices go too)
--   and a lookup per unit; the rules' rewriting (the costly part, ~4 s per million rows and
--   column) runs only for units neither in the map nor already conforming.
--
-- Dialect: DuckDB is the source of truth. Macros are scalar SQL macros (BigQuery: temporary SQL
-- functions, CREATE TEMP FUNCTION name(x ANY TYPE) AS (...)), so sqlglot-transpiled mappings keep
-- calling them by name. BigQuery-side: this file becomes the procedure body that creates them.

-- FOCUS Decimal columns: one precision and scale for every money, price and quantity column.
CREATE OR REPLACE MACRO focus_money(x) AS CAST(x AS DECIMAL(38, 12));

-- The exact product p rounded to 12 places, given a guess within 1.5 units of the 12th place.
CREATE OR REPLACE MACRO focus_money_nearest(p, guess) AS
    CASE
        WHEN guess IS NULL THEN CAST(p AS DECIMAL(38, 12))
        WHEN p >= 0 THEN CASE
            WHEN p - guess >= -0.0000000000005 AND p - guess < 0.0000000000005 THEN guess
            WHEN p - guess >= 0.0000000000005 AND p - guess < 0.0000000000015 THEN guess + 0.000000000001
            WHEN p - guess >= -0.0000000000015 AND p - guess < -0.0000000000005 THEN guess - 0.000000000001
            ELSE CAST(p AS DECIMAL(38, 12))
        END
        ELSE CASE  -- a negative product rounds its halves down
            WHEN p - guess > -0.0000000000005 AND p - guess <= 0.0000000000005 THEN guess
            WHEN p - guess > 0.0000000000005 AND p - guess <= 0.0000000000015 THEN guess + 0.000000000001
            WHEN p - guess > -0.0000000000015 AND p - guess <= -0.0000000000005 THEN guess - 0.000000000001
            ELSE CAST(p AS DECIMAL(38, 12))
        END
    END;

-- focus_money(a * b) for two DECIMALs (a unit price times a quantity), the same value, without
-- DuckDB's 128-bit division: rounding the exact 24-place product to 12 places by a CAST took
-- 0.37 CPU seconds per 1M rows and product (AWS: two of them, a sixth of a legacy CUR conversion).
-- The DOUBLE product gives a candidate; the exact product tells whether it is the rounded value
-- (half away from zero, as the CAST rounds) or one unit of the 12th place off, checked with exact
-- subtraction only. A product the DOUBLE misses by more, or cannot hold, is cast as before.
-- Not for DOUBLE arguments (their difference is not exact). tests/focus_svc/test_money_product.py
-- compares it with the CAST.
CREATE OR REPLACE MACRO focus_money_product(a, b) AS
    focus_money_nearest(a * b, TRY_CAST(CAST(a AS DOUBLE) * CAST(b AS DOUBLE) AS DECIMAL(38, 12)));

-- The two path segments after the last '/providers/' of an Azure resource id:
-- regexp_extract(id, '.*/providers/([^/]+/[^/]+)', 1), '' when there are none. The regexp's
-- backtracking over '.*' was half of an Azure conversion's time (1M rows: 5 of 9 s); an id holding
-- '/providers/' once (nearly all; overlapping ones count) gives the same text to the first match.
CREATE OR REPLACE MACRO focus_arm_provider_type(resource_id) AS
    CASE
        WHEN strpos(substr(resource_id, strpos(resource_id, '/providers/') + 1), '/providers/') = 0
            THEN regexp_extract(resource_id, '/providers/([^/]+/[^/]+)', 1)
        ELSE regexp_extract(resource_id, '.*/providers/([^/]+/[^/]+)', 1)
    END;

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

-- ==== Units: FOCUS Unit Format ==============================================================
-- The FOCUS 1.3 attribute (unchanged since 1.2): one of `<plural-units>` (GB, Seconds),
-- `<singular-unit>-<plural-time-units>` (GB-Hours), `<plural-units>/<singular-time-unit>` (GB/Hour),
-- `<quantity> <plural-units>` (1000 Tokens), `<plural-units>/<interval> <plural-time-units>`
-- (Units/3 Months); quantities are whole numbers; data sizes are the listed abbreviations (b, B, KB,
-- KiB ... EiB, case-sensitive); time units are exactly Year, Month, Day, Hour, Minute, Second; any
-- other noun is a count unit and is capitalized (listed: Count, Unit, Request, Token, Connection,
-- Certificate, Domain, Core). Units known from the providers' exports are mapped by
-- sql/reference/focus_units.csv (ref_focus_units); these macros derive the others by rule, never
-- changing what the unit measures: spacing, case, spelled-out or abbreviated names, separators,
-- K/M multipliers. A unit nothing conforming derives from stays as the provider wrote it.

-- One word of a unit in Unit Format spelling. Time units and listed count units come out singular:
-- focus_unit_shape puts the plural where the format wants it. Lower-case or pluralised data size
-- abbreviations ('gb', 'GBs') are bytes: billing exports measure storage and transfer in bytes.
-- (A MAP lookup: a CASE over these ~90 spellings made the word step 6x slower. BigQuery has no MAP:
-- there, a CASE.)
CREATE OR REPLACE MACRO focus_unit_word(w) AS
    CASE
        WHEN w IN ('b', 'Kb', 'Mb', 'Gb', 'Tb', 'Pb', 'Eb', 'B', 'KB', 'MB', 'GB', 'TB', 'PB', 'EB',
                   'Kib', 'Mib', 'Gib', 'Tib', 'Pib', 'Eib', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB', 'EiB') THEN w
        WHEN regexp_full_match(w, '[kmgtpe]i?bs?|[KMGTPE]i?Bs')
            THEN upper(w[1]) || CASE WHEN w[2] = 'i' THEN 'i' ELSE '' END || 'B'
        ELSE coalesce(MAP {
            'year': 'Year', 'years': 'Year', 'yr': 'Year', 'yrs': 'Year',
            'month': 'Month', 'months': 'Month', 'mo': 'Month', 'mos': 'Month',
            'day': 'Day', 'days': 'Day',
            'hour': 'Hour', 'hours': 'Hour', 'hr': 'Hour', 'hrs': 'Hour',
            'minute': 'Minute', 'minutes': 'Minute', 'min': 'Minute', 'mins': 'Minute',
            'second': 'Second', 'seconds': 'Second', 'sec': 'Second', 'secs': 'Second',
            'count': 'Count', 'counts': 'Count', 'unit': 'Unit', 'units': 'Unit',
            'request': 'Request', 'requests': 'Request', 'token': 'Token', 'tokens': 'Token',
            'connection': 'Connection', 'connections': 'Connection',
            'certificate': 'Certificate', 'certificates': 'Certificate',
            'domain': 'Domain', 'domains': 'Domain', 'core': 'Core', 'cores': 'Core',
            'bit': 'b', 'bits': 'b', 'byte': 'B', 'bytes': 'B',
            'kilobit': 'Kb', 'kilobits': 'Kb', 'kilobyte': 'KB', 'kilobytes': 'KB',
            'megabit': 'Mb', 'megabits': 'Mb', 'megabyte': 'MB', 'megabytes': 'MB',
            'gigabit': 'Gb', 'gigabits': 'Gb', 'gigabyte': 'GB', 'gigabytes': 'GB',
            'terabit': 'Tb', 'terabits': 'Tb', 'terabyte': 'TB', 'terabytes': 'TB',
            'petabit': 'Pb', 'petabits': 'Pb', 'petabyte': 'PB', 'petabytes': 'PB',
            'exabit': 'Eb', 'exabits': 'Eb', 'exabyte': 'EB', 'exabytes': 'EB',
            'kibibit': 'Kib', 'kibibits': 'Kib', 'kibibyte': 'KiB', 'kibibytes': 'KiB',
            'mebibit': 'Mib', 'mebibits': 'Mib', 'mebibyte': 'MiB', 'mebibytes': 'MiB',
            'gibibit': 'Gib', 'gibibits': 'Gib', 'gibibyte': 'GiB', 'gibibytes': 'GiB',
            'tebibit': 'Tib', 'tebibits': 'Tib', 'tebibyte': 'TiB', 'tebibytes': 'TiB',
            'pebibit': 'Pib', 'pebibits': 'Pib', 'pebibyte': 'PiB', 'pebibytes': 'PiB',
            'exbibit': 'Eib', 'exbibits': 'Eib', 'exbibyte': 'EiB', 'exbibytes': 'EiB'
        }[lower(w)],
            -- Any other noun is a count unit: capitalized when the provider wrote it all in lower case.
            CASE WHEN regexp_full_match(w, '[a-z][a-z0-9]*') THEN upper(w[1]) || w[2:] ELSE w END)
    END;

-- A unit's text before its words are read: one space between words, none around '-' and '/',
-- 'per' as '/', a time unit glued to a noun split off ('NodeHour' -> 'Node-Hour'), and K / M /
-- thousand / million / billion multipliers as the whole number they stand for ('1M API Calls' ->
-- '1000000 API Calls').
CREATE OR REPLACE MACRO focus_unit_spaced(u) AS
    regexp_replace(regexp_replace(regexp_replace(regexp_replace(regexp_replace(regexp_replace(
    regexp_replace(regexp_replace(regexp_replace(trim(u), '\s+', ' ', 'g'),
        '\s*([/-])\s*', '\1', 'g'),
        ' (?i:per) ', '/', 'g'),
        '([a-z0-9])(Year|Month|Day|Hour|Minute|Second)s?$', '\1-\2'),
        '^(?i:one )?(?i:thousand) ', '1000 '),
        '^(?i:one )?(?i:million) ', '1000000 '),
        '^(?i:one )?(?i:billion) ', '1000000000 '),
        '^([0-9]+) ?(?:[Kk]|(?i:thousand)) ', '\1000 '),
        '^([0-9]+) ?(?:M|(?i:million)) ', '\1000000 ');

-- The words of a unit (separated by ' ', '-' and '/') each in Unit Format spelling.
CREATE OR REPLACE MACRO focus_unit_words(s) AS
    array_to_string(list_transform(regexp_extract_all(s, '[^ /-]+|[ /-]'), lambda w: focus_unit_word(w)), '');

-- Singular and plural where the format puts them: a trailing time unit after a noun joins it with
-- '-' ('GB Month' -> 'GB-Month'); time units are plural after '-', after a quantity or alone, and
-- singular after '/'; a listed count unit is plural unless it starts a compound ('Request-Hours').
CREATE OR REPLACE MACRO focus_unit_shape(s) AS
    regexp_replace(regexp_replace(regexp_replace(regexp_replace(regexp_replace(s,
        '^(.*[^0-9 ]) (Year|Month|Day|Hour|Minute|Second)$', '\1-\2'),
        '-(Year|Month|Day|Hour|Minute|Second)$', '-\1s'),
        '/([0-9]+) (Year|Month|Day|Hour|Minute|Second)$', '/\1 \2s'),
        '^([0-9]+ )?(Year|Month|Day|Hour|Minute|Second)$', '\1\2s'),
        '(^| )(Count|Unit|Request|Token|Connection|Certificate|Domain|Core)(/|$)', '\1\2s\3');

-- Whether a unit is in Unit Format, as far as a pattern can tell: one of the five shapes over the
-- listed data sizes and time units and capitalized count nouns (single spaces, whole numbers), and
-- none of the spellings the rules rewrite: abbreviated or spelled-out listed units ('Hrs', 'Mo',
-- 'bytes', 'Million'), lower-case words (but the bit, 'b'), all-capital listed words, 'GBs', units
-- above the listed exa ('ZB'), a time unit inside or glued to a noun ('OCPU Hours', 'NodeHour'), a
-- singular time unit alone or after a quantity, a listed count unit singular where the format
-- wants the plural or plural before '-'.
CREATE OR REPLACE MACRO focus_unit_conforms(u) AS
    regexp_full_match(u,
        '(?:(?:b|Kb|Mb|Gb|Tb|Pb|Eb|B|KB|MB|GB|TB|PB|EB|Kib|Mib|Gib|Tib|Pib|Eib|KiB|MiB|GiB|TiB|PiB|EiB)'
        || '|(?:Years|Months|Days|Hours|Minutes|Seconds)|(?:[A-Z][A-Za-z0-9]*(?: [A-Z][A-Za-z0-9]*)*))'
        || '(?:-(?:Years|Months|Days|Hours|Minutes|Seconds)|/(?:Year|Month|Day|Hour|Minute|Second)'
        || '|/[1-9][0-9]* (?:Years|Months|Days|Hours|Minutes|Seconds))?'
        || '|[1-9][0-9]* (?:b|Kb|Mb|Gb|Tb|Pb|Eb|B|KB|MB|GB|TB|PB|EB|Kib|Mib|Gib|Tib|Pib|Eib|KiB|MiB|GiB|TiB|PiB|EiB'
        || '|Years|Months|Days|Hours|Minutes|Seconds|[A-Z][A-Za-z0-9]*(?: [A-Z][A-Za-z0-9]*)*)')
    AND NOT regexp_matches(u,
        '(?:^|[ /-])(?:(?i:yrs?|mos?|hrs?|mins?|secs?|bits?|bytes?|(?:kilo|mega|giga|tera|peta|exa|kibi|mebi|gibi|tebi|pebi|exbi)(?:bit|byte)s?|thousand|million|billion)(?:[ /-]|$)'
        || '|[ac-z]|b[A-Za-z0-9]'
        || '|(?:YEAR|MONTH|DAY|HOUR|MINUTE|SECOND|COUNT|UNIT|REQUEST|TOKEN|CONNECTION|CERTIFICATE|DOMAIN|CORE)S?(?:[ /-]|$)'
        || '|(?:[KMGTPE]i?)?Bs(?:[ /-]|$)|[ZY]i?[Bb](?:[ /-]|$))'
        || '|[A-Za-z] (?:Year|Month|Day|Hour|Minute|Second)s?(?:[ /-]|$)'
        || '|(?:^|[ /-])(?:Year|Month|Day|Hour|Minute|Second)s? '
        || '|[a-z0-9](?:Year|Month|Day|Hour|Minute|Second)s?(?:[ /-]|$)'
        || '|^(?:[0-9]+ )?(?:Year|Month|Day|Hour|Minute|Second)$'
        || '|(?:^| )(?:Count|Unit|Request|Token|Connection|Certificate|Domain|Core)(?:/|$)'
        || '|(?:^| )(?:Counts|Units|Requests|Tokens|Connections|Certificates|Domains|Cores)-');

-- A unit absent from ref_focus_units in Unit Format: the unit itself when it conforms, else what
-- the rules derive when that conforms, else the unit exactly as the provider wrote it. Conforming
-- units cost two pattern tests per row; the rewriting runs only for the others.
CREATE OR REPLACE MACRO focus_unit_by_rule(u) AS
    CASE
        WHEN u IS NULL THEN NULL
        WHEN focus_unit_conforms(u) THEN u
        ELSE coalesce(list_transform([focus_unit_shape(focus_unit_words(focus_unit_spaced(u)))],
                                     lambda d: CASE WHEN focus_unit_conforms(d) THEN d END)[1], u)
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
