"""Where a table's files are on local disk, for the stores that keep them there."""

from __future__ import annotations

from pathlib import Path

from cloudact_shared.storage import TableStore


def local_table_dir(store: TableStore, dataset: str, table: str) -> Path | None:
    """The folder of ``dataset.table`` (its Delta log and data files), or None for a remote store.

    TableStore has no "where is this table" method yet, so this knows the embedded store's layout
    (through its name-validating ``_path``); it is the one place in query_svc that does.
    """
    from cloudact_shared.storage.embedded import EmbeddedTableStore

    if isinstance(store, EmbeddedTableStore):
        return store._path(dataset, table)
    return None
