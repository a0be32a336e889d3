"""Entry points of the subprocesses the storage tests start (spawned, so importable by name)."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa

from cloudact_shared.storage import embedded
from cloudact_shared.storage.embedded import EmbeddedTableStore
from cloudact_shared.workspace import FileClaim, WorkDirs
from tests.storage.helpers import DATASET, DAY_1, DAY_2, THINGS, batch, reader, stream


def replace_after_barrier(
    data_dir: Path, credential: str, rows: int, amount: int, barrier: Any, conflicts: Any
) -> None:
    """Replaces one credential's slice; every process computes its first attempt on the same version.

    The barrier sits between reading the table and committing, so all but one first attempt must
    conflict; ``conflicts`` receives how many conflicts this process retried.
    """
    seen = 0
    unslice = embedded._unslice
    is_conflict = embedded._is_conflict
    waited = False

    def unslice_in_step(*args: Any) -> Any:
        nonlocal waited
        if not waited:
            waited = True
            barrier.wait(timeout=60)
        return unslice(*args)

    def counting(*args: Any) -> bool:
        nonlocal seen
        found = is_conflict(*args)
        seen += found
        return found

    embedded._unslice = unslice_in_step  # type: ignore[assignment]
    embedded._is_conflict = counting  # type: ignore[assignment]
    store = EmbeddedTableStore(data_dir)
    store.replace_slice(DATASET, THINGS, {"x_credential_id": credential}, reader(batch(credential, rows, amount)))
    conflicts.put(seen)


def write_then_hang(data_dir: Path, ready: Path) -> None:
    """Starts replacing slice "a" with rows in two partitions, then stalls (to be killed) mid-stream."""

    def rows() -> Iterator[pa.RecordBatch]:
        yield batch("a", 1000, 7, day=DAY_1)
        yield batch("a", 1000, 7, day=DAY_2)
        # Read ahead while the batch before is written: once this one is taken, that one is written.
        yield batch("a", 1000, 7, day=DAY_2)
        # Both partitions' files are open by now.
        ready.touch()
        time.sleep(600)
        yield batch("a", 1, 7)

    # A row group per batch, so each batch is written as soon as it is read.
    store = EmbeddedTableStore(data_dir, batch_rows=1000)
    store.replace_slice(DATASET, THINGS, {"x_credential_id": "a"}, stream(rows()))


def commit_then_die(data_dir: Path) -> None:
    """Replaces slice "a" and is killed right after the commit, before it can drop its marker."""
    release: Callable[..., None] = FileClaim.release

    def die(self: FileClaim, *, remove: bool) -> None:
        if "_pending_writes" in self.path.parts:
            os.kill(os.getpid(), signal.SIGKILL)
        release(self, remove=remove)

    FileClaim.release = die  # type: ignore[method-assign]
    EmbeddedTableStore(data_dir).replace_slice(DATASET, THINGS, {"x_credential_id": "a"}, reader(batch("a", 5, 3)))


def claim_then_hang(root: Path, ready: Path) -> None:
    """Claims a work dir, fills it a little, then stalls (to be killed) inside the claim."""
    with WorkDirs(root).claim(prefix="run-") as path:
        (path / "download.csv").write_bytes(b"x" * 100_000)
        ready.write_text(str(path))
        time.sleep(600)
