"""Anthropic: the Admin API's usage and cost reports (the Usage and Cost Analytics API, or the legacy
cost and usage reports), read with the official anthropic SDK.

The package holds everything specific to Anthropic: ``credential.py`` (endpoint, report and admin key
models, no SDK), ``connector.py`` (the reports through ``anthropic``), ``formats.py`` (the connector's
JSON-lines file -> raw rows), ``synthetic.py`` (generated bills) and ``loopback.py`` (the API on
127.0.0.1 serving them, for tests and the demo). Its SQL is under ``sql/``.
"""

from cloudact_providers.anthropic.credential import AnthropicAdminKey, AnthropicSourceConfig
from cloudact_providers.spec import PipelineSpec, ProviderSpec, Sample

# Credential fields (credential.py). Config: endpoint (default https://api.anthropic.com; another host only
# where the server allows overrides), api (auto | analytics | legacy, default auto), page_rows (analytics
# rows per page, default 1000), max_retries (default 4), timeout_seconds.
# Secret: admin_api_key (an Admin API key, sk-ant-admin01-..., or an Analytics API key).
SPEC = ProviderSpec(
    slug="anthropic",
    name="Anthropic",
    category="genai",
    config=AnthropicSourceConfig,
    secret=AnthropicAdminKey,
    pipeline=PipelineSpec(
        description=(
            "Anthropic Admin API cost report (Usage and Cost Analytics API, else the legacy cost_report), daily "
            "by workspace, model, tier and token type, with token counts from the usage report; each month read whole."
        ),
        # Anthropic's report data arrives in batches "typically within 4 hours, occasionally up to 24 hours":
        # the last day of a month can still change on the first day of the next. A run with no explicit period
        # re-reads the current and the previous month, each whole.
        revision_window_months=2,
    ),
    raw_schema="cloud_anthropic_billing_raw_daily",
    quarantine_schema="cloud_anthropic_billing_quarantine",
    mapping="mappings/anthropic.sql",
    reference=("reference/anthropic_services.csv",),
    sdk=("anthropic",),
    connector="cloudact_providers.anthropic.connector:AnthropicCostsConnector",
    raw_select="cloudact_providers.anthropic.formats:build_raw_select",
    generator="cloudact_providers.anthropic.synthetic:generate",
    samples=(
        Sample("analytics_month", make="cloudact_providers.anthropic.synthetic:analytics_sample", focus_rows=1106),
        Sample("legacy_month", make="cloudact_providers.anthropic.synthetic:legacy_sample", focus_rows=1106),
    ),
    demo="cloudact_providers.anthropic.loopback:demo_source",
)
