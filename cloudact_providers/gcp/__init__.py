"""GCP: the Cloud Billing export in BigQuery (standard or detailed usage cost table).

The package holds everything specific to GCP: ``credential.py`` (config and service account key
models, no SDK), ``connector.py`` (BigQuery through google-cloud-bigquery), ``formats.py`` (the
export as files -> raw rows) and ``synthetic.py`` (generated detailed-export rows). Its SQL is under
``sql/``.
"""

from cloudact_providers.gcp.credential import GcpServiceAccountKey, GcpSourceConfig
from cloudact_providers.spec import PipelineSpec, ProviderSpec, Sample

# Credential fields (credential.py). Config: project, dataset, table (required; the export table,
# e.g. gcp_billing_export_resource_v1_<ACCOUNT>), location (the dataset's location, e.g. US or EU;
# default: BigQuery finds it), api_endpoint (a BigQuery emulator, e.g. bqemulator in tests; unset for
# BigQuery), retry_seconds (how long transient errors are retried, default 120).
# Secret: a service account key's JSON fields (type=service_account, project_id, private_key_id,
# private_key, client_email, token_uri, ...); the account needs BigQuery Data Viewer on the dataset
# and BigQuery Job User on the project.
SPEC = ProviderSpec(
    slug="gcp",
    name="GCP",
    category="cloud",
    config=GcpSourceConfig,
    secret=GcpServiceAccountKey,
    pipeline=PipelineSpec(
        description=(
            "GCP Cloud Billing export to BigQuery (standard or detailed usage cost table), each invoice month "
            "read whole as of the run's export_time cutoff."
        ),
        # Google appends late and corrected rows (later export_time) for days, and adjustments even
        # after the invoice month closed (invoices are final around the 5th): a run with no explicit
        # period re-reads the current and the previous invoice month, each whole, replacing its slice.
        revision_window_months=2,
    ),
    raw_schema="cloud_gcp_billing_raw_daily",
    quarantine_schema="cloud_gcp_billing_quarantine",
    mapping="mappings/gcp.sql",
    reference=("reference/gcp_services.csv", "reference/gcp_regions.csv"),
    sdk=("google.cloud.bigquery", "google.api_core", "google.auth", "google.oauth2"),
    connector="cloudact_providers.gcp.connector:BigQueryBillingExportConnector",
    raw_select="cloudact_providers.gcp.formats:build_raw_select",
    generator="cloudact_providers.gcp.synthetic:generate",
    samples=(
        Sample("koku", ("samples/gcp/koku_2022-08-01_5.csv",), focus_rows=9),
        Sample("nested", make="cloudact_providers.gcp.synthetic:nested_sample", focus_rows=8),
    ),
)
