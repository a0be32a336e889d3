"""``cloudact http``: the HTTP side's offline commands (the OpenAPI document)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

http_app = typer.Typer(help="The HTTPS side of `cloudact serve` (JSON gateway).", no_args_is_help=True)


@http_app.command("openapi")
def openapi(
    out: Annotated[Path | None, typer.Option(help="Write it here (e.g. docs/openapi.json); default stdout.")] = None,
) -> None:
    """Prints (or writes) the OpenAPI 3.1 document of the annotated RPCs, generated from the protos."""
    from cloudact_http.gateway.openapi import openapi_json

    text = openapi_json()
    if out is None:
        typer.echo(text, nl=False)
    else:
        out.write_text(text)
