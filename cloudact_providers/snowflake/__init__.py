"""Snowflake: the organization's cost from the FOCUS view, else from ORGANIZATION_USAGE, read with the Python connector.

The package holds everything specific to Snowflake: ``credential.py`` (account, user, role, warehouse,
password or key pair models, no SDK), ``views.py`` (the views read and their SQL), ``connector.py``
(snowflake-connector-python), ``formats.py`` (the connector's JSON lines -> raw rows, one layout per
view), ``synthetic.py`` (a generated organization as both views show it), ``loopback.py`` and
``fakesnow_server.py`` (fakesnow's Snowflake server on loopback, with sign-in checks and the billing
schemas' grants, holding generated views, for the tests and ``make demo``). Its SQL is under ``sql/``.
"""

from cloudact_providers.snowflake.credential import SnowflakeSecret, SnowflakeSourceConfig
from cloudact_providers.spec import PipelineSpec, ProviderSpec, Sample

# Credential fields (credential.py). Config: account (<orgname>-<account_name>: the organization
# account), user, role (default: the user's), warehouse, source (auto: the FOCUS view where the role can
# read it, from 2026-01, else ORGANIZATION_USAGE; or focus / usage_in_currency), endpoint (unset: derived
# from the account; a loopback server in tests), network_timeout_seconds (default 300).
# Secret: password, or private_key (PEM) with private_key_passphrase when it is encrypted.
SPEC = ProviderSpec(
    slug="snowflake",
    name="Snowflake",
    category="saas",
    config=SnowflakeSourceConfig,
    secret=SnowflakeSecret,
    pipeline=PipelineSpec(
        description=(
            "Snowflake organization cost: SNOWFLAKE.BILLING.FOCUS_COST_USAGE_V1_3 (FOCUS 1.3, from 2026-01) where "
            "the role can read it, else ORGANIZATION_USAGE.USAGE_IN_CURRENCY_DAILY with RATE_SHEET_DAILY; each "
            "month read whole from one of them."
        ),
        # Both views lag up to 72 h and Snowflake restates a month's days until the month closes
        # (month-end adjustments, credits, contract amendments), which happens in the first days of
        # the next month. A run with no explicit period re-reads the current and the previous month,
        # each whole, replacing its slice: the previous month's late rows and closing restatements land.
        revision_window_months=2,
    ),
    raw_schema="cloud_snowflake_billing_raw_daily",
    quarantine_schema="cloud_snowflake_billing_quarantine",
    mapping="mappings/snowflake.sql",
    reference=("reference/snowflake_services.csv", "reference/focus_service_subcategories.csv"),
    sdk=("snowflake.connector",),
    connector="cloudact_providers.snowflake.connector:SnowflakeBillingConnector",
    raw_select="cloudact_providers.snowflake.formats:build_raw_select",
    generator="cloudact_providers.snowflake.synthetic:generate",
    samples=(
        Sample("focus_view", make="cloudact_providers.snowflake.synthetic:focus_sample", focus_rows=82),
        Sample("usage_in_currency", make="cloudact_providers.snowflake.synthetic:usage_sample", focus_rows=82),
    ),
    demo="cloudact_providers.snowflake.loopback:demo_source",
)
