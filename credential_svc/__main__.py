"""Runs credential_svc: ``python -m credential_svc`` (settings from CLOUDACT_* env / TOML)."""

import asyncio
import logging

from cloudact_shared.server import run_until_signal
from cloudact_shared.settings import CloudactSettings
from credential_svc.server import build


async def _serve(settings: CloudactSettings) -> None:
    await run_until_signal(await build(settings), settings.shutdown_grace_seconds)


if __name__ == "__main__":
    settings = CloudactSettings()
    logging.basicConfig(level=settings.log_level)
    asyncio.run(_serve(settings))
