"""FocusService servicer: ConvertToFocus and ExportFocus over FocusConverter."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import date
from typing import Any

import grpc

from cloudact_shared.errors import DeadlineExceeded, FieldViolation, InvalidArgument
from cloudact_shared.gen.cloudact.focus.v1 import focus_service_pb2 as pb
from cloudact_shared.gen.cloudact.focus.v1 import focus_service_pb2_grpc as pb_grpc
from cloudact_shared.lineage import Lineage
from cloudact_shared.naming import validate_org_slug
from cloudact_shared.server import BuiltServer, ServiceRegistration, build_service_server
from cloudact_shared.settings import CloudactSettings
from cloudact_shared.storage import TableStore, open_store
from focus_svc.service import FocusConverter

SERVICE_NAME = pb.DESCRIPTOR.services_by_name["FocusService"].full_name
_IPC_END_OF_STREAM = b"\xff\xff\xff\xff\x00\x00\x00\x00"


class FocusServicer(pb_grpc.FocusServiceServicer):
    def __init__(self, converter: FocusConverter) -> None:
        self._converter = converter

    async def ConvertToFocus(
        self, request: pb.ConvertToFocusRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.ConvertToFocusResponse:
        validate_org_slug(request.org_slug)
        if not request.HasField("lineage"):
            raise InvalidArgument("lineage is required", violations=[FieldViolation("lineage", "required")])
        lineage = Lineage.from_proto(request.lineage)
        periods = [_month(p) for p in request.billing_periods]
        work = asyncio.to_thread(self._converter.convert, request.org_slug, request.provider, lineage, periods)
        remaining = context.time_remaining()
        try:
            outcome = await asyncio.wait_for(work, timeout=remaining) if remaining is not None else await work
        except TimeoutError:
            # The worker thread finishes its (atomic) commit or fails; the caller is told now.
            raise DeadlineExceeded("deadline exceeded while converting to FOCUS") from None
        return pb.ConvertToFocusResponse(
            raw_rows_read=outcome.raw_rows_read,
            focus_rows_written=outcome.focus_rows_written,
            focus_table_version=outcome.focus_table_version,
        )

    async def ExportFocus(
        self, request: pb.ExportFocusRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> AsyncIterator[pb.ExportFocusResponse]:
        validate_org_slug(request.org_slug)
        start = _optional_date(request.start_date, "start_date")
        end = _optional_date(request.end_date, "end_date")
        schema, batch_iter = self._converter.export(request.org_slug, start, end)
        # Concatenated, the chunks form one Arrow IPC stream: schema, record batches, end marker.
        yield pb.ExportFocusResponse(arrow_ipc_chunk=schema.serialize().to_pybytes())
        batches = iter(batch_iter)
        while (batch := await asyncio.to_thread(next, batches, None)) is not None:
            yield pb.ExportFocusResponse(arrow_ipc_chunk=batch.serialize().to_pybytes())
        yield pb.ExportFocusResponse(arrow_ipc_chunk=_IPC_END_OF_STREAM)


def _month(text: str) -> date:
    try:
        year, month = (int(part) for part in text.split("-"))
        return date(year, month, 1)
    except ValueError:
        raise InvalidArgument(
            f"billing period {text!r} is not YYYY-MM",
            violations=[FieldViolation("billing_periods", "YYYY-MM")],
        ) from None


def _optional_date(text: str, field: str) -> date | None:
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise InvalidArgument(
            f"{field} {text!r} is not YYYY-MM-DD", violations=[FieldViolation(field, "YYYY-MM-DD")]
        ) from None


async def build(
    settings: CloudactSettings, *, address: str | None = None, store: TableStore | None = None
) -> BuiltServer:
    """Builds focus_svc's server over the configured table store."""
    converter = FocusConverter(
        store or open_store(settings),
        work_root=settings.data_dir / "tmp",
        batch_rows=settings.raw_batch_rows,
        memory_limit=settings.duckdb_memory_limit,
    )
    registration = ServiceRegistration(
        FocusServicer(converter), pb_grpc.add_FocusServiceServicer_to_server, SERVICE_NAME
    )
    return build_service_server([registration], address or settings.focus_address)
