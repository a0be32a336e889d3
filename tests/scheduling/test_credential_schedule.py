"""The schedule on a credential: CreateCredential and UpdateCredentialSchedule over gRPC, its default,
who may set it, the CLI's check, and credential stores from before schedules."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from cloudact_shared.gen.cloudact.credential.v1 import credential_service_pb2 as cred_pb
from cloudact_shared.gen.cloudact.credential.v1.credential_service_pb2_grpc import CredentialServiceStub
from cloudact_shared.schedule import default_spec
from credential_svc.adapters.records import CredentialRecord, Envelope, InsertOutcome, SqliteCredentialRecords
from tests.channels import org_channel
from tests.conftest import Services
from tests.e2e.helpers import error_reason

ORG = "acme"
AWS_CONFIG = {"bucket": "b", "export_name": "cur", "prefix": "p", "layout": "legacy"}
AWS_SECRET = {"aws_access_key_id": "AKIAEXAMPLE", "aws_secret_access_key": "s3cr3t-never-echoed"}


def _create(name: str, schedule: str = "") -> cred_pb.CreateCredentialRequest:
    return cred_pb.CreateCredentialRequest(
        org_slug=ORG, provider="aws", display_name=name, secret=AWS_SECRET, config=AWS_CONFIG, schedule=schedule
    )


async def test_a_credential_carries_its_schedule_default_or_custom(services: Services) -> None:
    settings = services.settings
    async with org_channel(settings, settings.credential_address, ORG, role="operator") as channel:
        stub = CredentialServiceStub(channel)
        plain = (await stub.CreateCredential(_create("plain"), timeout=10)).credential
        assert plain.schedule.spec == default_spec(plain.credential_id)
        assert plain.schedule.origin == cred_pb.SCHEDULE_ORIGIN_DEFAULT
        custom = (await stub.CreateCredential(_create("custom", " 30  2 * * 1-5 "), timeout=10)).credential
        assert (custom.schedule.spec, custom.schedule.origin) == ("30 2 * * 1-5", cred_pb.SCHEDULE_ORIGIN_CUSTOM)

        update = cred_pb.UpdateCredentialScheduleRequest(
            org_slug=ORG, credential_id=plain.credential_id.upper(), schedule="DAILY@04:05"
        )
        updated = (await stub.UpdateCredentialSchedule(update, timeout=10)).credential
        assert (updated.schedule.spec, updated.schedule.origin) == ("daily@04:05", cred_pb.SCHEDULE_ORIGIN_CUSTOM)
        got = await stub.GetCredential(
            cred_pb.GetCredentialRequest(org_slug=ORG, credential_id=plain.credential_id), timeout=10
        )
        assert got.credential.schedule.spec == "daily@04:05"
        listed = await stub.ListCredentials(cred_pb.ListCredentialsRequest(org_slug=ORG), timeout=10)
        assert {c.display_name: c.schedule.spec for c in listed.credentials} == {
            "plain": "daily@04:05",
            "custom": "30 2 * * 1-5",
        }
        reset = cred_pb.UpdateCredentialScheduleRequest(org_slug=ORG, credential_id=plain.credential_id)
        back = (await stub.UpdateCredentialSchedule(reset, timeout=10)).credential.schedule
        assert (back.spec, back.origin) == (default_spec(plain.credential_id), cred_pb.SCHEDULE_ORIGIN_DEFAULT)


async def test_an_invalid_schedule_is_refused_and_nothing_is_stored(services: Services) -> None:
    settings = services.settings
    async with org_channel(settings, settings.credential_address, ORG, role="operator") as channel:
        stub = CredentialServiceStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.CreateCredential(_create("bad", "every day"), timeout=10)
        assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT
        assert error_reason(caught.value) == "INVALID_SCHEDULE"
        assert "daily@HH:MM" in (caught.value.details() or "")
        assert "s3cr3t" not in (caught.value.details() or "")
        assert _violated_fields(caught.value) == ["schedule"]
        listed = await stub.ListCredentials(cred_pb.ListCredentialsRequest(org_slug=ORG), timeout=10)
        assert list(listed.credentials) == []

        created = (await stub.CreateCredential(_create("good"), timeout=10)).credential
        update = cred_pb.UpdateCredentialScheduleRequest(
            org_slug=ORG, credential_id=created.credential_id, schedule="*/10 * * * *"
        )
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.UpdateCredentialSchedule(update, timeout=10)
        assert error_reason(caught.value) == "INVALID_SCHEDULE" and "at most hourly" in (caught.value.details() or "")
        got = await stub.GetCredential(
            cred_pb.GetCredentialRequest(org_slug=ORG, credential_id=created.credential_id), timeout=10
        )
        assert got.credential.schedule.origin == cred_pb.SCHEDULE_ORIGIN_DEFAULT

        missing = cred_pb.UpdateCredentialScheduleRequest(
            org_slug=ORG, credential_id="33333333-3333-4333-8333-333333333333", schedule="off"
        )
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.UpdateCredentialSchedule(missing, timeout=10)
        assert caught.value.code() is grpc.StatusCode.NOT_FOUND
    # A viewer may read a schedule, not change it.
    async with org_channel(settings, settings.credential_address, ORG, role="viewer") as channel:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await CredentialServiceStub(channel).UpdateCredentialSchedule(update, timeout=10)
        assert caught.value.code() is grpc.StatusCode.PERMISSION_DENIED


def test_the_cli_refuses_an_invalid_schedule_before_any_call(tmp_path: Path) -> None:
    env = {**os.environ, "CLOUDACT_DATA_DIR": str(tmp_path), "CLOUDACT_TOKEN": "not-used"}
    command = [sys.executable, "-m", "cloudact_cli.main", "credentials", "create", "--org", ORG]
    command += ["--provider", "aws", "--name", "x", "--secret", "k=v", "--schedule", "daily@24:00"]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2
    assert "--schedule" in done.stderr and "daily@HH:MM" in done.stderr


async def test_a_credential_store_from_before_schedules_gets_the_default(tmp_path: Path) -> None:
    path = tmp_path / "credentials.sqlite"
    records = await SqliteCredentialRecords.open(path)
    record = CredentialRecord(
        credential_id="33333333-3333-4333-8333-333333333333",
        org_slug=ORG,
        provider="aws",
        display_name="old",
        secret_field_names=("k",),
        config={},
        envelope=Envelope("v1", b"wrapped", b"nonce", b"ciphertext"),
        created_at=datetime(2025, 1, 1, tzinfo=UTC),
        rotated_at=None,
    )
    assert await records.insert(record, max_per_org=10) is InsertOutcome.INSERTED
    await records.close()
    with sqlite3.connect(path) as db:
        db.execute("ALTER TABLE credentials DROP COLUMN schedule")  # as the store was before schedules
    records = await SqliteCredentialRecords.open(path)
    try:
        assert await records.list_org(ORG) == [record]
        assert record.schedule is None
        assert await records.set_schedule(ORG, record.credential_id, "off")
        assert await records.get(ORG, record.credential_id) == replace(record, schedule="off")
    finally:
        await records.close()
    with sqlite3.connect(path) as db:
        assert "schedule" in {row[1] for row in db.execute("PRAGMA table_info(credentials)")}


def _violated_fields(err: grpc.aio.AioRpcError) -> list[str]:
    status = rpc_status.from_call(err)
    assert status is not None
    fields: list[str] = []
    for detail in status.details:
        bad = error_details_pb2.BadRequest()
        if detail.Is(bad.DESCRIPTOR) and detail.Unpack(bad):
            fields.extend(v.field for v in bad.field_violations)
    return fields
