"""Datadog: the parent organization's cost by organization and month, from Datadog's cost API.

The package holds everything specific to Datadog: ``credential.py`` (site and keys, no SDK),
``connector.py`` (the historical and estimated cost endpoints through datadog-api-client),
``formats.py`` (the connector's JSON lines -> raw rows), ``synthetic.py`` (generated cost answers)
and ``loopback.py`` (Datadog's cost endpoints on 127.0.0.1 for the tests and the demo). Its SQL is
under ``sql/``.
"""

from cloudact_providers.datadog.credential import DatadogKeys, DatadogSourceConfig
from cloudact_providers.spec import PipelineSpec, ProviderSpec, Sample

# Credential fields (credential.py). Config: api_url (the site's API endpoint, default
# https://api.datadoghq.com; e.g. https://api.datadoghq.eu), view (sub-org: a cost per organization,
# the default; summary: the parent's total), max_retries (429 / 5xx retries, default 3).
# Secret: api_key and application_key of the parent organization, whose user or service account holds
# the usage_read and billing_read permissions.
SPEC = ProviderSpec(
    slug="datadog",
    name="Datadog",
    category="saas",
    config=DatadogSourceConfig,
    secret=DatadogKeys,
    pipeline=PipelineSpec(
        description=(
            "Datadog cost by organization and month: the final cost from /api/v2/usage/historical_cost, "
            "the current (and, until final, the previous) month's estimate from /api/v2/usage/estimated_cost, "
            "replaced by the final cost on the first run after Datadog publishes it."
        ),
        # Datadog publishes a month's final cost no later than the 16th of the next month; until then the
        # month is an estimate that changes daily. A run with no explicit period re-reads the current month
        # (estimate), the previous one (estimate, then final from the 16th) and the one before: that third
        # month is final for a whole month before it leaves the window, so an estimate is replaced even when
        # the runs of the days after the 16th failed. Final months are not restated.
        revision_window_months=3,
    ),
    raw_schema="cloud_datadog_billing_raw_daily",
    quarantine_schema="cloud_datadog_billing_quarantine",
    mapping="mappings/datadog.sql",
    reference=("reference/datadog_services.csv",),
    sdk=("datadog_api_client",),
    connector="cloudact_providers.datadog.connector:DatadogCostConnector",
    raw_select="cloudact_providers.datadog.formats:build_raw_select",
    generator="cloudact_providers.datadog.synthetic:generate",
    samples=(Sample("final_and_estimate", make="cloudact_providers.datadog.synthetic:sample", focus_rows=108),),
    demo="cloudact_providers.datadog.loopback:demo_source",
)
