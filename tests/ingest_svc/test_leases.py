"""Process leases: a run's owner counts as alive exactly while its process holds the lease (kill -9 too)."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

from ingest_svc.adapters.leases import ProcessLease, owner_alive

_HOLD = """
import sys, time
from pathlib import Path
from ingest_svc.adapters.leases import ProcessLease
lease = ProcessLease.acquire(Path(sys.argv[1]))
print(lease.owner, flush=True)
time.sleep(120)
"""


def test_a_held_lease_is_alive_and_a_released_one_is_not(tmp_path: Path) -> None:
    lease = ProcessLease.acquire(tmp_path)

    assert owner_alive(tmp_path, lease.owner)
    lease.release()
    assert not owner_alive(tmp_path, lease.owner)
    assert not owner_alive(tmp_path, "../../etc/passwd") and not owner_alive(tmp_path, "0" * 32)


def test_the_lease_of_a_killed_process_is_dead_and_swept(tmp_path: Path) -> None:
    holder = subprocess.Popen([sys.executable, "-c", _HOLD, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None
        owner = holder.stdout.readline().strip()
        assert owner_alive(tmp_path, owner)
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=10)

    deadline = time.monotonic() + 5
    while owner_alive(tmp_path, owner):  # the kernel drops the lock with the process
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert not (tmp_path / f"{owner}.lock").exists()
