"""``cloudact convert`` restarts itself under jemalloc when the system has it (``cloudact_cli.allocator``)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from cloudact_cli.allocator import ALLOCATOR_ENV, JEMALLOC_PATHS, preloaded_environment

# The library `make install` installs (Debian's libjemalloc2).
INSTALLED = next((path for path in JEMALLOC_PATHS if Path(path).is_file()), None)


def test_an_installed_jemalloc_is_preloaded_before_what_was_already() -> None:
    env = preloaded_environment({"LD_PRELOAD": "/opt/other.so", "HOME": "/h"}, platform="linux", paths=[__file__])

    assert env == {"LD_PRELOAD": f"{__file__} /opt/other.so", "HOME": "/h"}


@pytest.mark.parametrize(
    ("env", "platform", "paths"),
    [
        ({ALLOCATOR_ENV: "system"}, "linux", [__file__]),
        ({}, "darwin", [__file__]),
        ({"LD_PRELOAD": "/usr/lib/libjemalloc.so.2"}, "linux", [__file__]),
        ({}, "linux", ["/nonexistent/libjemalloc.so.2"]),
    ],
    ids=["asked for the system allocator", "not linux", "already preloaded", "not installed"],
)
def test_the_process_runs_on_as_it_is(env: dict[str, str], platform: str, paths: list[str]) -> None:
    assert preloaded_environment(env, platform=platform, paths=paths) is None


def test_an_unknown_allocator_is_refused_by_name(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="CLOUDACT_ALLOCATOR must be jemalloc or system, not 'tcmalloc'"):
        preloaded_environment({ALLOCATOR_ENV: "tcmalloc"}, platform="linux")

    done = subprocess.run(
        [sys.executable, "-m", "cloudact_cli.entry", "convert", "--provider", "aws"],
        env={**os.environ, ALLOCATOR_ENV: "tcmalloc"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2 and "CLOUDACT_ALLOCATOR must be jemalloc or system" in done.stderr


@pytest.mark.skipif(sys.platform != "linux", reason="LD_PRELOAD is Linux's")
def test_the_restarted_process_runs_under_jemalloc_with_the_same_command() -> None:
    assert INSTALLED is not None, f"jemalloc is not installed at any of {JEMALLOC_PATHS}: run `make install`"
    probe = (
        "import sys; from cloudact_cli.allocator import restart_with_jemalloc; restart_with_jemalloc(); "
        "maps = open('/proc/self/maps').read(); print('jemalloc' in maps, sys.argv[1:])"
    )
    env = {key: value for key, value in os.environ.items() if key not in ("LD_PRELOAD", ALLOCATOR_ENV)}

    done = subprocess.run([sys.executable, "-c", probe, "a", "b"], env=env, capture_output=True, text=True, check=True)

    assert done.stdout.strip() == "True ['a', 'b']"
