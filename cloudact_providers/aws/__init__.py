"""AWS: Data Exports (CUR 2.0) and legacy Cost and Usage Reports delivered to S3."""
