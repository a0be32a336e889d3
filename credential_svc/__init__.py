"""credential_svc: the credential vault (envelope encryption, org-scoped records, pipeline-only decrypt)."""
