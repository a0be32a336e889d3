"""Runs the first Python on this machine that is at least the given version, with the given arguments.

``python scripts/python_at_least.py 3.12 -m venv DIR`` is how ``make install`` builds the venv of a tool
that needs a newer Python than the project (focus-validator needs 3.12): it looks at ``python3.X`` on
PATH for X from the wanted minor up, then at pyenv's versions, and asks each one its version (a pyenv
shim may exist for a version that is not installed).
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys


def _candidates(major: int, minor: int) -> list[str]:
    on_path = [shutil.which(f"python{major}.{m}") for m in range(minor, minor + 8)]
    root = os.environ.get("PYENV_ROOT", os.path.expanduser("~/.pyenv"))
    pyenv = sorted(glob.glob(os.path.join(root, "versions", f"{major}.*", "bin", "python")))
    return [c for c in [*on_path, *pyenv] if c]


def _is_at_least(python: str, wanted: tuple[int, int]) -> bool:
    check = f"import sys; sys.exit(sys.version_info[:2] < {wanted!r})"
    return subprocess.run([python, "-c", check], capture_output=True, check=False).returncode == 0


def main(argv: list[str]) -> int:
    major, minor = (int(part) for part in argv[0].split("."))
    for python in _candidates(major, minor):
        if _is_at_least(python, (major, minor)):
            return subprocess.run([python, *argv[1:]], check=False).returncode
    print(f"no Python >= {major}.{minor} found (python{major}.{minor} on PATH, or pyenv)", file=sys.stderr)
    return 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
