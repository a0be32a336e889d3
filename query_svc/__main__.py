"""Runs query_svc: ``python -m query_svc`` (settings from CLOUDACT_* env vars)."""

from __future__ import annotations

import asyncio
import logging

from cloudact_shared.server import run_until_signal
from cloudact_shared.settings import CloudactSettings
from query_svc.server import build


async def _run(settings: CloudactSettings) -> None:
    await run_until_signal(await build(settings), settings.shutdown_grace_seconds)


def main() -> None:
    """Entry point: builds settings once and serves until SIGTERM/SIGINT."""
    settings = CloudactSettings()
    logging.basicConfig(level=settings.log_level)
    asyncio.run(_run(settings))


if __name__ == "__main__":
    main()
