"""OpenAI: the organization Costs and Usage API, read with the official openai SDK's admin client.

The package holds everything specific to OpenAI: ``credential.py`` (organization, endpoint and Admin
API key models, no SDK), ``connector.py`` (the Costs and Usage endpoints through ``openai``),
``formats.py`` (the connector's JSON-lines file -> raw rows), ``synthetic.py`` (generated bills) and
``loopback.py`` (the API on 127.0.0.1 serving them, for tests and the demo). Its SQL is under ``sql/``.
"""

from cloudact_providers.openai.credential import OpenAIAdminKey, OpenAISourceConfig
from cloudact_providers.spec import PipelineSpec, ProviderSpec, Sample

# Credential fields (credential.py). Config: organization_id (required, org-...), organization_name,
# endpoint (default https://api.openai.com; another host only where the server allows overrides),
# page_buckets (daily buckets per page, default 31), max_retries (default 4), timeout_seconds.
# Secret: admin_api_key (an organization Admin API key, sk-admin-...).
SPEC = ProviderSpec(
    slug="openai",
    name="OpenAI",
    category="genai",
    config=OpenAISourceConfig,
    secret=OpenAIAdminKey,
    pipeline=PipelineSpec(
        description=(
            "OpenAI organization Costs (daily, by project and line item) with token counts from the Usage API "
            "(completions, embeddings), each month read whole."
        ),
        # OpenAI documents no time after which a day's costs are final (the Costs endpoint's figures are the
        # ones it reconciles to the invoice, issued after the month ends): late usage lands on past days until
        # then. A run with no explicit period re-reads the current and the previous month, each whole.
        revision_window_months=2,
    ),
    raw_schema="cloud_openai_billing_raw_daily",
    quarantine_schema="cloud_openai_billing_quarantine",
    mapping="mappings/openai.sql",
    reference=("reference/openai_services.csv",),
    sdk=("openai",),
    connector="cloudact_providers.openai.connector:OpenAICostsConnector",
    raw_select="cloudact_providers.openai.formats:build_raw_select",
    generator="cloudact_providers.openai.synthetic:generate",
    samples=(Sample("month", make="cloudact_providers.openai.synthetic:month_sample", focus_rows=810),),
    demo="cloudact_providers.openai.loopback:demo_source",
)
