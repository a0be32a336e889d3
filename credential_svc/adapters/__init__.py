"""Outside systems only credential_svc uses: the key-encryption service (KMS / key ring) and SQLite."""
