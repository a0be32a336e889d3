"""Measuring one benchmark command: wall time, peak RSS of its process and of its process tree.

Every tool runs as its own subprocess in its own session, so its memory is its own and a stray
child can be killed with the session.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
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


def _session_rss_kb(sid: int) -> tuple[int, int]:
    """The summed VmRSS of every process of session ``sid``, and the largest VmHWM among them (kB).

    VmHWM is a process's own peak RSS since its exec. ``ru_maxrss`` from ``wait4`` is not used for
    the largest process: Linux carries the forking parent's high-water mark across exec into it, so
    every child of a bench process holding 1.2 GB reported 1.2 GB.
    """
    total = largest = 0
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
                    if line.startswith(b"VmHWM:"):
                        largest = max(largest, int(line.split()[1]))
                    elif line.startswith(b"VmRSS:"):
                        total += int(line.split()[1])
                        break
        except (OSError, ValueError, IndexError):
            continue
    return total, largest


def measure(argv: list[str], log: Path, timeout_s: float) -> Run:
    """Runs argv in a new session; wall time, the sampled peak VmHWM of its largest process and the
    sampled peak RSS of its whole tree."""
    with log.open("wb") as out:
        started = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, start_new_session=True, cwd=ROOT)
        peak = [0, 0]
        done = threading.Event()

        def sample() -> None:
            while not done.is_set():
                tree, largest = _session_rss_kb(proc.pid)
                peak[0], peak[1] = max(peak[0], tree), max(peak[1], largest)
                done.wait(0.05)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        killer = threading.Timer(timeout_s, lambda: _kill_group(proc.pid))
        killer.start()
        _, status, _ = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
        killer.cancel()
        done.set()
        sampler.join()
        proc.returncode = os.waitstatus_to_exitcode(status)
    # Stray children (e.g. writer processes of a failed run) must not outlive the measurement.
    _kill_group(proc.pid)
    return Run(wall, peak[1] / 1024, peak[0] / 1024, proc.returncode)


def failure_note(run: Run, log: Path, timeout_s: float) -> str:
    """Why a run failed, for the report: the timeout that killed it, or its exit code and last log line."""
    if run.returncode == -signal.SIGKILL and run.wall_s >= timeout_s * 0.99:
        return f"killed at the {timeout_s:.0f} s limit (no output by then)"
    lines = log.read_text(errors="replace").strip().splitlines() if log.exists() else []
    return f"exit {run.returncode}: " + (lines[-1][:200] if lines else "no output")


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


def run_rounds(
    tools: dict[str, tuple[str, list[str], str]], rows: int, rounds: int, out_dir: Path, timeout_s: float, tag: str
) -> list[Result]:
    """Each tool (key -> label, argv template with {output}, output kind 'file' | 'dir') once per round,
    in turn, so a noisy neighbour falls on all of them alike; one Result per tool. A tool that fails
    once is not run again (its figures are void)."""
    results = {key: Result(key, rows) for key in tools}
    for i in range(rounds):
        for key, (label, argv, kind) in tools.items():
            result = results[key]
            if result.runs and not result.ok:
                continue
            target = out_dir / f"{tag}-{key}" / ("focus" if kind == "dir" else "focus.parquet")
            shutil.rmtree(target.parent, ignore_errors=True)
            target.parent.mkdir(parents=True, exist_ok=True)
            cmd = [a.replace("{output}", str(target)) for a in argv]
            result.command = " ".join(shlex.quote(a) for a in cmd)
            print(f"[{tag}] {label} round {i + 1}/{rounds} ...", end=" ", flush=True)
            run = measure(cmd, target.parent.with_suffix(".log"), timeout_s)
            result.runs.append(run)
            print(f"{run.wall_s:.2f} s, tree {run.tree_rss_mb:,.0f} MB, rc={run.returncode}", flush=True)
            if run.returncode != 0:
                result.note = failure_note(run, target.parent.with_suffix(".log"), timeout_s)
            elif result.rows_out is None:
                result.rows_out = count_rows(target, kind)
    shutil.rmtree(out_dir, ignore_errors=True)
    return list(results.values())
