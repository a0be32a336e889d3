"""Databricks: ``system.billing.usage`` priced with ``system.billing.list_prices``, read through a SQL warehouse.

The package holds everything specific to Databricks: ``credential.py`` (workspace, warehouse and
token or service principal models, no SDK), ``statements.py`` (the Databricks SQL the connector
sends), ``connector.py`` (the SQL Statement Execution API through databricks-sdk), ``formats.py``
(the connector's JSON lines -> raw rows), ``synthetic.py`` (generated system tables and exports),
``warehouse.py`` and ``loopback.py`` (the Statement Execution API on loopback, answering statements
over generated system tables with DuckDB, for the tests and ``make demo``). Its SQL is under ``sql/``.
"""

from cloudact_providers.databricks.credential import DatabricksSecret, DatabricksSourceConfig
from cloudact_providers.spec import PipelineSpec, ProviderSpec, Sample

# Credential fields (credential.py). Config: host (the workspace URL), warehouse_id (the SQL
# warehouse that runs the statements), statement_timeout_seconds (default 900), retry_seconds
# (default 120). Secret: token (a personal access token) or client_id + client_secret (a service
# principal's OAuth M2M secret); the identity needs SELECT on system.billing and CAN USE on the warehouse.
SPEC = ProviderSpec(
    slug="databricks",
    name="Databricks",
    category="saas",
    config=DatabricksSourceConfig,
    secret=DatabricksSecret,
    pipeline=PipelineSpec(
        description=(
            "Databricks system.billing.usage priced with system.billing.list_prices (half-open price intervals), "
            "read per usage month through the SQL Statement Execution API; corrections (RETRACTION, "
            "RESTATEMENT) kept as their own rows."
        ),
        # Usage records are appended within hours, but corrections are appended as RETRACTION and
        # RESTATEMENT records on the original usage dates, with no documented bound on how late they
        # come, and Databricks invoices a month only after it closes. A run with no explicit period
        # re-reads the current month and the two before it, each whole, replacing its slice: the
        # month being invoiced and the corrections that follow in the next weeks are picked up.
        revision_window_months=3,
    ),
    raw_schema="cloud_databricks_billing_raw_daily",
    quarantine_schema="cloud_databricks_billing_quarantine",
    mapping="mappings/databricks.sql",
    reference=("reference/databricks_services.csv",),
    sdk=("databricks.sdk",),
    connector="cloudact_providers.databricks.connector:DatabricksBillingConnector",
    raw_select="cloudact_providers.databricks.formats:build_raw_select",
    generator="cloudact_providers.databricks.synthetic:generate",
    samples=(Sample("system_tables", make="cloudact_providers.databricks.synthetic:sample", focus_rows=97),),
    demo="cloudact_providers.databricks.loopback:demo_source",
)
