"""The ``cloudact`` executable: picks its command table before importing it.

Typer registers commands when their module is imported, so a lazy command cannot be declared in
``cloudact_cli.main``. ``cloudact convert`` needs none of the service commands' imports, and is what a
user times against other converters, so it gets its own small table (``convert_command``).
"""

from __future__ import annotations

import logging
import os
import sys


def main() -> None:
    """Runs ``cloudact``: ``convert`` from its own table, every other command from the full one."""
    if sys.argv[1:2] == ["convert"]:
        _run_convert()
    else:
        from cloudact_cli.main import app

        app()


def _run_convert() -> None:
    from cloudact_cli.allocator import restart_with_jemalloc

    try:
        restart_with_jemalloc()  # first: nothing is imported or written yet
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        os._exit(2)
    from cloudact_cli.convert_command import convert_app

    try:
        convert_app()
        code = 0
    except SystemExit as done:
        code = _exit_code(done.code)
    # Everything ``convert`` writes is complete and closed when it returns (the COPY, the
    # quarantine file, its temp directory). Finalizing the interpreter after it (tearing down
    # sqlglot's thousands of classes, pydantic, DuckDB, pyarrow) takes ~0.25 s, a quarter of
    # converting a small file, and frees nothing the OS would not: so flush and leave.
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _exit_code(code: object) -> int:
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)
    return 1


if __name__ == "__main__":
    main()
