"""Credentials are checked against the provider registry when created or given a new secret.

Before, an unknown provider or a garbage config was stored and failed only when a pipeline ran. The
vault now asks ``cloudact_providers.registry.validate_credential`` (the registry itself is tested with
the providers); these tests prove the vault asks it, when, with which setting, and that nothing of a
secret leaks through what it answers.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

import pytest

from cloudact_shared.errors import CloudactError, FieldViolation, InvalidArgument
from credential_svc import service
from credential_svc.adapters.keyring import LocalKeyRing
from credential_svc.adapters.records import SqliteCredentialRecords
from credential_svc.secret import Secret
from credential_svc.service import CredentialVault, NewCredential

ORG = "acme_corp"
SECRET_VALUE = "wJalrXUtnFEMI-K7MDENG-bPxRfiCY-PROVIDER-CHECK"
SECRET = {"aws_access_key_id": "AKIAIOSFODNN7EXAMPLE", "aws_secret_access_key": SECRET_VALUE}
CONFIG = {"bucket": "acme-billing", "export_name": "prod-cur", "prefix": "exports", "layout": "cur2"}
EMULATOR = "http://127.0.0.1:9000"


@pytest.fixture
async def records(tmp_path: Path) -> SqliteCredentialRecords:
    return await SqliteCredentialRecords.open(tmp_path / "data" / "credentials.sqlite")


@pytest.fixture
async def ring(tmp_path: Path) -> LocalKeyRing:
    return await LocalKeyRing.open(tmp_path / "keys" / "keyring.json")


@pytest.fixture
def vault(records: SqliteCredentialRecords, ring: LocalKeyRing) -> CredentialVault:
    return CredentialVault(records, ring)  # production default: no endpoint overrides


def _new(
    provider: str = "aws", *, secret: Mapping[str, str] = SECRET, config: Mapping[str, str] = CONFIG
) -> NewCredential:
    return NewCredential(ORG, provider, f"{provider} billing", Secret.of(secret), config)


async def _refused(vault: CredentialVault, new: NewCredential, reason: str) -> InvalidArgument:
    with pytest.raises(InvalidArgument) as caught:
        await vault.create(new)
    error = caught.value
    assert error.reason == reason, error.message
    assert SECRET_VALUE not in error.message + repr(error.violations) + repr(error.metadata)
    assert (await vault.list_credentials(ORG)).credentials == ()  # nothing stored
    return error


async def test_an_unknown_provider_is_refused_at_create(vault: CredentialVault) -> None:
    error = await _refused(vault, _new("dropbox"), "UNKNOWN_PROVIDER")
    assert [v.field for v in error.violations] == ["provider"]


async def test_a_garbage_config_is_refused_at_create(vault: CredentialVault) -> None:
    garbage = {"bucket": "not/a bucket", "colour": "blue", "layout": "cur9"}
    error = await _refused(vault, _new(config=garbage), "BAD_CREDENTIAL_CONFIG")
    fields = {v.field for v in error.violations}
    assert {"config.bucket", "config.export_name", "config.colour", "config.layout"} <= fields


async def test_a_secret_of_the_wrong_shape_is_refused_at_create(vault: CredentialVault) -> None:
    error = await _refused(vault, _new(secret={"api_key": SECRET_VALUE}), "BAD_CREDENTIAL_CONFIG")
    assert all(v.field.startswith("secret.") for v in error.violations)


async def test_a_good_credential_is_accepted(vault: CredentialVault) -> None:
    created = await vault.create(_new())
    assert created.provider == "aws" and dict(created.config) == CONFIG
    assert (await vault.decrypt(ORG, created.credential_id)).secret.reveal() == SECRET


async def test_endpoint_overrides_follow_the_setting(records: SqliteCredentialRecords, ring: LocalKeyRing) -> None:
    with_emulator = _new(config={**CONFIG, "endpoint_url": EMULATOR})
    error = await _refused(CredentialVault(records, ring), with_emulator, "ENDPOINT_OVERRIDE_DISABLED")
    assert [v.field for v in error.violations] == ["config.endpoint_url"]

    allowing = CredentialVault(records, ring, allow_endpoint_overrides=True)
    assert (await allowing.create(with_emulator)).config["endpoint_url"] == EMULATOR


async def test_a_new_secret_is_checked_against_the_credentials_provider(vault: CredentialVault) -> None:
    created = await vault.create(_new())
    with pytest.raises(InvalidArgument) as caught:
        await vault.rotate(ORG, created.credential_id, Secret.of({"api_key": SECRET_VALUE}))
    assert caught.value.reason == "BAD_CREDENTIAL_CONFIG"
    assert caught.value.violations and all(v.field.startswith("new_secret.") for v in caught.value.violations)
    assert SECRET_VALUE not in caught.value.message + repr(caught.value.violations)
    assert (await vault.decrypt(ORG, created.credential_id)).secret.reveal() == SECRET  # unchanged

    replacement = {**SECRET, "aws_secret_access_key": "rotated-secret-value"}
    await vault.rotate(ORG, created.credential_id, Secret.of(replacement))
    assert (await vault.decrypt(ORG, created.credential_id)).secret.reveal() == replacement
    await vault.rotate(ORG, created.credential_id)  # a re-wrap of the same secret needs no check


async def test_the_registry_is_asked_only_about_input_within_the_limits(
    vault: CredentialVault, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked: list[str] = []
    monkeypatch.setattr(service, "validate_credential", lambda provider, *_, **__: asked.append(provider))
    with pytest.raises(InvalidArgument):
        await vault.create(_new(secret={f"f{i}": "x" for i in range(5000)}))
    assert asked == []
    await vault.create(_new())
    assert asked == ["aws"]


async def test_what_the_registry_says_never_carries_a_secret_value(
    vault: CredentialVault, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # The registry promises never to quote a value; the vault keeps its own promise if it ever did.
    def quoting(provider: str, config: Mapping[str, str], secret: Mapping[str, str] | None, **_: object) -> None:
        value = (secret or {})["aws_secret_access_key"]
        raise InvalidArgument(
            f"bad key {value}",
            reason="BAD_CREDENTIAL_CONFIG",
            violations=[FieldViolation("secret.aws_secret_access_key", f"{value} is wrong"), FieldViolation("x", "y")],
            metadata={"value": value},
        )

    monkeypatch.setattr(service, "validate_credential", quoting)
    error = await _refused(vault, _new(), "BAD_CREDENTIAL_CONFIG")
    assert [v.field for v in error.violations] == ["secret.aws_secret_access_key", "x"]
    assert error.violations[1].description == "y"

    def crashing(provider: str, config: Mapping[str, str], secret: Mapping[str, str] | None, **_: object) -> None:
        raise TypeError(f"cannot parse {(secret or {})['aws_secret_access_key']}")

    monkeypatch.setattr(service, "validate_credential", crashing)
    caplog.set_level(logging.DEBUG)
    with pytest.raises(CloudactError) as caught:
        await vault.create(_new())
    assert caught.value.reason == "CREDENTIAL_CHECK_FAILED"
    assert SECRET_VALUE not in caught.value.message and caught.value.__cause__ is None
    assert caught.value.__suppress_context__
    assert SECRET_VALUE not in caplog.text and "TypeError" in caplog.text
