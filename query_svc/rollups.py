"""One current rollup per org in memory, refreshed once however many queries wait for it."""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import Executor

from cachetools import LRUCache

from cloudact_shared.errors import CloudactError
from query_svc.rollup import Rollup, RollupKeeper, RollupWrite

_log = logging.getLogger(__name__)


class RollupStates:
    """The newest rollup of each org, within a memory bound (least recently used go first).

    A query that needs a newer FOCUS version than the rollup in memory starts a refresh, or joins
    the one running; the refresh runs in a worker thread and is not cancelled with the caller, so
    a query that gives up (deadline) does not waste the work of the next one. Nothing here is on
    the path of a cache hit. The refreshed rows are persisted afterwards, in the background.
    """

    def __init__(self, keeper: RollupKeeper, threads: Executor, *, max_bytes: int) -> None:
        """Creates an empty set of rollups.

        Args:
            keeper: Computes and persists rollups (blocking).
            threads: Where the blocking calls run (query_svc's scan threads).
            max_bytes: Bound on the memory of the rollups kept (a larger one is used, not kept).
        """
        self._keeper = keeper
        self._threads = threads
        self._rollups: LRUCache[str, Rollup] = LRUCache(max_bytes, getsizeof=lambda r: r.nbytes)
        self._refreshing: dict[str, asyncio.Task[Rollup]] = {}
        self._background: set[asyncio.Task[object]] = set()

    async def current(self, dataset: str, version: int) -> Rollup:
        """The org's rollup at FOCUS ``version``, or at the version a refresh found after it.

        The rollup in memory is used only at exactly ``version`` (a table deleted and created again
        starts its versions anew). Otherwise this joins the refresh running, or starts one; a joined
        refresh may have read the table before ``version`` was committed, and then one more refresh,
        which starts after, is waited for.
        """
        kept = self._rollups.get(dataset)
        if kept is not None and kept.focus_version == version:
            return kept
        for _ in range(2):
            task = self._refreshing.get(dataset)
            if task is None:
                task = asyncio.create_task(self._refresh(dataset, self._rollups.get(dataset), version))
                self._refreshing[dataset] = task
                task.add_done_callback(lambda done: self._finished(dataset, done))
            refreshed = await asyncio.shield(task)
            if refreshed.focus_version >= version:
                return refreshed
        return refreshed  # the table's versions went back: it was created again

    async def aclose(self) -> None:
        """Stops waiting for refreshes and waits for the background writes of refreshed rollups."""
        for task in list(self._refreshing.values()):
            task.cancel()  # the thread computing it finishes on its own; nobody will use the result
        if self._background:
            await asyncio.gather(*self._background, return_exceptions=True)

    async def _refresh(self, dataset: str, base: Rollup | None, version: int) -> Rollup:
        loop = asyncio.get_running_loop()
        rollup, write = await loop.run_in_executor(self._threads, self._keeper.refresh, dataset, base, version)
        try:
            self._rollups[dataset] = rollup
        except ValueError:  # larger than the whole bound: answer from it, keep none
            _log.warning("rollup of %s (%d bytes) exceeds the in-memory bound", dataset, rollup.nbytes)
        if write is not None:
            self._persist_later(dataset, write)
        return rollup

    def _persist_later(self, dataset: str, write: RollupWrite) -> None:
        task = asyncio.create_task(self._persist(dataset, write))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _persist(self, dataset: str, write: RollupWrite) -> object:
        try:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self._threads, self._keeper.persist, dataset, write)
        except (CloudactError, OSError, ValueError):
            # The rollup in memory is right; the persisted one is only a head start for the next
            # process, which checks every cell's digest before using it.
            _log.warning("persisting the rollup of %s failed", dataset, exc_info=True)
            return None

    def _finished(self, dataset: str, task: asyncio.Task[Rollup]) -> None:
        if self._refreshing.get(dataset) is task:
            del self._refreshing[dataset]
        if not task.cancelled() and (error := task.exception()) is not None:
            _log.info("refreshing the rollup of %s failed: %s", dataset, error)
