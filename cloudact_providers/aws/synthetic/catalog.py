"""What the synthetic exports are made of: column lists, line item mix, accounts, regions, SKUs."""

from __future__ import annotations

from dataclasses import dataclass

# Header of the real anonymised legacy CUR export (94 columns, this order).
LEGACY_CUR_COLUMNS: tuple[str, ...] = (
    "identity/LineItemId", "identity/TimeInterval", "bill/InvoiceId", "bill/InvoicingEntity",
    "bill/BillingEntity", "bill/BillType", "bill/PayerAccountId", "bill/BillingPeriodStartDate",
    "bill/BillingPeriodEndDate", "lineItem/UsageAccountId", "lineItem/LineItemType",
    "lineItem/UsageStartDate", "lineItem/UsageEndDate", "lineItem/ProductCode", "lineItem/UsageType",
    "lineItem/Operation", "lineItem/AvailabilityZone", "lineItem/UsageAmount",
    "lineItem/NormalizationFactor", "lineItem/NormalizedUsageAmount", "lineItem/CurrencyCode",
    "lineItem/UnblendedRate", "lineItem/UnblendedCost", "lineItem/BlendedRate", "lineItem/BlendedCost",
    "lineItem/LineItemDescription", "lineItem/TaxType", "lineItem/LegalEntity", "product/ProductName",
    "product/availability", "product/durability", "product/eventType", "product/feeCode",
    "product/feeDescription", "product/fromLocation", "product/fromLocationType",
    "product/fromRegionCode", "product/group", "product/groupDescription", "product/location",
    "product/locationType", "product/messageDeliveryFrequency", "product/messageDeliveryOrder",
    "product/operation", "product/overhead", "product/productFamily", "product/productType",
    "product/queueType", "product/region", "product/regionCode", "product/servicecode",
    "product/servicename", "product/sku", "product/storageClass", "product/storageMedia",
    "product/toLocation", "product/toLocationType", "product/toRegionCode", "product/transferType",
    "product/usagetype", "product/version", "product/volumeType", "pricing/RateCode", "pricing/RateId",
    "pricing/currency", "pricing/publicOnDemandCost", "pricing/publicOnDemandRate", "pricing/term",
    "pricing/unit", "reservation/AmortizedUpfrontCostForUsage",
    "reservation/AmortizedUpfrontFeeForBillingPeriod", "reservation/EffectiveCost",
    "reservation/EndTime", "reservation/ModificationStatus",
    "reservation/NormalizedUnitsPerReservation", "reservation/NumberOfReservations",
    "reservation/RecurringFeeForUsage", "reservation/StartTime", "reservation/SubscriptionId",
    "reservation/TotalReservedNormalizedUnits", "reservation/TotalReservedUnits",
    "reservation/UnitsPerReservation", "reservation/UnusedAmortizedUpfrontFeeForBillingPeriod",
    "reservation/UnusedNormalizedUnitQuantity", "reservation/UnusedQuantity",
    "reservation/UnusedRecurringFee", "reservation/UpfrontValue", "savingsPlan/TotalCommitmentToDate",
    "savingsPlan/SavingsPlanARN", "savingsPlan/SavingsPlanRate", "savingsPlan/UsedCommitment",
    "savingsPlan/SavingsPlanEffectiveCost", "savingsPlan/AmortizedUpfrontCommitmentForBillingPeriod",
    "savingsPlan/RecurringCommitmentForBillingPeriod",
)  # fmt: skip

LINE_ITEM_TYPES: tuple[str, ...] = (
    "Usage", "DiscountedUsage", "RIFee", "Fee", "SavingsPlanCoveredUsage", "SavingsPlanNegation",
    "SavingsPlanRecurringFee", "Tax", "Credit", "Refund", "EdpDiscount", "BundledDiscount",
)  # fmt: skip

# CUR 2.0 columns written by generate_cur2, with their Data Exports types.
CUR2_COLUMNS: tuple[tuple[str, str], ...] = (
    ("identity_line_item_id", "string"), ("identity_time_interval", "string"),
    ("bill_bill_type", "string"), ("bill_billing_entity", "string"),
    ("bill_billing_period_end_date", "timestamp"), ("bill_billing_period_start_date", "timestamp"),
    ("bill_invoice_id", "string"), ("bill_invoicing_entity", "string"),
    ("bill_payer_account_id", "string"), ("bill_payer_account_name", "string"),
    ("cost_category", "map<string,string>"), ("discount", "map<string,double>"),
    ("discount_bundled_discount", "double"), ("discount_total_discount", "double"),
    ("line_item_availability_zone", "string"), ("line_item_blended_cost", "double"),
    ("line_item_blended_rate", "string"), ("line_item_currency_code", "string"),
    ("line_item_legal_entity", "string"), ("line_item_line_item_description", "string"),
    ("line_item_line_item_type", "string"), ("line_item_net_unblended_cost", "double"),
    ("line_item_net_unblended_rate", "string"), ("line_item_normalization_factor", "double"),
    ("line_item_normalized_usage_amount", "double"), ("line_item_operation", "string"),
    ("line_item_product_code", "string"), ("line_item_resource_id", "string"),
    ("line_item_tax_type", "string"), ("line_item_unblended_cost", "double"),
    ("line_item_unblended_rate", "string"), ("line_item_usage_account_id", "string"),
    ("line_item_usage_account_name", "string"), ("line_item_usage_amount", "double"),
    ("line_item_usage_end_date", "timestamp"), ("line_item_usage_start_date", "timestamp"),
    ("line_item_usage_type", "string"), ("pricing_currency", "string"),
    ("pricing_lease_contract_length", "string"), ("pricing_offering_class", "string"),
    ("pricing_public_on_demand_cost", "double"), ("pricing_public_on_demand_rate", "string"),
    ("pricing_purchase_option", "string"), ("pricing_rate_code", "string"),
    ("pricing_rate_id", "string"), ("pricing_term", "string"), ("pricing_unit", "string"),
    ("product", "map<string,string>"), ("product_fee_code", "string"),
    ("product_fee_description", "string"), ("product_from_location", "string"),
    ("product_from_location_type", "string"), ("product_from_region_code", "string"),
    ("product_instance_family", "string"), ("product_instance_type", "string"),
    ("product_location", "string"), ("product_location_type", "string"),
    ("product_operation", "string"), ("product_pricing_unit", "string"),
    ("product_product_family", "string"), ("product_region_code", "string"),
    ("product_servicecode", "string"), ("product_sku", "string"), ("product_to_location", "string"),
    ("product_to_location_type", "string"), ("product_to_region_code", "string"),
    ("product_usagetype", "string"),
    ("reservation_amortized_upfront_cost_for_usage", "double"),
    ("reservation_amortized_upfront_fee_for_billing_period", "double"),
    ("reservation_availability_zone", "string"), ("reservation_effective_cost", "double"),
    ("reservation_end_time", "string"), ("reservation_modification_status", "string"),
    ("reservation_net_effective_cost", "double"),
    ("reservation_normalized_units_per_reservation", "string"),
    ("reservation_number_of_reservations", "string"),
    ("reservation_recurring_fee_for_usage", "double"), ("reservation_reservation_a_r_n", "string"),
    ("reservation_start_time", "string"), ("reservation_subscription_id", "string"),
    ("reservation_total_reserved_normalized_units", "string"),
    ("reservation_total_reserved_units", "string"), ("reservation_units_per_reservation", "string"),
    ("reservation_unused_amortized_upfront_fee_for_billing_period", "double"),
    ("reservation_unused_normalized_unit_quantity", "double"),
    ("reservation_unused_quantity", "double"), ("reservation_unused_recurring_fee", "double"),
    ("reservation_upfront_value", "double"), ("resource_tags", "map<string,string>"),
    ("savings_plan_amortized_upfront_commitment_for_billing_period", "double"),
    ("savings_plan_end_time", "string"), ("savings_plan_instance_type_family", "string"),
    ("savings_plan_net_savings_plan_effective_cost", "double"),
    ("savings_plan_offering_type", "string"), ("savings_plan_payment_option", "string"),
    ("savings_plan_purchase_term", "string"),
    ("savings_plan_recurring_commitment_for_billing_period", "double"),
    ("savings_plan_region", "string"), ("savings_plan_savings_plan_a_r_n", "string"),
    ("savings_plan_savings_plan_effective_cost", "double"),
    ("savings_plan_savings_plan_rate", "double"), ("savings_plan_start_time", "string"),
    ("savings_plan_total_commitment_to_date", "double"), ("savings_plan_used_commitment", "double"),
    ("split_line_item_parent_resource_id", "string"), ("split_line_item_split_cost", "double"),
    ("split_line_item_unused_cost", "double"),
)  # fmt: skip

# CUR 2.0 types that are not plain strings in the canonical relation -> the cast used in CSV.
_CUR2_RATE_AS_STRING = {
    "line_item_blended_rate", "line_item_unblended_rate", "line_item_net_unblended_rate",
    "pricing_public_on_demand_rate", "reservation_normalized_units_per_reservation",
    "reservation_number_of_reservations", "reservation_total_reserved_normalized_units",
    "reservation_total_reserved_units", "reservation_units_per_reservation",
}  # fmt: skip

_PAYER = "210987654321"
_PAYER_NAME = "acme-management"
_INVOICING_ENTITY = "Amazon Web Services, Inc."

# (account id, account name, team, environment, cost centre, business unit, weight)
_ACCOUNTS: tuple[tuple[str, str, str, str, str, str, int], ...] = (
    ("210987654321", "acme-management", "finops", "prod", "CC-1000", "Corporate", 1),
    ("318276450193", "acme-prod-platform", "platform", "prod", "CC-2100", "Engineering", 6),
    ("427165349082", "acme-prod-data", "data", "prod", "CC-2200", "Engineering", 5),
    ("536054238971", "acme-staging", "platform", "staging", "CC-2100", "Engineering", 3),
    ("645943127860", "acme-dev", "web", "dev", "CC-2300", "Engineering", 2),
    ("754832016759", "acme-security", "security", "prod", "CC-3100", "Security", 1),
    ("863721905648", "acme-ml-sandbox", "ml", "sandbox", "CC-2400", "Research", 2),
)

# (region code, location name, usage-type prefix, weight)
_REGIONS: tuple[tuple[str, str, str, int], ...] = (
    ("us-east-1", "US East (N. Virginia)", "", 8),
    ("us-west-2", "US West (Oregon)", "USW2-", 4),
    ("eu-west-1", "EU (Ireland)", "EU-", 3),
    ("eu-central-1", "EU (Frankfurt)", "EUC1-", 2),
    ("ap-northeast-1", "Asia Pacific (Tokyo)", "APN1-", 1),
    ("ap-southeast-2", "Asia Pacific (Sydney)", "APS2-", 1),
    ("ca-central-1", "Canada (Central)", "CAN1-", 1),
)
_TRANSFER_PREFIX = {"us-east-1": "USE1-"}


@dataclass(frozen=True)
class _Sku:
    """One priced product line: what a usage row of this kind looks like."""

    product_code: str
    product_name: str
    family: str
    usage_type: str  # without the region prefix
    operation: str
    unit: str
    rate: float  # public on-demand rate per unit (USD)
    scale: float  # typical usage amount per line item; 0 = one unit per hour
    description: str  # '{rate}' and '{location}' are filled in
    resource: str  # resource id template: '{region}', '{account}', '{hex}'
    commit: str = ""  # 'ri', 'sp', 'ri+sp' or ''
    instance_type: str = ""
    normalization: float = 0.0
    attrs: tuple[tuple[str, str], ...] = ()  # legacy product/<attr> values
    legal_entity: str = ""  # Marketplace seller; '' = AWS
    servicecode: str = ""
    servicename: str = ""
    weight: int = 1  # how often usage rows pick it, relative to the others; 0 = only as a new service


_EC2 = "Amazon Elastic Compute Cloud"
_S3 = "Amazon Simple Storage Service"
_RDS = "Amazon Relational Database Service"
_CAT: tuple[_Sku, ...] = (
    _Sku("AmazonEC2", _EC2, "Compute Instance", "BoxUsage:m5.xlarge", "RunInstances", "Hrs", 0.192, 0,
         "${rate} per On Demand Linux m5.xlarge Instance Hour", "i-{hex17}", "ri+sp", "m5.xlarge", 8,
         (("productType", "Compute Instance"), ("version", "1")), weight=10),
    _Sku("AmazonEC2", _EC2, "Compute Instance", "BoxUsage:c6i.2xlarge", "RunInstances", "Hrs", 0.34, 0,
         "${rate} per On Demand Linux c6i.2xlarge Instance Hour", "i-{hex17}", "ri+sp", "c6i.2xlarge",
         16, weight=8),
    _Sku("AmazonEC2", _EC2, "Compute Instance", "BoxUsage:r6g.large", "RunInstances", "Hrs", 0.1008,
         0, "${rate} per On Demand Linux r6g.large Instance Hour", "i-{hex17}", "ri+sp", "r6g.large", 4, weight=6),
    _Sku("AmazonEC2", _EC2, "Compute Instance", "SpotUsage:m5.large", "RunInstances:SV001", "Hrs",
         0.0396, 0, "${rate} per Linux m5.large Spot Instance-hour in {location}", "i-{hex17}", "",
         "m5.large", 4, weight=3),
    _Sku("AmazonEC2", _EC2, "Storage", "EBS:VolumeUsage.gp3", "CreateVolume-Gp3", "GB-Mo", 0.08, 8.0,
         "${rate} per GB-month of General Purpose (gp3) provisioned storage - {location}",
         "vol-{hex17}", attrs=(("storageMedia", "SSD-backed"), ("volumeType", "General Purpose")), weight=4),
    _Sku("AmazonEC2", _EC2, "Storage Snapshot", "EBS:SnapshotUsage", "CreateSnapshot", "GB-Mo", 0.05,
         5.0, "${rate} per GB-Month of snapshot data stored - {location}", "snap-{hex17}",
         attrs=(("storageMedia", "Amazon S3"),), weight=2),
    _Sku("AmazonEC2", _EC2, "NAT Gateway", "NatGateway-Hours", "NatGateway", "Hrs", 0.045, 0,
         "${rate} per NAT Gateway Hour", "arn:aws:ec2:{region}:{account}:natgateway/nat-{hex17}",
         attrs=(("group", "NGW:NatGateway"), ("groupDescription", "Hourly charge for NAT Gateways")), weight=2),
    _Sku("AmazonS3", _S3, "Storage", "TimedStorage-ByteHrs", "StandardStorage", "GB-Mo", 0.023, 30.0,
         "${rate} per GB - first 50 TB / month of storage used", "acme-{team}-data-{hex6}",
         attrs=(("availability", "99.99%"), ("durability", "99.999999999%"),
                ("storageClass", "General Purpose"), ("volumeType", "Standard")), weight=5),
    _Sku("AmazonS3", _S3, "API Request", "Requests-Tier1", "PutObject", "Requests", 0.000005, 20000.0,
         "${rate} per 1,000 PUT, COPY, POST, or LIST requests", "acme-{team}-data-{hex6}",
         attrs=(("group", "S3-API-Tier1"), ("groupDescription", "PUT/COPY/POST or LIST requests")), weight=2),
    _Sku("AmazonS3", _S3, "Storage", "TimedStorage-GlacierByteHrs", "GlacierObjectOverhead", "GB-Mo",
         0.0036, 100.0, "${rate} per GB / month of storage used - Amazon Glacier",
         "acme-{team}-archive-{hex6}",
         attrs=(("availability", "N/A"), ("durability", "99.999999999%"), ("storageClass", "Archive"),
                ("volumeType", "Amazon Glacier"), ("overhead", "Staging Storage 1")), weight=2),
    _Sku("AmazonRDS", _RDS, "Database Instance", "InstanceUsage:db.r6g.large",
         "CreateDBInstance:0016", "Hrs", 0.225, 0,
         "${rate} per RDS db.r6g.large instance hour (or partial hour) running PostgreSQL",
         "arn:aws:rds:{region}:{account}:db:{team}-pg-{hex6}", "ri", "db.r6g.large", 4, weight=6),
    _Sku("AmazonRDS", _RDS, "Database Storage", "RDS:GP3-Storage", "CreateDBInstance:0016", "GB-Mo",
         0.115, 6.0, "${rate} per GB-month of provisioned GP3 storage running PostgreSQL",
         "arn:aws:rds:{region}:{account}:db:{team}-pg-{hex6}",
         attrs=(("storageMedia", "SSD"), ("volumeType", "General Purpose-GP3")), weight=2),
    _Sku("AWSLambda", "AWS Lambda", "Serverless", "Lambda-GB-Second", "Invoke", "Lambda-GB-Second",
         0.0000166667, 9000.0, "AWS Lambda - Total Compute - {location}",
         "arn:aws:lambda:{region}:{account}:function:{team}-handler-{hex6}", "sp",
         attrs=(("group", "AWS-Lambda-Duration"), ("groupDescription", "Invocation duration")), weight=3),
    _Sku("AWSLambda", "AWS Lambda", "Serverless", "Request", "Invoke", "Requests", 0.0000002, 50000.0,
         "AWS Lambda - Total Requests - {location}",
         "arn:aws:lambda:{region}:{account}:function:{team}-handler-{hex6}",
         attrs=(("group", "AWS-Lambda-Requests"), ("groupDescription", "Invocation call for a Lambda"))),
    _Sku("AmazonCloudWatch", "AmazonCloudWatch", "Metric", "CW:MetricMonitorUsage", "MetricStorage",
         "Metrics", 0.3, 1.0, "${rate} per metric-month - first 10,000 metrics - {location}",
         "arn:aws:cloudwatch:{region}:{account}:metric/{team}",
         attrs=(("group", "Metric"), ("groupDescription", "Custom metrics")), weight=2),
    _Sku("AmazonCloudWatch", "AmazonCloudWatch", "Data Payload", "DataProcessing-Bytes", "PutLogEvents",
         "GB", 0.5, 0.6, "${rate} per GB custom log data ingested - {location}",
         "arn:aws:logs:{region}:{account}:log-group:/aws/{team}/app-{hex6}",
         attrs=(("group", "Ingested Logs"), ("groupDescription", "Existing system, application logs")), weight=2),
    _Sku("AmazonDynamoDB", "Amazon DynamoDB", "Amazon DynamoDB PayPerRequest Throughput",
         "ReadRequestUnits", "GetItem", "ReadRequestUnits", 0.00000025, 400000.0,
         "${rate} per read request unit for on-demand tables - {location}",
         "arn:aws:dynamodb:{region}:{account}:table/{team}-events-{hex6}",
         attrs=(("group", "DDB-ReadUnits"), ("groupDescription", "Pay per request read units")), weight=2),
    _Sku("AmazonDynamoDB", "Amazon DynamoDB", "Database Storage", "TimedStorage-ByteHrs",
         "StandardStorage", "GB-Mo", 0.25, 3.0, "${rate} per GB-Month of storage used beyond 25 GB",
         "arn:aws:dynamodb:{region}:{account}:table/{team}-events-{hex6}",
         attrs=(("storageMedia", "SSD-backed"), ("volumeType", "Amazon DynamoDB - Indexed DataStore")), weight=2),
    _Sku("AmazonEKS", "Amazon Elastic Container Service for Kubernetes", "Compute",
         "AmazonEKS-Hours:perCluster", "CreateOperation", "Hrs", 0.1, 0,
         "Amazon EKS cluster usage in {location}",
         "arn:aws:eks:{region}:{account}:cluster/{team}-cluster-{hex6}", weight=2),
    _Sku("AmazonECS", "Amazon Elastic Container Service", "Compute", "Fargate-vCPU-Hours:perCPU",
         "FargateTask", "hours", 0.04048, 2.0, "AWS Fargate - vCPU - {location}",
         "arn:aws:ecs:{region}:{account}:task/{team}-svc/{hex17}", "sp", weight=4),
    _Sku("AWSDataTransfer", "AWS Data Transfer", "Data Transfer", "DataTransfer-Out-Bytes",
         "RunInstances", "GB", 0.09, 4.0, "${rate} per GB - first 10 TB / month data transfer out",
         "i-{hex17}", attrs=(("transferType", "AWS Outbound"),), weight=3),
    _Sku("AWSDataTransfer", "AWS Data Transfer", "Data Transfer", "{xfer}-AWS-Out-Bytes", "PutObject",
         "GB", 0.02, 8.0, "${rate} per GB - {location} data transfer to {to_location}",
         "acme-{team}-data-{hex6}", attrs=(("transferType", "InterRegion Outbound"),), weight=2),
    _Sku("awskms", "AWS Key Management Service", "Encryption Key", "KMS-Keys", "CreateKey", "Keys",
         1.0, 0.05, "${rate} per customer master key (CMK) per month - {location}",
         "arn:aws:kms:{region}:{account}:key/{uuid}"),
    _Sku("awskms", "AWS Key Management Service", "API Request", "KMS-Requests", "GenerateDataKey",
         "Requests", 0.000003, 3000.0, "${rate} per 10,000 requests - {location}",
         "arn:aws:kms:{region}:{account}:key/{uuid}"),
    _Sku("AWSQueueService", "Amazon Simple Queue Service", "API Request", "Requests-RBP", "SendMessage",
         "Requests", 0.0000004, 60000.0, "${rate} per 1M Amazon SQS standard requests - {location}",
         "arn:aws:sqs:{region}:{account}:{team}-jobs-{hex6}",
         attrs=(("group", "SQS-APIRequest-Tier1"), ("groupDescription", "Amazon SQS Requests"),
                ("messageDeliveryFrequency", "At Least Once"),
                ("messageDeliveryOrder", "Not Guaranteed"), ("queueType", "Standard"))),
    _Sku("AmazonSNS", "Amazon Simple Notification Service", "API Request", "Requests-Tier1", "Publish",
         "Requests", 0.0000005, 20000.0, "${rate} per 1M Amazon SNS API requests - {location}",
         "arn:aws:sns:{region}:{account}:{team}-alerts-{hex6}"),
    _Sku("AmazonElastiCache", "Amazon ElastiCache", "Cache Instance", "NodeUsage:cache.r6g.large",
         "CreateCacheCluster:0012", "NodeHour", 0.206, 0,
         "${rate} per Redis cache.r6g.large node hour (or partial hour)",
         "arn:aws:elasticache:{region}:{account}:cluster:{team}-redis-{hex6}", "ri", "cache.r6g.large",
         4, weight=4),
    _Sku("AmazonCloudFront", "Amazon CloudFront", "Data Transfer", "DataTransfer-Out-Bytes", "GET",
         "GB", 0.085, 6.0, "${rate} per GB - first 10 TB / month data transfer out",
         "arn:aws:cloudfront::{account}:distribution/E{hex6}",
         attrs=(("transferType", "CloudFront Outbound"),), weight=2),
    _Sku("AWSSecretsManager", "AWS Secrets Manager", "Secret", "AWSSecretsManager-Secrets",
         "StoreSecret", "Secrets", 0.4, 0.05, "${rate} per secret per month - {location}",
         "arn:aws:secretsmanager:{region}:{account}:secret:{team}/db-{hex6}"),
    _Sku("AWSGlue", "AWS Glue", "AWS Glue", "GlueJobRun", "Jobrun", "DPU-Hour", 0.44, 0.5,
         "${rate} per Data Processing Unit-Hour for AWS Glue ETL job",
         "arn:aws:glue:{region}:{account}:job/{team}-etl-{hex6}",
         attrs=(("group", "ETL Job run"), ("groupDescription", "Apache Spark ETL job run")), weight=2),
    _Sku("AmazonVPC", "Amazon Virtual Private Cloud", "VpcEndpoint", "PublicIPv4:InUseAddress",
         "AssociateAddressVPC", "Hrs", 0.005, 0, "${rate} per In-use public IPv4 address per hour",
         "eipalloc-{hex17}", weight=2),
    # A service the company adopts: no usage in the baseline month, ramping up with ``growth``.
    _Sku("AmazonSageMaker", "Amazon SageMaker", "ML Instance", "Host:ml.g5.xlarge", "RunInstance",
         "Hrs", 1.408, 0, "${rate} per Hosting ml.g5.xlarge hour in {location}",
         "arn:aws:sagemaker:{region}:{account}:endpoint/{team}-inference-{hex6}", instance_type="ml.g5.xlarge",
         attrs=(("group", "ML Hosting"), ("groupDescription", "Real-time inference endpoint")), weight=0),
    # AWS Marketplace (third-party sellers)
    _Sku("8s1kyuc3qmhp9mn7jk1fzbbm5", "Datadog Pro", "SaaS", "Hosts", "Unused", "Hosts", 0.03, 20.0,
         "Datadog Pro - infrastructure host hours", "", legal_entity="Datadog, Inc.",
         servicecode="8s1kyuc3qmhp9mn7jk1fzbbm5", servicename="Datadog Pro"),
    _Sku("5tkvp7gdh0yf3fmhs0cy3zfw8", "Confluent Cloud (Pay as you go)", "SaaS", "ConfluentUnits",
         "Unused", "Units", 0.01, 40.0, "Confluent Cloud consumption units",
         "", legal_entity="Confluent, Inc.", servicecode="5tkvp7gdh0yf3fmhs0cy3zfw8",
         servicename="Confluent Cloud (Pay as you go)"),
    _Sku("b6yg6nl0pgzbe8y3m2fk1i2ho", "MongoDB Atlas (pay-as-you-go)", "SaaS", "AtlasUsage", "Unused",
         "Units", 0.01, 40.0, "MongoDB Atlas usage credits", "", legal_entity="MongoDB, Inc.",
         servicecode="b6yg6nl0pgzbe8y3m2fk1i2ho", servicename="MongoDB Atlas (pay-as-you-go)"),
)  # fmt: skip

_LEGACY_ATTRS = (
    "availability", "durability", "eventType", "group", "groupDescription", "messageDeliveryFrequency",
    "messageDeliveryOrder", "overhead", "productType", "queueType", "storageClass", "storageMedia",
    "transferType", "version", "volumeType",
)  # fmt: skip
