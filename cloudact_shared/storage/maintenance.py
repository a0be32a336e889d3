"""Table upkeep a service runs in the background: abandoned writes recovered, removed files vacuumed.

Every ``replace_slice`` removes the files it replaces from the table's current version but leaves
them on disk for time travel; without a vacuum a table grows by a copy of each slice on every run.
A service starts ``run_maintenance`` as a task at start-up and sets the stop event at shutdown::

    stop = asyncio.Event()
    task = asyncio.create_task(run_maintenance(store, stop, interval_hours=24, retention_hours=168))
    ...
    stop.set()
    await task
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable

from cloudact_shared.errors import CloudactError
from cloudact_shared.storage.protocol import TableStore
from cloudact_shared.workspace import WorkDirs

_log = logging.getLogger(__name__)

TableFilter = Callable[[str, str], bool]
"""(dataset, table) -> whether this service maintains that table."""


def every_table(dataset: str, table: str) -> bool:
    """The default filter: every table of the store."""
    return True


async def run_maintenance(
    store: TableStore,
    stop: asyncio.Event,
    *,
    interval_hours: float,
    retention_hours: int,
    select: TableFilter = every_table,
    recover_writes: bool = True,
) -> None:
    """Runs ``maintain_once`` now and then every ``interval_hours`` until ``stop`` is set.

    The first round runs at once, so a service restarted more often than the interval still
    maintains its tables. A round already under way finishes the table it is on, then stops.

    Args:
        store: the tables.
        stop: set it to end the loop.
        interval_hours: hours between rounds; 0 means never (the function returns at once).
        retention_hours: removed files younger than this are kept (time travel).
        select: which tables this caller maintains.
        recover_writes: also delete the files of abandoned writes (every table) each round.
    """
    if interval_hours < 0:
        raise ValueError(f"interval_hours must be >= 0, not {interval_hours}")
    if interval_hours == 0:
        return
    while not stop.is_set():
        await maintain_once(store, stop, retention_hours=retention_hours, select=select, recover_writes=recover_writes)
        try:
            await asyncio.wait_for(stop.wait(), timeout=interval_hours * 3600)
        except TimeoutError:
            continue


async def maintain_once(
    store: TableStore,
    stop: asyncio.Event | None = None,
    *,
    retention_hours: int,
    select: TableFilter = every_table,
    recover_writes: bool = True,
) -> int:
    """One round: recovers abandoned writes, then vacuums each selected table in a worker thread.

    A table that fails is logged and skipped (the next round tries again); ``stop`` is checked
    between tables. Returns the number of files deleted.
    """
    removed = 0
    if recover_writes:
        removed += await _logged_step("recovering abandoned writes", store.recover_abandoned_writes)
    tables = await asyncio.to_thread(store.list_tables)
    for dataset, table in tables:
        if stop is not None and stop.is_set():
            break
        if not select(dataset, table):
            continue
        vacuum = functools.partial(store.vacuum, dataset, table, retention_hours=retention_hours)
        removed += await _logged_step(f"vacuuming {dataset}.{table}", vacuum)
    return removed


async def _logged_step(what: str, step: Callable[[], int]) -> int:
    """Runs ``step`` in a worker thread and logs what it deleted; a failure is logged, counted as 0."""
    try:
        deleted = await asyncio.to_thread(step)
    except (CloudactError, OSError) as exc:
        # The tables stay as they were (a vacuum or a recovery only ever deletes dead files).
        _log.warning("%s failed: %s", what, exc, exc_info=exc)
        return 0
    _log.info("%s: %d files deleted", what, deleted)
    return deleted


async def start_housekeeping(
    store: TableStore,
    work_dirs: WorkDirs,
    *,
    interval_hours: float,
    retention_hours: int,
    select: TableFilter,
) -> Callable[[], Awaitable[None]]:
    """What a writing service does at start-up, before it serves: the scratch directories and the
    uncommitted table files a killed process left behind are removed (always, whatever the
    schedule), then the selected tables are vacuumed every ``interval_hours`` in the background.

    Returns:
        The coroutine function that stops the background vacuum (for the server's ``on_stop``).
    """
    swept = await asyncio.to_thread(work_dirs.sweep)
    recovered = await asyncio.to_thread(store.recover_abandoned_writes)
    if swept or recovered:
        _log.info("start-up: removed %d abandoned work dirs and %d uncommitted table files", swept, recovered)
    stop = asyncio.Event()
    task = asyncio.create_task(
        run_maintenance(store, stop, interval_hours=interval_hours, retention_hours=retention_hours, select=select),
        name="table-maintenance",
    )

    async def halt() -> None:
        stop.set()
        await task

    return halt
