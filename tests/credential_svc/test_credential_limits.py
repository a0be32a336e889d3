"""Bounded input and paged listings: nothing a caller stores can make a request or response outgrow gRPC.

Runs the vault (and, for the response size, the servicer's handler) over real SQLite records and a
real key ring in tmp_path; no channel.
"""

from __future__ import annotations

import asyncio
import os
import string
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from cloudact_shared.errors import InvalidArgument, ResourceExhausted
from cloudact_shared.gen.cloudact.credential.v1 import credential_service_pb2 as pb
from credential_svc.adapters.keyring import LocalKeyRing
from credential_svc.adapters.records import CredentialRecord, Envelope, InsertOutcome, SqliteCredentialRecords
from credential_svc.limits import (
    MAX_CONFIG_BYTES,
    MAX_CONFIG_KEYS,
    MAX_CONFIG_VALUE_CHARS,
    MAX_DISPLAY_NAME,
    MAX_SECRET_FIELDS,
)
from credential_svc.secret import Secret
from credential_svc.server import CredentialServicer
from credential_svc.service import (
    DEFAULT_PAGE_SIZE,
    MAX_PAGE_SIZE,
    CredentialMetadata,
    CredentialPage,
    CredentialVault,
    NewCredential,
)

ORG = "acme_corp"
OTHER_ORG = "globex_inc"
SECRET_VALUE = "wJalrXUtnFEMI-K7MDENG-bPxRfiCY-DO-NOT-LEAK"
SECRET = {"aws_access_key_id": "AKIAIOSFODNN7EXAMPLE", "aws_secret_access_key": SECRET_VALUE}
CONFIG = {"bucket": "acme-billing", "export_name": "prod-cur", "prefix": "exports", "layout": "cur2"}
GRPC_MESSAGE_LIMIT = 4 * 1024 * 1024
"""gRPC's default receive limit: a response above it fails with RESOURCE_EXHAUSTED at the client."""


class _StepClock:
    """created_at for each new credential: one second apart, or all equal (to exercise the id tie-break)."""

    def __init__(self, step: timedelta = timedelta(seconds=1)) -> None:
        self.current = datetime(2025, 1, 1, tzinfo=UTC)
        self.step = step

    def __call__(self) -> datetime:
        self.current += self.step
        return self.current


@pytest.fixture
async def ring(tmp_path: Path) -> LocalKeyRing:
    return await LocalKeyRing.open(tmp_path / "keys" / "keyring.json")


@pytest.fixture
async def records(tmp_path: Path) -> SqliteCredentialRecords:
    return await SqliteCredentialRecords.open(tmp_path / "data" / "credentials.sqlite")


@pytest.fixture
def vault(records: SqliteCredentialRecords, ring: LocalKeyRing) -> CredentialVault:
    return CredentialVault(records, ring)


def _new(
    name: str = "prod billing",
    *,
    org: str = ORG,
    secret: dict[str, str] | None = None,
    config: dict[str, str] | None = None,
) -> NewCredential:
    return NewCredential(
        org, "aws", name, Secret.of(SECRET if secret is None else secret), CONFIG if config is None else config
    )


async def _refused(call: Awaitable[object], field: str) -> InvalidArgument:
    with pytest.raises(InvalidArgument) as caught:
        await call
    error = caught.value
    assert [v.field for v in error.violations] == [field], error.message
    shown = error.message + repr(error.violations) + repr(error.metadata)
    assert SECRET_VALUE not in shown
    assert len(error.message) < 300  # caller input is echoed cut short, never whole
    return error


# --- item 1: bounded input ------------------------------------------------------------------------


async def test_a_3_mb_config_is_refused(vault: CredentialVault) -> None:
    # Before the limits a 3 MB config was stored, and three of them made ListCredentials fail.
    error = await _refused(vault.create(_new(config={**CONFIG, "prefix": "p" * 3_000_000})), "config")
    assert str(MAX_CONFIG_VALUE_CHARS) in error.message
    assert (await vault.list_credentials(ORG)).credentials == ()


async def test_config_is_bounded_as_json_in_keys_and_in_key_names(vault: CredentialVault) -> None:
    # Each value within its own bound, together over 16 KiB as JSON.
    third = MAX_CONFIG_BYTES // 3 + 100
    too_big = {**CONFIG, "prefix": "p" * third, "export_name": "e" * third, "bucket": "b" * third}
    error = await _refused(vault.create(_new(config=too_big)), "config")
    assert f"at most {MAX_CONFIG_BYTES} bytes" in error.message

    many = {**CONFIG, **{f"k{i}": "v" for i in range(MAX_CONFIG_KEYS)}}
    await _refused(vault.create(_new(config=many)), "config")

    for bad_key in ("", " bucket", "bucket\n", "x" * 65, "k" * 2_000_000, "bücket", "1bucket"):
        error = await _refused(vault.create(_new(config={**CONFIG, bad_key: "v"})), "config")
        assert "k" * 100 not in error.message


async def test_a_secret_of_5000_fields_is_refused(vault: CredentialVault) -> None:
    secret = {f"f{i}": SECRET_VALUE for i in range(5000)}
    error = await _refused(vault.create(_new(secret=secret)), "secret")
    assert f"at most {MAX_SECRET_FIELDS} fields" in error.message


async def test_secret_field_names_are_identifiers_and_never_echoed(vault: CredentialVault) -> None:
    for bad_name in (SECRET_VALUE + "!", "a" * 65, "key name", "", "é"):
        error = await _refused(vault.create(_new(secret={**SECRET, bad_name: "x"})), "secret")
        assert bad_name not in error.message or not bad_name


async def test_a_secret_over_64_kib_is_refused(vault: CredentialVault) -> None:
    await _refused(vault.create(_new(secret={**SECRET, "aws_session_token": "t" * 70_000})), "secret")


async def test_display_name_is_bounded_and_printable(vault: CredentialVault) -> None:
    await _refused(vault.create(_new("n" * (MAX_DISPLAY_NAME + 1))), "display_name")
    for bad in ("prod\nbilling", "prod\x1b[31mbilling", "prod\x00"):
        await _refused(vault.create(_new(bad)), "display_name")
    created = await vault.create(_new("  " + "n" * MAX_DISPLAY_NAME + "  "))  # surrounding blanks are trimmed
    assert created.display_name == "n" * MAX_DISPLAY_NAME


async def test_rotation_applies_the_secret_limits(vault: CredentialVault) -> None:
    created = await vault.create(_new())
    for secret in (
        {f"f{i}": SECRET_VALUE for i in range(5000)},
        {**SECRET, "aws_session_token": "t" * 70_000},
        {**SECRET, "bad name": "x"},
        {},
    ):
        await _refused(vault.rotate(ORG, created.credential_id, Secret.of(secret)), "new_secret")
    decrypted = await vault.decrypt(ORG, created.credential_id)
    assert decrypted.secret.reveal() == SECRET  # nothing was replaced


async def test_an_org_holds_a_bounded_number_of_credentials(
    records: SqliteCredentialRecords, ring: LocalKeyRing
) -> None:
    vault = CredentialVault(records, ring, max_credentials_per_org=3)
    first, *_ = [await vault.create(_new(f"cred {i}")) for i in range(3)]
    with pytest.raises(ResourceExhausted) as caught:
        await vault.create(_new("one too many"))
    assert caught.value.reason == "CREDENTIAL_LIMIT_REACHED"
    assert "3" in caught.value.message
    await vault.create(_new("other org", org=OTHER_ORG))  # the limit is per org

    await vault.delete(ORG, first.credential_id)
    await vault.create(_new("one too many"))  # room again
    assert len((await vault.list_credentials(ORG)).credentials) == 3


async def test_concurrent_creates_on_two_replicas_never_overshoot_the_limit(tmp_path: Path, ring: LocalKeyRing) -> None:
    # Two connections to one database file, as two replicas would have: the count and the insert must
    # be one transaction, or both replicas see room for the last credential.
    path = tmp_path / "data" / "credentials.sqlite"
    replicas = [
        CredentialVault(await SqliteCredentialRecords.open(path), ring, max_credentials_per_org=5) for _ in range(2)
    ]
    results = await asyncio.gather(
        *(replicas[i % 2].create(_new(f"cred {i}")) for i in range(12)), return_exceptions=True
    )
    created = [r for r in results if isinstance(r, CredentialMetadata)]
    refused = [r for r in results if isinstance(r, ResourceExhausted)]
    assert len(created) == 5 and len(refused) == 7, results
    assert len((await replicas[0].list_credentials(ORG)).credentials) == 5


# --- item 1: paged listings -----------------------------------------------------------------------


async def _all_pages(vault: CredentialVault, org: str, provider: str = "", page_size: int = 0) -> list[list[str]]:
    pages: list[list[str]] = []
    token = ""
    while True:
        page = await vault.list_credentials(org, provider, page_size=page_size, page_token=token)
        pages.append([c.credential_id for c in page.credentials])
        token = page.next_page_token
        if not token:
            return pages


@pytest.mark.parametrize("step", [timedelta(seconds=1), timedelta(0)], ids=["distinct-times", "same-time"])
async def test_pages_cover_every_credential_once_in_a_stable_order(
    records: SqliteCredentialRecords, ring: LocalKeyRing, step: timedelta
) -> None:
    vault = CredentialVault(records, ring, now=_StepClock(step))
    created = [await vault.create(_new(f"cred {i}")) for i in range(7)]
    await vault.create(_new("elsewhere", org=OTHER_ORG))

    pages = await _all_pages(vault, ORG, page_size=3)
    assert [len(page) for page in pages] == [3, 3, 1]
    expected = [c.credential_id for c in sorted(created, key=lambda c: (c.created_at, c.credential_id))]
    assert [cid for page in pages for cid in page] == expected
    assert await _all_pages(vault, ORG, page_size=3) == pages  # same order every time


async def test_page_size_defaults_and_is_capped(vault: CredentialVault) -> None:
    for i in range(MAX_PAGE_SIZE + 5):
        await vault.create(_new(f"cred {i:03}"))
    first = await vault.list_credentials(ORG)
    assert len(first.credentials) == DEFAULT_PAGE_SIZE and first.next_page_token
    capped = await vault.list_credentials(ORG, page_size=10_000)
    assert len(capped.credentials) == MAX_PAGE_SIZE and capped.next_page_token
    rest = await vault.list_credentials(ORG, page_size=10_000, page_token=capped.next_page_token)
    assert len(rest.credentials) == 5 and rest.next_page_token == ""
    exact = await vault.list_credentials(ORG, page_size=MAX_PAGE_SIZE + 5)  # capped, so one more page
    assert exact.next_page_token
    await _refused(vault.list_credentials(ORG, page_size=-1), "page_size")


async def test_last_page_has_no_token_and_provider_filter_pages_too(vault: CredentialVault) -> None:
    assert await vault.list_credentials(ORG) == CredentialPage((), "")
    aws = [await vault.create(_new(f"aws {i}")) for i in range(3)]
    pages = await _all_pages(vault, ORG, "aws", page_size=2)
    assert [cid for page in pages for cid in page] == [c.credential_id for c in aws]
    exact = await vault.list_credentials(ORG, page_size=3)
    assert len(exact.credentials) == 3 and exact.next_page_token == ""  # no empty trailing page


async def test_deleting_during_paging_neither_skips_nor_repeats(vault: CredentialVault) -> None:
    created = [await vault.create(_new(f"cred {i}")) for i in range(6)]
    first = await vault.list_credentials(ORG, page_size=3)
    await vault.delete(ORG, first.credentials[-1].credential_id)  # the token's own position is gone
    await vault.delete(ORG, created[0].credential_id)
    second = await vault.list_credentials(ORG, page_size=3, page_token=first.next_page_token)
    assert [c.credential_id for c in second.credentials] == [c.credential_id for c in created[3:]]


async def test_page_tokens_are_tamper_checked_and_bound_to_the_query(vault: CredentialVault) -> None:
    for i in range(5):
        await vault.create(_new(f"cred {i}"))
    await vault.create(_new("other", org=OTHER_ORG))
    token = (await vault.list_credentials(ORG, page_size=2)).next_page_token
    payload, _, mac = token.partition(".")
    flipped = payload[:-2] + ("A" if payload[-2] != "A" else "B") + payload[-1]
    # The MAC's last character carries spare bits: a decoder alone would read an edit there as the same MAC.
    last_edited = mac[:-1] + ("A" if mac[-1] != "A" else "B")
    forged = [
        f"{flipped}.{mac}",
        f"{payload}.{mac[:-2]}",
        f"{payload}.{last_edited}",
        payload,
        "not a token",
        "x" * 100_000,
        token + "=" * 3 + "!",
    ]
    for bad in forged:
        error = await _refused(vault.list_credentials(ORG, page_size=2, page_token=bad), "page_token")
        assert error.reason == "INVALID_PAGE_TOKEN"
        assert "x" * 100 not in error.message
    # Another org, or another provider filter, cannot reuse the token.
    await _refused(vault.list_credentials(OTHER_ORG, page_size=2, page_token=token), "page_token")
    await _refused(vault.list_credentials(ORG, "aws", page_size=2, page_token=token), "page_token")


async def test_page_tokens_survive_a_restart_and_work_across_replicas(
    tmp_path: Path, records: SqliteCredentialRecords, ring: LocalKeyRing
) -> None:
    vault = CredentialVault(records, ring)
    created = [await vault.create(_new(f"cred {i}")) for i in range(4)]
    token = (await vault.list_credentials(ORG, page_size=2)).next_page_token
    await records.close()

    reopened = await SqliteCredentialRecords.open(tmp_path / "data" / "credentials.sqlite")
    replica = CredentialVault(reopened, ring)
    page = await replica.list_credentials(ORG, page_size=2, page_token=token)
    assert [c.credential_id for c in page.credentials] == [c.credential_id for c in created[2:]]


async def test_the_largest_page_of_the_largest_credentials_fits_a_grpc_message(
    records: SqliteCredentialRecords, ring: LocalKeyRing
) -> None:
    # Records at every bound at once (stored directly: a real provider accepts fewer config keys),
    # listed through the real handler with the largest page size a caller can ask for.
    name_chars = string.ascii_letters
    secret_names = tuple(f"{name_chars[i % 52]}{i:02}".ljust(64, "x") for i in range(MAX_SECRET_FIELDS))
    key_room = MAX_CONFIG_BYTES // MAX_CONFIG_KEYS - len('"":"",') - 64
    config = {f"{name_chars[i % 52]}{i:02}".ljust(64, "k"): "\u20ac" * (key_room // 3) for i in range(MAX_CONFIG_KEYS)}
    template = CredentialRecord(
        credential_id="",
        org_slug=ORG,
        provider="aws",
        display_name="\U0001f4b6" * MAX_DISPLAY_NAME,
        secret_field_names=secret_names,
        config=config,
        envelope=Envelope("local-v1", os.urandom(60), os.urandom(12), os.urandom(64)),
        created_at=datetime(2025, 1, 1, tzinfo=UTC),
        rotated_at=datetime(2025, 1, 2, tzinfo=UTC),
    )
    for i in range(MAX_PAGE_SIZE + 1):
        record = replace(template, credential_id=str(uuid.uuid4()), display_name=f"{i:03}" + template.display_name[3:])
        assert await records.insert(record, max_per_org=10_000) is InsertOutcome.INSERTED

    servicer = CredentialServicer(CredentialVault(records, ring), default_timeout=5)
    request = pb.ListCredentialsRequest(org_slug=ORG, page_size=2**31 - 1)
    response = await servicer.ListCredentials(request, _NoContext())
    assert len(response.credentials) == MAX_PAGE_SIZE and response.next_page_token
    assert response.ByteSize() < GRPC_MESSAGE_LIMIT // 2, response.ByteSize()


class _NoContext:
    """ListCredentials never looks at its context."""

    def __getattr__(self, name: str) -> Callable[..., object]:
        raise AssertionError(f"ListCredentials used context.{name}")


async def test_records_stored_before_the_limits_are_listed_a_few_per_page(
    records: SqliteCredentialRecords, ring: LocalKeyRing
) -> None:
    # The reported case: three 3 MB configs (stored when nothing refused them) made one 9.6 MB
    # response. They stay readable: each page ends before it would outgrow gRPC's limit.
    for i in range(3):
        record = CredentialRecord(
            credential_id=str(uuid.uuid4()),
            org_slug=ORG,
            provider="aws",
            display_name=f"legacy {i}",
            secret_field_names=tuple(sorted(SECRET)),
            config={**CONFIG, "prefix": "p" * 3_000_000},
            envelope=Envelope("local-v1", os.urandom(60), os.urandom(12), os.urandom(64)),
            created_at=datetime(2024, 1, 1 + i, tzinfo=UTC),
            rotated_at=None,
        )
        assert await records.insert(record, max_per_org=10) is InsertOutcome.INSERTED
    small = await CredentialVault(records, ring).create(_new("small"))

    servicer = CredentialServicer(CredentialVault(records, ring), default_timeout=5)
    listed: list[str] = []
    token = ""
    while True:
        request = pb.ListCredentialsRequest(org_slug=ORG, page_token=token)
        response = await servicer.ListCredentials(request, _NoContext())
        assert response.ByteSize() < GRPC_MESSAGE_LIMIT, response.ByteSize()
        listed += [c.display_name for c in response.credentials]
        token = response.next_page_token
        if not token:
            break
    assert listed == ["legacy 0", "legacy 1", "legacy 2", small.display_name]
