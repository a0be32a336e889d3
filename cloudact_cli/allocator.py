"""jemalloc for ``cloudact convert``, when the system has it (Debian/Ubuntu: ``apt install libjemalloc2``).

DuckDB, which does a conversion's work, allocates and frees many short-lived buffers from every
thread; under glibc's malloc that costs ~6% more CPU than under jemalloc (1M-row legacy CUR:
10.0 s against 9.4 s user time, docs/benchmarks.md). DuckDB's own CLI links jemalloc for this
reason; its Python wheel does not, and an allocator can only be chosen before the process starts.
So ``convert`` starts itself once more with jemalloc preloaded (``os.execve``: same process id,
same open files, ~30 ms) before it imports anything heavy.

Only on Linux, only when a jemalloc library is installed at a known path, never twice (a process
whose ``LD_PRELOAD`` already names jemalloc runs on), and never with ``CLOUDACT_ALLOCATOR=system``.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence

ALLOCATOR_ENV = "CLOUDACT_ALLOCATOR"
"""``jemalloc`` (the default: used when installed) or ``system`` (glibc's malloc, no restart)."""
JEMALLOC_PATHS = (
    "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2",
    "/usr/lib/aarch64-linux-gnu/libjemalloc.so.2",
    "/usr/lib64/libjemalloc.so.2",
    "/usr/lib/libjemalloc.so.2",
    "/usr/local/lib/libjemalloc.so.2",
)
"""Where Debian, Ubuntu, Fedora and a source install put jemalloc's shared library."""


def preloaded_environment(
    env: Mapping[str, str], *, platform: str = sys.platform, paths: Sequence[str] = JEMALLOC_PATHS
) -> dict[str, str] | None:
    """The environment to start again with jemalloc preloaded, or None to run on as is.

    Raises:
        ValueError: ``CLOUDACT_ALLOCATOR`` is neither ``jemalloc`` nor ``system``.
    """
    chosen = env.get(ALLOCATOR_ENV, "jemalloc")
    if chosen not in ("jemalloc", "system"):
        raise ValueError(f"{ALLOCATOR_ENV} must be jemalloc or system, not {chosen!r}")
    preloaded = env.get("LD_PRELOAD", "")
    if chosen == "system" or platform != "linux" or "jemalloc" in preloaded:
        return None
    library = next((path for path in paths if os.path.isfile(path)), None)
    if library is None:
        return None
    return {**env, "LD_PRELOAD": " ".join(filter(None, (library, preloaded)))}


def restart_with_jemalloc() -> None:
    """Replaces this process with the same command under jemalloc, when ``preloaded_environment`` says so."""
    env = preloaded_environment(os.environ)
    if env is not None:
        sys.stdout.flush()
        sys.stderr.flush()
        # The interpreter's own command line: a console script and ``python -m`` both start the same way.
        os.execve(sys.executable, sys.orig_argv, env)
