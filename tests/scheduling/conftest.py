"""Fixtures of the scheduling tests: the four services, legacy CUR deliveries for the months scheduled
runs re-read (moto S3 on loopback), and credentials with a schedule, created over gRPC."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from cloudact_cli.scheduling.run_due import PassReport, run_due_pass
from cloudact_shared.gen.cloudact.credential.v1 import credential_service_pb2 as cred_pb
from cloudact_shared.gen.cloudact.credential.v1.credential_service_pb2_grpc import CredentialServiceStub
from cloudact_shared.gen.cloudact.pipeline.v1 import pipeline_service_pb2 as pipe_pb
from tests.channels import org_channel, org_token
from tests.conftest import DATA, Services
from tests.e2e.helpers import list_runs, put_legacy_delivery

ORG = "acme"
SCHEDULE = "daily@02:00"


def _months_around_today() -> list[date]:
    today = datetime.now(UTC).date()
    index = today.year * 12 + today.month - 1
    return [date(i // 12, i % 12 + 1, 1) for i in range(index - 1, index + 4)]


MONTHS = _months_around_today()
"""Months with a delivery in the bucket (last month to three months ahead): every month the tests'
clocks (at most 70 days ahead) make a run re-read."""


def legacy_csv_for(month: date) -> bytes:
    """tests/data/aws/legacy_small.csv (November 2023) moved to ``month``."""
    following = date(month.year + month.month // 12, month.month % 12 + 1, 1)
    text = (DATA / "aws" / "legacy_small.csv").read_text()
    text = text.replace("2023-12-01", f"{following:%Y-%m-%d}").replace("2023-11-", f"{month:%Y-%m}-")
    return text.encode()


def slot_day(days: int, time: str = "02:00", minutes_after: int = 30) -> datetime:
    """``time`` UTC ``days`` after today, plus ``minutes_after``: a clock just after that slot."""
    day = datetime.now(UTC).date() + timedelta(days=days)
    at = datetime.fromisoformat(f"{day.isoformat()}T{time}:00+00:00")
    return at + timedelta(minutes=minutes_after)


@dataclass
class Scheduled:
    """The services, a bucket of deliveries, and how to make scheduled credentials and passes."""

    services: Services
    s3: Any
    endpoint: str
    bucket: str

    async def credential(self, export: str = "sched-cur", schedule: str = SCHEDULE) -> str:
        """A new AWS credential reading ``export`` (a delivery per month of ``MONTHS``)."""
        for month in MONTHS:
            delivery = put_legacy_delivery(self.s3, self.bucket, export, legacy_csv_for(month), month)
        settings = self.services.settings
        async with org_channel(settings, settings.credential_address, ORG, role="operator") as channel:
            response = await CredentialServiceStub(channel).CreateCredential(
                cred_pb.CreateCredentialRequest(
                    org_slug=ORG,
                    provider="aws",
                    display_name=export,
                    secret={"aws_access_key_id": "testing", "aws_secret_access_key": "testing"},
                    config={
                        "bucket": delivery.bucket,
                        "export_name": delivery.export_name,
                        "prefix": delivery.prefix,
                        "layout": delivery.layout,
                        "endpoint_url": self.endpoint,
                    },
                    schedule=schedule,
                ),
                timeout=10,
            )
        return str(response.credential.credential_id)

    async def run_due(self, now: datetime, **options: Any) -> PassReport:
        """One pass as an operator of ``ORG`` with the clock at ``now``."""
        token = org_token(self.services.settings.tokens_path, ORG, "operator")
        return await run_due_pass(self.services.settings, ORG, token=token, now=now, **options)

    async def runs(self, credential_id: str) -> list[pipe_pb.Run]:
        """The credential's runs, newest first."""
        response = await list_runs(self.services.settings, ORG, credential_id=credential_id, page_size=200)
        return list(response.runs)


@pytest.fixture
def scheduled(s3_client: Any, s3_endpoint: str, services: Services, request: pytest.FixtureRequest) -> Scheduled:
    bucket = f"sched-{abs(hash(request.node.name)) % 10**8}"
    s3_client.create_bucket(Bucket=bucket)
    return Scheduled(services, s3_client, s3_endpoint, bucket)
