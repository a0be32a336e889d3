"""The throwaway connector: the ledgers of a local folder, one file per billing month."""

from __future__ import annotations

import asyncio
import re
import shutil
from collections.abc import Sequence
from datetime import date
from pathlib import Path

from cloudact_providers.connector import ResolvedCredential, SourceObject, parse_credential_part
from cloudact_shared.errors import NotFound
from tests.contract.throwaway_provider.credential import ThrowawayConfig, ThrowawaySecret

_LEDGER = re.compile(r"^ledger-(\d{4})-(\d{2})\b.*\.tiny$")


class FolderConnector:
    """Lists ``ledger-YYYY-MM*.tiny`` files of the configured folder and copies them."""

    def __init__(self, credential: ResolvedCredential) -> None:
        self._config = parse_credential_part(ThrowawayConfig, credential.config, "credential.config", "Throwaway")
        parse_credential_part(ThrowawaySecret, credential.secret, "credential.secret", "Throwaway")

    async def __aenter__(self) -> FolderConnector:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        return None

    async def list_objects(self, periods: Sequence[date]) -> list[SourceObject]:
        """The ledgers of ``periods``, by name."""
        return await asyncio.to_thread(self._ledgers, periods)

    async def download(self, obj: SourceObject, dest: Path) -> None:
        """Copies the ledger (a stream copy, never whole in memory)."""
        await asyncio.to_thread(shutil.copyfile, obj.uri.removeprefix("file://"), dest)

    def _ledgers(self, periods: Sequence[date]) -> list[SourceObject]:
        folder = Path(self._config.directory)
        if not folder.is_dir():
            raise NotFound(f"folder {folder} does not exist", reason="SOURCE_NOT_FOUND")
        objects = []
        for path in sorted(folder.iterdir()):
            match = _LEDGER.match(path.name)
            if match is not None and (period := date(int(match[1]), int(match[2]), 1)) in periods:
                objects.append(SourceObject(f"file://{path}", path.name, path.stat().st_size, period))
        return objects
