"""The storage seam: table schemas, the TableStore protocol and its backends.

Names are loaded on first use (PEP 562): ``load_schema`` alone is what focus_svc's SQL and
``cloudact convert`` need, and the store side (pyarrow.dataset, Delta Lake, settings) costs
~0.1 s of start-up they should not pay.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cloudact_shared.storage.maintenance import maintain_once, run_maintenance, start_housekeeping
    from cloudact_shared.storage.protocol import Condition, SliceKey, StoreCapabilities, TableStore
    from cloudact_shared.storage.registry import open_store
    from cloudact_shared.storage.schema import TableSchema, load_schema, read_schema

_HOMES = {
    "maintain_once": "maintenance",
    "run_maintenance": "maintenance",
    "start_housekeeping": "maintenance",
    "Condition": "protocol",
    "SliceKey": "protocol",
    "StoreCapabilities": "protocol",
    "TableStore": "protocol",
    "open_store": "registry",
    "TableSchema": "schema",
    "load_schema": "schema",
    "read_schema": "schema",
}

__all__ = [
    "Condition",
    "SliceKey",
    "StoreCapabilities",
    "TableSchema",
    "TableStore",
    "load_schema",
    "maintain_once",
    "open_store",
    "read_schema",
    "run_maintenance",
    "start_housekeeping",
]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    globals()[name] = value
    return value
