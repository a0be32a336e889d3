"""OCI: cost reports and FOCUS reports in Oracle-owned Object Storage.

The package holds everything specific to OCI: ``credential.py`` (config and API signing key models,
no SDK), ``connector.py`` (Object Storage through the oci SDK), ``formats.py`` (the report files ->
raw rows) and ``synthetic.py`` (generated cost reports). Its SQL is under ``sql/``.
"""

from cloudact_providers.oci.credential import OciSecret, OciSourceConfig
from cloudact_providers.spec import PipelineSpec, ProviderSpec, Sample

# Credential fields (credential.py). Config: namespace (default bling), bucket (default: the tenancy
# OCID of the secret), report (cost-csv, the default, or focus: which of the two reports this
# credential reads; never both, they hold the same charges), prefix (default reports/cost-csv/ or
# FOCUS Reports/, the console's spelling; a prefix reaching into the other kind's folder is refused),
# endpoint (Object Storage endpoint, e.g. a fake in tests), late_days (default 62: a file created more
# than this many days after a month's end is not read for that month), max_attempts (SDK retries,
# default 5). Secret (an OCI API signing key): user, fingerprint, key_content (PEM), tenancy, region,
# optional pass_phrase.
SPEC = ProviderSpec(
    slug="oci",
    name="OCI",
    category="cloud",
    config=OciSourceConfig,
    secret=OciSecret,
    pipeline=PipelineSpec(
        description=(
            "OCI proprietary cost reports or OCI FOCUS reports (gzip CSV) from the Oracle-owned bucket "
            "(namespace bling, bucket = tenancy OCID)."
        ),
        # Cost reports are append-only deliveries (~4 a day); corrections of a month arrive as new files
        # in the following weeks: a run with no explicit period re-reads the current and the previous month.
        revision_window_months=2,
    ),
    raw_schema="cloud_oci_billing_raw_daily",
    quarantine_schema="cloud_oci_billing_quarantine",
    mapping="mappings/oci.sql",
    reference=(
        "reference/oci_services.csv",
        "reference/oci_regions.csv",
        "reference/focus_service_subcategories.csv",
    ),
    sdk=("oci",),
    connector="cloudact_providers.oci.connector:OciObjectStorageConnector",
    raw_select="cloudact_providers.oci.formats:build_raw_select",
    generator="cloudact_providers.oci.synthetic:generate",
    samples=(
        Sample("cost_report", ("samples/oci/reports_cost-csv_0000000030000269.csv",), focus_rows=506),
        # 12 lines, one superseded by its correction.
        Sample("focus_report", ("oci/focus_report_2025-01-14.csv",), focus_rows=11),
    ),
)
