"""The storage seam: table schemas, the TableStore protocol and its backends."""

from cloudact_shared.storage.maintenance import maintain_once, run_maintenance, start_housekeeping
from cloudact_shared.storage.protocol import SliceKey, StoreCapabilities, TableStore
from cloudact_shared.storage.registry import open_store
from cloudact_shared.storage.schema import TableSchema, load_schema

__all__ = [
    "SliceKey",
    "StoreCapabilities",
    "TableSchema",
    "TableStore",
    "load_schema",
    "maintain_once",
    "open_store",
    "run_maintenance",
    "start_housekeeping",
]
