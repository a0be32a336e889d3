"""Azure: Cost Management exports (cost details, FocusCost) delivered to Blob Storage.

The package holds everything specific to Azure: ``credential.py`` (config and secret models, no
SDK), ``connector.py`` (Blob Storage through azure-storage-blob), ``formats.py`` (the export files ->
raw rows) and ``synthetic.py`` (generated EA cost details). Its SQL is under ``sql/``.
"""

from cloudact_providers.azure.credential import AzureSecret, AzureSourceConfig, check_pair
from cloudact_providers.spec import PipelineSpec, ProviderSpec, Sample

_SAMPLES = "samples/azure/"

# Credential fields (credential.py). Config: container (required), root_path, export_name (required;
# several exports separated by commas, e.g. "acme-actual,acme-amortized", so the FOCUS mapping combines
# the actual and amortized data), account_url (blob endpoint; required with a SAS token or a service
# principal, e.g. an Azurite URL in tests), authority_host (Microsoft Entra authority for a service
# principal; default the public cloud), ca_bundle (PEM file of extra CA certificates to trust).
# Per scope: one FocusCost export, or one ActualCost + one AmortizedCost export (a mix would double
# count and is refused with OVERLAPPING_EXPORTS).
# Secret (exactly one kind): connection_string; sas_token; or tenant_id + client_id + client_secret.
SPEC = ProviderSpec(
    slug="azure",
    name="Azure",
    category="cloud",
    config=AzureSourceConfig,
    secret=AzureSecret,
    check_pair=check_pair,
    pipeline=PipelineSpec(
        description=(
            "Azure Cost Management exports (ActualCost / AmortizedCost cost details: EA, MCA, partner (CSP) and "
            "pay-as-you-go usage details; or FocusCost 1.0 / 1.0r2 / 1.2-preview; CSV, gzip CSV, Parquet) from "
            "Blob Storage, via each run's manifest.json."
        ),
        # MonthToDate exports rewrite the whole month every day and the month-end rerun closes the
        # previous month a few days into the next: a run with no explicit period re-reads the current
        # and previous month.
        revision_window_months=2,
    ),
    raw_schema="cloud_azure_billing_raw_daily",
    quarantine_schema="cloud_azure_billing_quarantine",
    mapping="mappings/azure.sql",
    reference=(
        "reference/azure_services.csv",
        "reference/azure_regions.csv",
        "reference/focus_service_subcategories.csv",
    ),
    sdk=("azure",),
    connector="cloudact_providers.azure.connector:AzureBlobConnector",
    raw_select="cloudact_providers.azure.formats:build_raw_select",
    generator="cloudact_providers.azure.synthetic:generate",
    samples=(
        Sample("ea_actual", (f"{_SAMPLES}EA_ActualCost_Small.csv",), focus_rows=11),
        Sample("ea_amortized", (f"{_SAMPLES}EA_AmortizedCost_Small.csv",), focus_rows=28),
        Sample(
            "ea_actual_plus_amortized",
            (f"{_SAMPLES}EA_ActualCost_Small.csv", f"{_SAMPLES}EA_AmortizedCost_Small.csv"),
            focus_rows=29,
        ),
        Sample("ffs_ea_actual", (f"{_SAMPLES}ea_actual_sample-anonymous-ea-export-dataset.csv",), focus_rows=27),
        Sample("focuscost_1.0", ("azure/FocusCost_1.0_ea.csv",), focus_rows=10),
        Sample("focuscost_1.0r2", ("azure/FocusCost_1.0r2_ea.csv",), focus_rows=10),
        Sample("focuscost_1.2-preview", ("azure/FocusCost_1.2-preview_mca.csv",), focus_rows=10),
        # Layouts without a billing account column (formats.py): pay-as-you-go usage details (schema
        # 2019-11-01, PascalCase and camelCase headers) and a partner (CSP) customer's subscription-scope
        # actual + amortized exports (every amortized row + the actual reservation purchase).
        Sample("payg_usage_details", ("azure/PAYG_UsageDetails_2024-03.csv",), focus_rows=18),
        Sample("payg_usage_details_camelcase", ("azure/PAYG_UsageDetails_camelCase_2024-02.csv",), focus_rows=18),
        Sample(
            "csp_subscription_actual_plus_amortized",
            ("azure/CSP_ActualCost_subscription_2024-03.csv", "azure/CSP_AmortizedCost_subscription_2024-03.csv"),
            focus_rows=18,
        ),
    ),
)
