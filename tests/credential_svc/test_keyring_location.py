"""Where the key ring lives: outside data_dir, and how an installation from before moves it there.

The key ring must not sit beside the records it protects (``data_dir/credentials.sqlite``): a copy of
data_dir would carry both. ``settings.keyring_path`` (default ``{data_dir}-keys/keyring.json``) is the
place; a key ring still at the old ``data_dir/secrets/keyring.json`` is moved there on start.
``settings`` is conftest's (a tmp data_dir with the services' TLS certificates, which build() needs).
"""

from __future__ import annotations

import errno
import json
import logging
import os
import stat
from pathlib import Path

import pytest

from cloudact_shared.settings import CloudactSettings
from credential_svc.adapters.keyring import KeyRingLocationError, LocalKeyRing
from credential_svc.adapters.records import SqliteCredentialRecords
from credential_svc.secret import Secret
from credential_svc.server import build
from credential_svc.service import CredentialVault, NewCredential

ORG = "acme_corp"
SECRET = {"aws_access_key_id": "AKIAIOSFODNN7EXAMPLE", "aws_secret_access_key": "wJalrXUtnFEMI-K7MDENG-LEGACY"}
CONFIG = {"bucket": "acme-billing", "export_name": "prod-cur", "prefix": "exports", "layout": "cur2"}


def _legacy(settings: CloudactSettings) -> Path:
    return settings.data_dir / "secrets" / "keyring.json"


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


async def _legacy_installation(settings: CloudactSettings) -> tuple[str, bytes]:
    """What an older version left: key ring and records both under data_dir, one credential stored."""
    ring = await LocalKeyRing.open(_legacy(settings))
    records = await SqliteCredentialRecords.open(settings.data_dir / "credentials.sqlite")
    try:
        created = await CredentialVault(records, ring).create(
            NewCredential(ORG, "aws", "prod billing", Secret.of(SECRET), CONFIG)
        )
    finally:
        await records.close()
    return created.credential_id, _legacy(settings).read_bytes()


async def _decrypt(settings: CloudactSettings, credential_id: str) -> dict[str, str]:
    """Decrypts through the vault over the key ring at its new place (no server, no channel)."""
    ring = await LocalKeyRing.open(settings.keyring_path)
    records = await SqliteCredentialRecords.open(settings.data_dir / "credentials.sqlite")
    try:
        return (await CredentialVault(records, ring).decrypt(ORG, credential_id)).secret.reveal()
    finally:
        await records.close()


async def _start_and_stop(settings: CloudactSettings) -> None:
    server = await build(settings, address="127.0.0.1:0", internal_address="127.0.0.1:0")
    await server.stop(0)


# --- through build(): what a start does ------------------------------------------------------------


async def test_a_fresh_start_creates_the_key_ring_outside_data_dir(settings: CloudactSettings) -> None:
    await _start_and_stop(settings)
    path = settings.keyring_path
    assert path == settings.data_dir.absolute().parent / "data-keys" / "keyring.json"
    assert path.is_file() and not path.is_relative_to(settings.data_dir.absolute())
    assert _mode(path) == 0o600 and _mode(path.parent) == 0o700
    assert not _legacy(settings).exists()
    assert not any(p.name.startswith("keyring") for p in settings.data_dir.rglob("*"))
    assert (settings.data_dir / "credentials.sqlite").exists()


async def test_a_legacy_key_ring_is_moved_on_start_and_still_decrypts(
    settings: CloudactSettings, caplog: pytest.LogCaptureFixture
) -> None:
    credential_id, legacy_bytes = await _legacy_installation(settings)
    caplog.set_level(logging.INFO)

    await _start_and_stop(settings)

    assert not _legacy(settings).exists()
    assert settings.keyring_path.read_bytes() == legacy_bytes  # moved, not regenerated
    assert _mode(settings.keyring_path) == 0o600 and _mode(settings.keyring_path.parent) == 0o700
    assert "moved the key ring" in caplog.text and str(settings.keyring_path) in caplog.text
    assert await _decrypt(settings, credential_id) == SECRET

    caplog.clear()
    await _start_and_stop(settings)  # the next start finds nothing to move
    assert "moved the key ring" not in caplog.text
    assert await _decrypt(settings, credential_id) == SECRET


async def test_two_different_key_rings_refuse_to_start(settings: CloudactSettings) -> None:
    _, legacy_bytes = await _legacy_installation(settings)
    await LocalKeyRing.open(settings.keyring_path)  # a second, unrelated ring at the new place
    new_bytes = settings.keyring_path.read_bytes()

    with pytest.raises(KeyRingLocationError) as caught:
        await _start_and_stop(settings)
    message = str(caught.value)
    assert str(settings.keyring_path) in message and str(_legacy(settings)) in message
    for ring_bytes in (legacy_bytes, new_bytes):  # no key material in the error
        for entry in json.loads(ring_bytes)["keys"]:
            assert entry["key"] not in message
    # Neither file was touched.
    assert _legacy(settings).read_bytes() == legacy_bytes
    assert settings.keyring_path.read_bytes() == new_bytes


async def test_keyring_file_setting_overrides_the_place(settings: CloudactSettings, tmp_path: Path) -> None:
    elsewhere = tmp_path / "vault-keys" / "ring.json"
    credential_id, legacy_bytes = await _legacy_installation(settings)
    moved = settings.model_copy(update={"keyring_file": elsewhere})
    await _start_and_stop(moved)
    assert elsewhere.read_bytes() == legacy_bytes and not _legacy(settings).exists()
    assert await _decrypt(moved, credential_id) == SECRET


# --- the move itself -------------------------------------------------------------------------------


async def test_an_interrupted_move_is_finished(settings: CloudactSettings) -> None:
    credential_id, legacy_bytes = await _legacy_installation(settings)
    # A crash after the new file was created and before the old one was removed leaves both, identical.
    settings.keyring_path.parent.mkdir(mode=0o700)
    os.link(_legacy(settings), settings.keyring_path)

    await LocalKeyRing.open(settings.keyring_path, legacy_path=_legacy(settings))

    assert not _legacy(settings).exists() and settings.keyring_path.read_bytes() == legacy_bytes
    assert await _decrypt(settings, credential_id) == SECRET


async def test_a_move_across_file_systems_copies_privately(
    settings: CloudactSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    credential_id, legacy_bytes = await _legacy_installation(settings)
    real_link = os.link

    def no_cross_device_link(source: object, target: object) -> None:
        if Path(str(source)) == _legacy(settings):
            raise OSError(errno.EXDEV, "Invalid cross-device link")
        real_link(source, target)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "link", no_cross_device_link)
    old_umask = os.umask(0o000)  # a permissive umask must not widen the copy
    try:
        await LocalKeyRing.open(settings.keyring_path, legacy_path=_legacy(settings))
    finally:
        os.umask(old_umask)

    assert not _legacy(settings).exists() and settings.keyring_path.read_bytes() == legacy_bytes
    assert _mode(settings.keyring_path) == 0o600 and _mode(settings.keyring_path.parent) == 0o700
    assert [p.name for p in settings.keyring_path.parent.iterdir() if p.name.startswith(".")] == []
    assert await _decrypt(settings, credential_id) == SECRET


async def test_a_world_readable_legacy_key_ring_is_refused_not_moved(settings: CloudactSettings) -> None:
    await _legacy_installation(settings)
    _legacy(settings).chmod(0o644)
    with pytest.raises(PermissionError):
        await LocalKeyRing.open(settings.keyring_path, legacy_path=_legacy(settings))
    assert _legacy(settings).exists() and not settings.keyring_path.exists()


async def test_a_key_ring_configured_at_the_old_place_stays_there(settings: CloudactSettings) -> None:
    _, legacy_bytes = await _legacy_installation(settings)
    same_place = settings.data_dir / "secrets" / ".." / "secrets" / "keyring.json"
    ring = await LocalKeyRing.open(_legacy(settings), legacy_path=same_place)
    assert ring.path == _legacy(settings) and _legacy(settings).read_bytes() == legacy_bytes
