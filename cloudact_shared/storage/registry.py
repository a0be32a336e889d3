"""Backend registry: maps a storage_backend name to its TableStore, importing lazily."""

from __future__ import annotations

from cloudact_shared.settings import CloudactSettings
from cloudact_shared.storage.protocol import TableStore


def open_store(settings: CloudactSettings) -> TableStore:
    """Builds the TableStore named by ``settings.storage_backend``."""
    if settings.storage_backend == "embedded":
        from cloudact_shared.storage.embedded import EmbeddedTableStore

        return EmbeddedTableStore(settings.data_dir)
    raise ValueError(f"unknown storage backend {settings.storage_backend!r}")
