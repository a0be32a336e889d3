"""Measuring one benchmark command: wall time, peak RSS of its process and of its process tree.

Every tool runs as its own subprocess in its own session, so its memory is its own and a stray
child can be killed with the session.
"""

from __future__ import annotations

import contextlib
import os
import signal
import statistics
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Run:
    wall_s: float
    max_rss_mb: float
    tree_rss_mb: float
    returncode: int


@dataclass
class Result:
    tool: str
    rows: int
    runs: list[Run] = field(default_factory=list)
    rows_out: int | None = None
    command: str = ""
    note: str = ""

    @property
    def ok(self) -> bool:
        return bool(self.runs) and all(r.returncode == 0 for r in self.runs)

    def median(self, attr: str) -> float:
        return float(statistics.median(float(getattr(r, attr)) for r in self.runs))


def _session_rss_kb(sid: int) -> int:
    total = 0
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as fh:
                fields = fh.read().rsplit(b")", 1)[1].split()
            if int(fields[3]) != sid:  # fields after ')' start at 'state'; index 3 = session
                continue
            with open(f"/proc/{entry.name}/status", "rb") as fh:
                for line in fh:
                    if line.startswith(b"VmRSS:"):
                        total += int(line.split()[1])
                        break
        except (OSError, ValueError, IndexError):
            continue
    return total


def measure(argv: list[str], log: Path, timeout_s: float) -> Run:
    """Runs argv in a new session; wall time, ru_maxrss (wait4) and sampled tree RSS."""
    with log.open("wb") as out:
        started = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, start_new_session=True, cwd=ROOT)
        peak = [0]
        done = threading.Event()

        def sample() -> None:
            while not done.is_set():
                peak[0] = max(peak[0], _session_rss_kb(proc.pid))
                done.wait(0.05)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        killer = threading.Timer(timeout_s, lambda: _kill_group(proc.pid))
        killer.start()
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
        killer.cancel()
        done.set()
        sampler.join()
        proc.returncode = os.waitstatus_to_exitcode(status)
    # Stray children (e.g. writer processes of a failed run) must not outlive the measurement.
    _kill_group(proc.pid)
    return Run(wall, usage.ru_maxrss / 1024, peak[0] / 1024, proc.returncode)


def _kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


def count_rows(path: Path, kind: str) -> int | None:
    import duckdb

    target = f"{path}/**/*.parquet" if kind == "dir" else str(path)
    reader = "read_csv" if str(path).endswith(".csv") else "read_parquet"
    try:
        rows = duckdb.connect().execute(f"SELECT count(*) FROM {reader}('{target}')").fetchall()
    except duckdb.Error:
        return None
    return int(rows[0][0]) if rows else None


def warm_page_cache(path: Path) -> None:
    """Flushes pending writes and reads the file once, so no run pays for cold or dirty pages."""
    os.sync()
    with path.open("rb") as fh:
        while fh.read(16 << 20):
            pass
