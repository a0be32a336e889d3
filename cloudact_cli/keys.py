"""``cloudact keys``: rotate the key-encryption key of the stored credentials, and re-wrap onto it.

Run by an operator beside a running credential_svc, with the same settings (``key_backend``: the
local key ring file or the Cloud KMS key; ``data_dir``: the credential records). No restart and no
downtime: the server picks the new key version up on its next wrap, the old version keeps unwrapping
every data key until ``rewrap`` has moved it, and only then may the old version be disabled or
destroyed. With Cloud KMS, rotating needs ``roles/cloudkms.admin`` and re-wrapping
``roles/cloudkms.cryptoKeyEncrypterDecrypter`` plus ``roles/cloudkms.viewer`` on the key.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from cloudact_shared.errors import CloudactError, FailedPrecondition
from cloudact_shared.settings import CloudactSettings
from credential_svc.adapters.keyring import LocalKeyRing
from credential_svc.adapters.records import SqliteCredentialRecords
from credential_svc.server import open_key_service
from credential_svc.service import CredentialVault, RewrapSummary

if TYPE_CHECKING:
    from credential_svc.adapters.cloudkms import CloudKmsKeyService

keys_app = typer.Typer(
    help="The credentials' key-encryption key: rotate it and re-wrap every data key onto it.", no_args_is_help=True
)

_T = TypeVar("_T")
_TIMEOUT = 60.0
"""Deadline of each key-service call (per credential when re-wrapping)."""


async def rotate_key(settings: CloudactSettings, *, rewrap: bool = True) -> tuple[str, RewrapSummary | None]:
    """Adds a new key-encryption key version, makes it the one new data keys use, then (unless
    ``rewrap`` is False) re-wraps every stored data key with it.

    Returns:
        The new version's name and what the re-wrap did (None when skipped).
    """
    _require_key_ring(settings)
    kek = await open_key_service(settings)
    try:
        version = await kek.rotate()
        summary = await _rewrap(settings, kek) if rewrap else None
    finally:
        await kek.close()
    return version, summary


async def rewrap_credentials(settings: CloudactSettings) -> RewrapSummary | None:
    """Re-wraps every stored data key that an older key version wrapped (None: no credential store yet)."""
    _require_key_ring(settings)
    kek = await open_key_service(settings)
    try:
        return await _rewrap(settings, kek)
    finally:
        await kek.close()


def _require_key_ring(settings: CloudactSettings) -> None:
    """Refuses to create a local key ring: one missing here means the settings point at the wrong place."""
    legacy = settings.data_dir / "secrets" / "keyring.json"
    if settings.key_backend == "local" and not settings.keyring_path.exists() and not legacy.exists():
        raise FailedPrecondition(
            f"no key ring at {settings.keyring_path}: check CLOUDACT_DATA_DIR / CLOUDACT_KEYRING_FILE"
            " (credential_svc creates it on its first start)",
            reason="KEY_RING_MISSING",
        )


async def _rewrap(settings: CloudactSettings, kek: LocalKeyRing | CloudKmsKeyService) -> RewrapSummary | None:
    path = settings.data_dir / "credentials.sqlite"
    if not path.exists():
        return None  # opening would create an empty store, maybe in a mistyped data_dir
    records = await SqliteCredentialRecords.open(path)
    try:
        return await CredentialVault(records, kek).rewrap_all(timeout=_TIMEOUT)
    finally:
        await records.close()


@keys_app.command("rotate")
def keys_rotate(
    rewrap: Annotated[bool, typer.Option(help="Re-wrap every stored data key with the new version.")] = True,
) -> None:
    """Adds a new key version (key ring file or Cloud KMS key), makes it primary, and re-wraps onto it."""
    version, summary = _run(rotate_key(CloudactSettings(), rewrap=rewrap))
    print(f"new key version: {version}")
    _report(summary)


@keys_app.command("rewrap")
def keys_rewrap() -> None:
    """Re-wraps every stored data key that an older key version wrapped (e.g. after Cloud KMS rotated it)."""
    _report(_run(rewrap_credentials(CloudactSettings())))


def _run(work: Coroutine[Any, Any, _T]) -> _T:
    try:
        return asyncio.run(work)
    except CloudactError as error:
        print(f"error: {error.message} ({error.reason})", file=sys.stderr)
        raise typer.Exit(1) from None


def _report(summary: RewrapSummary | None) -> None:
    if summary is None:
        return
    print(
        f"re-wrapped {summary.rewrapped} data keys with {summary.key_version}"
        f" ({summary.changed_meanwhile} rotated or deleted meanwhile)"
    )
    if summary.undecryptable:
        print(f"error: {len(summary.undecryptable)} credentials could not be unwrapped:", file=sys.stderr)
        for credential_id in summary.undecryptable:
            print(f"  {credential_id}", file=sys.stderr)
        raise typer.Exit(1)
