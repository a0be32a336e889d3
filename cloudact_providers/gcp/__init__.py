"""GCP: the Cloud Billing export in BigQuery (standard or detailed usage cost table)."""
