"""Runs credential_svc (CredentialService) until SIGTERM: ``python -m credential_svc``."""

import asyncio

from cloudact_shared.logs import configure_logging
from cloudact_shared.server import run_until_signal
from cloudact_shared.settings import CloudactSettings
from credential_svc.server import build


async def _main(settings: CloudactSettings) -> None:
    await run_until_signal(await build(settings), settings.shutdown_grace_seconds)


if __name__ == "__main__":
    settings = CloudactSettings()
    configure_logging(settings.log_level, "credential_svc")
    asyncio.run(_main(settings))
