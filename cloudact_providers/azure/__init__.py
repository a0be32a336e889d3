"""Azure: Cost Management exports (cost details, FocusCost) delivered to Blob Storage."""
