"""WorkDirs: a claimed work dir lives exactly as long as its claim; a killed claimer's dir is swept."""

from __future__ import annotations

import fcntl
import multiprocessing
import os
import tempfile
import threading
import time
from pathlib import Path

import pytest

from cloudact_shared.workspace import WorkDirs
from tests.storage import workers


def _age(path: Path, seconds: float) -> None:
    then = time.time() - seconds
    for folder, dirs, files in os.walk(path):
        for name in (*dirs, *files):
            os.utime(os.path.join(folder, name), (then, then))
    os.utime(path, (then, then))


def test_a_claim_is_a_fresh_directory_removed_on_exit_even_on_error(tmp_path: Path) -> None:
    dirs = WorkDirs(tmp_path / "tmp")
    with dirs.claim(prefix="run-42-") as first, dirs.claim(prefix="run-42-") as second:
        assert first != second and first.is_dir() and second.is_dir()
        assert first.parent == tmp_path / "tmp" and first.name.startswith("run-42-")
        assert list(first.iterdir()) == []
        (first / "spill").mkdir()
        (first / "spill" / "data.bin").write_bytes(b"x" * 1000)
    with pytest.raises(RuntimeError), dirs.claim() as third:
        raise RuntimeError("the run failed")
    assert not first.exists() and not second.exists() and not third.exists()
    assert list((tmp_path / "tmp").iterdir()) == []


def test_sweep_leaves_live_claims_of_this_process_alone(tmp_path: Path) -> None:
    dirs = WorkDirs(tmp_path)
    with dirs.claim() as path:
        (path / "download.csv").write_text("a,b\n")
        _age(path, 3600)  # idle for long, but claimed

        assert dirs.sweep() == 0
        assert (path / "download.csv").exists()


def test_the_dir_of_a_killed_claimer_is_swept_and_not_before(tmp_path: Path) -> None:
    root, ready = tmp_path / "tmp", tmp_path / "ready"
    claimer = multiprocessing.get_context("spawn").Process(target=workers.claim_then_hang, args=(root, ready))
    claimer.start()
    try:
        give_up = time.monotonic() + 120
        while not ready.exists() or not ready.read_text():
            assert claimer.is_alive() and time.monotonic() < give_up
            time.sleep(0.05)
        path = Path(ready.read_text())
        assert WorkDirs(root).sweep() == 0  # its claimer lives
        assert (path / "download.csv").exists()
    finally:
        claimer.kill()
        claimer.join(timeout=30)
    assert claimer.exitcode == -9
    assert path.is_dir()

    assert WorkDirs(root).sweep() == 1

    assert list(root.iterdir()) == []


def test_legacy_dirs_without_a_lock_file_are_swept_once_idle_for_a_minute(tmp_path: Path) -> None:
    idle = Path(tempfile.mkdtemp(prefix="run-old-", dir=tmp_path))
    busy = Path(tempfile.mkdtemp(prefix="run-busy-", dir=tmp_path))
    fresh = Path(tempfile.mkdtemp(prefix="run-new-", dir=tmp_path))
    (idle / "a.csv").write_text("x")
    (busy / "spill").mkdir()
    (busy / "spill" / "b.tmp").write_text("x")
    _age(idle, 120)
    _age(busy, 120)
    (busy / "spill" / "b.tmp").write_text("still being written")
    (tmp_path / "notes.txt").write_text("not a work dir")

    assert WorkDirs(tmp_path).sweep() == 1

    assert not idle.exists() and busy.exists() and fresh.exists()
    assert (tmp_path / "notes.txt").exists()


def test_a_lock_file_left_without_its_dir_is_removed(tmp_path: Path) -> None:
    """A claimer killed between its lock file and its mkdir (or between rmtree and unlink)."""
    (tmp_path / "run-x.lock").write_text("pid 1\n")  # nobody holds its lock: its process died

    assert WorkDirs(tmp_path).sweep() == 0  # no directory was removed...
    assert list(tmp_path.iterdir()) == []  # ...but the stale lock file is gone


def test_a_claim_swept_before_it_was_locked_is_made_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The instant between the lock file's creation and its lock: a sweep may take it; the claim still works."""
    dirs = WorkDirs(tmp_path)
    flock = fcntl.flock
    swept: list[int] = []

    def sweep_runs_first(fd: int, operation: int) -> None:
        if operation == fcntl.LOCK_EX and not swept:
            swept.append(len(list(tmp_path.glob("*.lock"))))
            dirs.sweep()
            assert list(tmp_path.glob("*.lock")) == []  # the sweep took the unlocked lock file
        flock(fd, operation)

    monkeypatch.setattr(fcntl, "flock", sweep_runs_first)
    with dirs.claim() as path:
        assert path.is_dir()
        assert len(list(tmp_path.glob("*.lock"))) == 1
    assert swept == [1]


def test_claims_and_sweeps_racing_in_threads_never_lose_a_live_dir(tmp_path: Path) -> None:
    dirs = WorkDirs(tmp_path)
    stop = threading.Event()
    failures: list[str] = []

    def sweep_forever() -> None:
        while not stop.is_set():
            dirs.sweep()

    def claim_many() -> None:
        for _ in range(100):
            with dirs.claim() as path:
                try:
                    (path / "f").write_text("x")
                    time.sleep(0.001)
                    (path / "f").read_text()
                except OSError as exc:  # swept while claimed
                    failures.append(f"{path}: {exc}")

    sweepers = [threading.Thread(target=sweep_forever) for _ in range(2)]
    claimers = [threading.Thread(target=claim_many) for _ in range(3)]
    for thread in sweepers + claimers:
        thread.start()
    for thread in claimers:
        thread.join(timeout=120)
    stop.set()
    for thread in sweepers:
        thread.join(timeout=30)

    assert failures == []
    assert list(tmp_path.iterdir()) == []


def test_a_prefix_must_be_a_plain_name(tmp_path: Path) -> None:
    with pytest.raises(ValueError), WorkDirs(tmp_path).claim(prefix="../escape-"):
        pass
