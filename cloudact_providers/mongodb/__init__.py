"""MongoDB Atlas: an organization's invoices and their line items, from the Atlas Admin API v2.

The package holds everything specific to Atlas: ``credential.py`` (organization and service account,
no HTTP), ``client.py`` (the provider's own small Admin API client: there is no official Python SDK),
``connector.py`` (invoices per billing month), ``formats.py`` (the connector's JSON lines -> raw rows),
``synthetic.py`` (generated invoices) and ``loopback.py`` (the Admin API on 127.0.0.1 for the tests and
the demo). Its SQL is under ``sql/``.
"""

from cloudact_providers.mongodb.credential import AtlasServiceAccount, AtlasSourceConfig
from cloudact_providers.spec import PipelineSpec, ProviderSpec, Sample

# Credential fields (credential.py). Config: org_id (the organization, 24 hexadecimal digits), api_url
# (default https://cloud.mongodb.com; https://cloud.mongodbgov.com for Atlas for Government),
# items_per_page (invoice list page size, 1..500, default 100), max_attempts (of a throttled or failed
# request, default 5). Secret: client_id and client_secret of a service account with the Organization
# Billing Viewer role (or Billing Admin, or Owner).
SPEC = ProviderSpec(
    slug="mongodb",
    name="MongoDB Atlas",
    category="saas",
    config=AtlasSourceConfig,
    secret=AtlasServiceAccount,
    pipeline=PipelineSpec(
        description=(
            "MongoDB Atlas invoices from the Admin API v2 (/api/atlas/v2/orgs/{orgId}/invoices): every invoice "
            "of the billing month, its line items and sales tax, cents converted to dollars exactly."
        ),
        # An Atlas invoice accrues during its month (statusName PENDING: line items are added and updated
        # daily) and closes when the month ends; Atlas then issues and charges it in the first days of the
        # next month, after which it is not restated (a later correction is a credit on a later invoice).
        # A run with no explicit period re-reads the current month and the previous one.
        revision_window_months=2,
    ),
    raw_schema="cloud_mongodb_billing_raw_daily",
    quarantine_schema="cloud_mongodb_billing_quarantine",
    mapping="mappings/mongodb.sql",
    reference=("reference/mongodb_services.csv",),
    sdk=("cloudact_providers.mongodb.client",),
    connector="cloudact_providers.mongodb.connector:AtlasInvoicesConnector",
    raw_select="cloudact_providers.mongodb.formats:build_raw_select",
    generator="cloudact_providers.mongodb.synthetic:generate",
    samples=(Sample("closed_and_pending", make="cloudact_providers.mongodb.synthetic:sample", focus_rows=52),),
    demo="cloudact_providers.mongodb.loopback:demo_source",
)
