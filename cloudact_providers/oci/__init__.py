"""OCI: cost reports and FOCUS reports in Oracle-owned Object Storage."""
