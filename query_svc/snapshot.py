"""A table's rows together with the exact version they show."""

from __future__ import annotations

from collections.abc import Sequence

import pyarrow.dataset as pads

from cloudact_shared.errors import NotFound, Unavailable
from cloudact_shared.storage import Condition, TableStore

_SNAPSHOT_ATTEMPTS = 3


def stable_snapshot(store: TableStore, dataset: str, table: str, version: int) -> tuple[pads.Dataset, int]:
    """The table's dataset and the exact version it shows (blocking).

    A dataset opened between two equal version reads is that version (versions only grow);
    when a write lands in between, try again with the newer version.

    Raises:
        NotFound: the table disappeared.
        Unavailable: writes kept landing while the table was opened.
    """
    for _ in range(_SNAPSHOT_ATTEMPTS):
        snapshot = store.scan(dataset, table)
        current = store.version(dataset, table)
        if current == version:
            return snapshot, version
        if current is None:
            raise NotFound(f"{dataset}.{table} disappeared", reason="FOCUS_TABLE_NOT_FOUND")
        version = current
    raise Unavailable(f"{dataset}.{table} is being rewritten; retry", reason="TABLE_BUSY")


def read_snapshot(
    store: TableStore, dataset: str, table: str, version: int, *, columns: Sequence[str], where: Sequence[Condition]
) -> tuple[pads.Dataset, int]:
    """The rows of ``table`` matching ``where`` (``columns`` only), held in memory, and the exact
    version they come from (blocking). For a store whose tables are not files here (BigQuery), where
    only the rows a question needs should cross the network.

    A read between two equal version reads is that version (versions only grow); when a write
    lands in between, read again at the newer version.

    Raises:
        NotFound: the table disappeared.
        Unavailable: writes kept landing while the table was read.
    """
    for _ in range(_SNAPSHOT_ATTEMPTS):
        rows = store.read(dataset, table, columns=columns, where=where).read_all()
        current = store.version(dataset, table)
        if current == version:
            return pads.dataset(rows), version
        if current is None:
            raise NotFound(f"{dataset}.{table} disappeared", reason="FOCUS_TABLE_NOT_FOUND")
        version = current
    raise Unavailable(f"{dataset}.{table} is being rewritten; retry", reason="TABLE_BUSY")
