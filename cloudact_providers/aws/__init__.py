"""AWS: Data Exports (CUR 2.0) and legacy Cost and Usage Reports delivered to S3.

The package holds everything specific to AWS: ``credential.py`` (config and secret models, no SDK),
``connector.py`` (S3 through aioboto3), ``formats.py`` (the export files -> raw rows) and
``synthetic/`` (generated CUR 2.0 deliveries and legacy CUR files). Its SQL is under ``sql/``.
"""

from cloudact_providers.aws.credential import AwsSecret, AwsSourceConfig
from cloudact_providers.spec import PipelineSpec, ProviderSpec, Sample

# Credential fields (credential.py). Config: bucket (required), prefix, export_name (required),
# layout cur2 | legacy, region (default us-east-1), endpoint_url (an S3-compatible endpoint, e.g. a
# moto server in tests). Secret: aws_access_key_id, aws_secret_access_key, optional aws_session_token.
SPEC = ProviderSpec(
    slug="aws",
    name="AWS",
    category="cloud",
    config=AwsSourceConfig,
    secret=AwsSecret,
    pipeline=PipelineSpec(
        description=("AWS Data Exports (CUR 2.0 Parquet / gzip CSV) and legacy CUR from S3, via the export manifest."),
        # AWS restates a whole billing month on every refresh and may still amend a closed month for
        # about two weeks: a run with no explicit period re-reads the current and the previous month.
        revision_window_months=2,
    ),
    raw_schema="cloud_aws_billing_raw_daily",
    quarantine_schema="cloud_aws_billing_quarantine",
    mapping="mappings/aws.sql",
    reference=("reference/aws_services.csv", "reference/aws_regions.csv"),
    sdk=("boto3", "botocore", "aioboto3", "aiobotocore"),
    connector="cloudact_providers.aws.connector:AwsS3Connector",
    raw_select="cloudact_providers.aws.formats:build_raw_select",
    generator="cloudact_providers.aws.synthetic:generate",
    samples=(
        Sample("legacy_sample", ("samples/aws/cur_legacy_sample-anonymous-aws-export-dataset.csv",), focus_rows=1281),
        Sample("cur2_every_type", ("aws/cur2_every_line_item_type.csv",), focus_rows=23),
    ),
)
