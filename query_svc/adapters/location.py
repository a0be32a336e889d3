"""Where a table's files are on local disk, for the stores that keep them there."""

from __future__ import annotations

from pathlib import Path

from cloudact_shared.storage import TableStore


def local_table_dir(store: TableStore, dataset: str, table: str) -> Path | None:
    """The folder of ``dataset.table`` (its Delta log and data files), or None for a remote store.

    Only the embedded store keeps files on local disk; it is the one place in query_svc that knows
    which store it was given.
    """
    from cloudact_shared.storage.embedded import EmbeddedTableStore

    if isinstance(store, EmbeddedTableStore):
        return store.table_dir(dataset, table)
    return None
