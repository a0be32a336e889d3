"""DataHub: custom cost events, pushed one at a time instead of read from a billing export.

A source with no billing export of its own (an internal platform, a SaaS vendor's usage API, a
FinOps team's allocations) sends its costs as events in the seed's ``datahub_dci`` shape, plus a cost,
its currency and a usage amount (``events.py``), with ``cloudact events upload`` (ingest_svc's
EventsService). Accepted events land in the org's inbox under the data directory; the pipeline loads
the latest version of each event_id from there (``connector.py``) like any provider's export
(``formats.py``), and ``sql/mappings/datahub.sql`` makes one FOCUS row of each, its
ServiceProviderName the event's ``cloud``. ``synthetic.py`` generates events. No SDK, no secret
(``credential.py``).
"""

from cloudact_providers.datahub.credential import DataHubConfig, DataHubSecret
from cloudact_providers.spec import PipelineSpec, ProviderSpec, Sample

# Credential fields (credential.py): config inbox (the org's inbox folder, set by ingest_svc, which
# resolves an org's DataHub credential itself: credential_svc never stores one); no secret.
SPEC = ProviderSpec(
    slug="datahub",
    name="DataHub",
    category="custom",
    config=DataHubConfig,
    secret=DataHubSecret,
    pipeline=PipelineSpec(
        description=(
            "Custom cost events (the datahub_dci shape plus cost, currency and usage_amount) uploaded with "
            "EventsService.UploadEvents, from the org's inbox: the last upload of each event_id wins."
        ),
        # Uploads run their own months; a run with no explicit period reloads the current and the
        # previous month from the inbox (events for a closed month may still arrive late).
        revision_window_months=2,
    ),
    raw_schema="cloud_datahub_billing_raw_daily",
    quarantine_schema="cloud_datahub_billing_quarantine",
    mapping="mappings/datahub.sql",
    reference=(
        "reference/datahub_services.csv",
        "reference/aws_services.csv",
        "reference/gcp_services.csv",
        "reference/oci_services.csv",
        "reference/azure_services.csv",
        "reference/aws_regions.csv",
        "reference/gcp_regions.csv",
        "reference/oci_regions.csv",
        "reference/azure_regions.csv",
    ),
    connector="cloudact_providers.datahub.connector:DataHubInboxConnector",
    raw_select="cloudact_providers.datahub.formats:build_raw_select",
    generator="cloudact_providers.datahub.synthetic:generate",
    samples=(
        # 14 events of every kind: hours and days, labels as arrays and objects, a credit and a tax.
        Sample("custom_events", ("datahub/custom_events.csv",), focus_rows=14),
    ),
)
