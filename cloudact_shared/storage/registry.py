"""Backend registry: maps the warehouse setting to its TableStore, importing lazily."""

from __future__ import annotations

from cloudact_shared.settings import CloudactSettings
from cloudact_shared.storage.protocol import TableStore


def open_store(settings: CloudactSettings) -> TableStore:
    """Builds the TableStore of ``settings.warehouse``."""
    if settings.warehouse == "embedded":
        from cloudact_shared.storage.embedded import EmbeddedTableStore

        plan = settings.memory_plan
        return EmbeddedTableStore(
            settings.data_dir, batch_rows=plan.batch_rows, duckdb_memory_limit=plan.duckdb_memory_limit
        )
    if settings.warehouse == "bigquery":
        from cloudact_shared.storage.bigquery import BigQueryTableStore

        return BigQueryTableStore.from_settings(settings)
    raise ValueError(f"unknown warehouse {settings.warehouse!r}")
