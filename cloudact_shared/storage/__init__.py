"""The storage seam: table schemas, the TableStore protocol and its backends."""

from cloudact_shared.storage.protocol import SliceKey, StoreCapabilities, TableStore
from cloudact_shared.storage.registry import open_store
from cloudact_shared.storage.schema import TableSchema, load_schema

__all__ = ["SliceKey", "StoreCapabilities", "TableSchema", "TableStore", "load_schema", "open_store"]
