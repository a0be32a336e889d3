"""``cloudact convert``: export files on disk to FOCUS 1.3, in-process, with no service running.

It is its own module, and its own small command table (``convert_app``), so that the entry point
(``cloudact_cli.entry``) can start it without importing what only the service commands need: gRPC
stubs, TLS and token code, settings, rich tables (~0.35 s, a quarter of converting a small file).
``cloudact_cli.main`` registers the same function in the full command table.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer


def convert(
    provider: Annotated[str, typer.Option(help="Provider of the input files, e.g. aws.")],
    input_: Annotated[list[Path], typer.Option("--input", help="Export file(s) (repeatable).")],
    output: Annotated[Path, typer.Option(help="FOCUS 1.3 output: .parquet or .csv.")],
    memory_limit: Annotated[str, typer.Option(help="DuckDB memory limit; spills to disk beyond it.")] = "640MB",
) -> None:
    """Converts billing export files on disk to FOCUS 1.3, in-process (no services needed)."""
    missing = [str(p) for p in input_ if not p.is_file()]
    if missing:
        raise typer.BadParameter(f"no such file(s): {', '.join(missing)}", param_hint="--input")
    if output.suffix not in (".parquet", ".csv"):
        raise typer.BadParameter("the output must end in .parquet or .csv", param_hint="--output")
    from cloudact_cli.convert import convert_files
    from cloudact_shared.errors import CloudactError

    try:
        result = convert_files(provider, list(input_), output, memory_limit=memory_limit)
    except CloudactError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        raise typer.Exit(1) from None
    quarantined = f"{result.rows_quarantined} rows quarantined"
    if result.no_data_rows:
        # A header-only export: what AWS and Azure deliver for a period without charges.
        quarantined = "the input has no data rows (an empty period)"
    print(
        f"wrote {result.rows_written} FOCUS rows to {output} in {result.seconds:.2f} s; {quarantined}", file=sys.stderr
    )
    for reason, count in result.quarantine_reasons.items():
        print(f"  quarantined {count}: {reason}", file=sys.stderr)


convert_app = typer.Typer(help="CloudAct Costs: cloud billing to FOCUS 1.3.", no_args_is_help=True)
convert_app.command()(convert)


@convert_app.callback()
def _group() -> None:
    """Keeps ``convert`` a subcommand (a one-command Typer app would otherwise become the command)."""
