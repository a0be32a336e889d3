"""Helpers of the DataHub tests: events as messages, uploads over gRPC, the org's tables."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any

import pyarrow as pa

from cloudact_providers.datahub.events import LABEL_FIELDS, TEXT_FIELDS
from cloudact_shared.gen.cloudact.events.v1 import events_service_pb2 as pb
from cloudact_shared.gen.cloudact.events.v1.events_service_pb2_grpc import EventsServiceStub
from cloudact_shared.settings import CloudactSettings
from tests.channels import org_channel
from tests.e2e.helpers import read_table

ORG = "acme"
FOCUS_TABLE = "cost_data_standard_1_3"
RAW_TABLE = "cloud_datahub_billing_raw_daily"
RUN_COLUMNS = ("x_run_id", "x_ingested_at", "x_pipeline_run_date")
"""Lineage that differs between two runs of the same events."""


def event(event_id: str, **fields: Any) -> dict[str, Any]:
    """A good event of January 2025 (``fields`` override or add)."""
    base: dict[str, Any] = {
        "event_id": event_id,
        "cloud": "Snowflake",
        "billing_account_id": "SF-ACME-01",
        "service_description": "Snowflake Warehouse",
        "usage_date_time": "2025-01-10 10:00:00",
        "cost": "2.50",
        "currency": "USD",
    }
    return {**base, **fields}


def message(data: dict[str, Any]) -> pb.CostEvent:
    """An event as its protobuf message."""
    built = pb.CostEvent()
    for name, value in data.items():
        if name in TEXT_FIELDS:
            setattr(built, name, str(value))
        elif name in LABEL_FIELDS:
            getattr(built, name).extend(pb.Label(key=e["key"], value=e["value"]) for e in value)
        elif name == "metrics":
            built.metrics.extend(pb.Metric(key=m["key"], value=m["value"]) for m in value)
        elif name == "is_marketplace":
            built.is_marketplace = bool(value)
        else:
            raise AssertionError(name)
    return built


async def upload(
    settings: CloudactSettings,
    batches: Sequence[Sequence[dict[str, Any]]],
    *,
    org: str = ORG,
    role: str = "operator",
    token_org: str | None = None,
    orgs: Sequence[str] | None = None,
) -> pb.UploadEventsResponse:
    """Uploads ``batches`` (one message each) as ``role`` of ``token_org`` (default ``org``).

    ``orgs`` names the org_slug of each message, when they are to differ.
    """

    async def requests() -> AsyncIterator[pb.UploadEventsRequest]:
        for index, batch in enumerate(batches):
            slug = orgs[index] if orgs else org
            yield pb.UploadEventsRequest(org_slug=slug, events=[message(e) for e in batch])

    async with org_channel(settings, settings.ingest_address, token_org or org, role=role) as channel:
        response: pb.UploadEventsResponse = await EventsServiceStub(channel).UploadEvents(requests(), timeout=120)
    return response


def focus_rows(settings: CloudactSettings, org: str = ORG) -> list[dict[str, Any]]:
    """The org's FOCUS rows, sorted by charge period and cost."""
    rows = read_table(settings, org, FOCUS_TABLE).to_pylist()
    return sorted(rows, key=lambda r: (r["ChargePeriodStart"], r["BilledCost"], r["ChargeDescription"] or ""))


def without_run(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows without the lineage of the run that wrote them."""
    return [{k: v for k, v in r.items() if k not in RUN_COLUMNS} for r in rows]


def raw_table(settings: CloudactSettings, org: str = ORG) -> pa.Table:
    return read_table(settings, org, RAW_TABLE)
