"""FocusService servicer: ConvertToFocus and ExportFocus over FocusConverter."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from datetime import date
from typing import Any

import grpc
import pyarrow as pa

from cloudact_shared.errors import DeadlineExceeded, FieldViolation, InvalidArgument
from cloudact_shared.gen.cloudact.focus.v1 import focus_service_pb2 as pb
from cloudact_shared.gen.cloudact.focus.v1 import focus_service_pb2_grpc as pb_grpc
from cloudact_shared.lineage import Lineage
from cloudact_shared.metrics import record_table_version
from cloudact_shared.naming import FOCUS_TABLE, dataset_name, echo, parse_date, validate_org_slug
from cloudact_shared.server import BuiltServer, ServiceRegistration, build_service_server
from cloudact_shared.settings import CloudactSettings
from cloudact_shared.storage import TableStore, open_store, start_housekeeping
from cloudact_shared.telemetry import set_run_attributes
from cloudact_shared.workspace import WorkDirs
from focus_svc.service import FocusConverter

SERVICE_NAME = pb.DESCRIPTOR.services_by_name["FocusService"].full_name
_IPC_END_OF_STREAM = b"\xff\xff\xff\xff\x00\x00\x00\x00"
# Batches are cut by size, not by row count alone: a batch of wide FOCUS rows (tags, SKU details)
# reached 70 MB, over our own clients' 64 MiB receive limit. 3 MiB keeps every message under
# gRPC's default 4 MiB, so any client (grpcurl) can read the stream.
IPC_CHUNK_BYTES = 3 * 1024 * 1024


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
        set_run_attributes(org_slug=request.org_slug, run_id=lineage.run_id, pipeline_id=lineage.pipeline_id)
        periods = [_month(p) for p in request.billing_periods]
        work = asyncio.to_thread(self._converter.convert, request.org_slug, request.provider, lineage, periods)
        remaining = context.time_remaining()
        try:
            converted = await asyncio.wait_for(work, timeout=remaining) if remaining is not None else await work
        except TimeoutError:
            # The worker thread finishes its (atomic) commit or fails; the caller is told now.
            raise DeadlineExceeded("deadline exceeded while converting to FOCUS") from None
        record_table_version(dataset_name(request.org_slug), FOCUS_TABLE, converted.focus_table_version)
        return pb.ConvertToFocusResponse(
            raw_rows_read=converted.raw_rows_read,
            focus_rows_written=converted.focus_rows_written,
            focus_table_version=converted.focus_table_version,
        )

    async def ExportFocus(
        self, request: pb.ExportFocusRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> AsyncIterator[pb.ExportFocusResponse]:
        validate_org_slug(request.org_slug)
        set_run_attributes(org_slug=request.org_slug)
        start = _optional_date(request.start_date, "start_date")
        end = _optional_date(request.end_date, "end_date")
        schema, batch_iter = self._converter.export(request.org_slug, start, end)
        # Concatenated, the chunks form one Arrow IPC stream: schema, record batches, end marker.
        yield pb.ExportFocusResponse(arrow_ipc_chunk=schema.serialize().to_pybytes())
        batches = iter(batch_iter)
        while (batch := await asyncio.to_thread(next, batches, None)) is not None:
            for chunk in ipc_chunks(batch, IPC_CHUNK_BYTES):
                yield pb.ExportFocusResponse(arrow_ipc_chunk=chunk)
        yield pb.ExportFocusResponse(arrow_ipc_chunk=_IPC_END_OF_STREAM)


def _month(text: str) -> date:
    """A billing month ``YYYY-MM`` within the dates requests may name (2000..2100)."""
    year, dash, month = text.partition("-")
    if not (dash and len(year) == 4 and year.isdigit() and len(month) == 2 and month.isdigit()):
        raise InvalidArgument(
            f"billing period {echo(text)} is not YYYY-MM",
            violations=[FieldViolation("billing_periods", "YYYY-MM")],
        )
    return parse_date(f"{text}-01", "billing_periods")


def _optional_date(text: str, field: str) -> date | None:
    return parse_date(text, field) if text else None


async def build(
    settings: CloudactSettings,
    *,
    address: str | None = None,
    internal_address: str | None = None,
    store: TableStore | None = None,
) -> BuiltServer:
    """Builds focus_svc's server over the configured table store (ConvertToFocus on the mutual-TLS
    ``focus_internal_address``, ExportFocus on ``focus_address``)."""
    table_store = store or open_store(settings)
    work_dirs = WorkDirs(settings.data_dir / "tmp")
    # focus_svc writes the FOCUS table: it cleans what a killed conversion left and vacuums that table.
    stop_housekeeping = await start_housekeeping(
        table_store,
        work_dirs,
        interval_hours=settings.vacuum_interval_hours,
        retention_hours=settings.vacuum_retention_hours,
        select=lambda _dataset, table: table == FOCUS_TABLE,
    )
    converter = FocusConverter(
        table_store,
        work_dirs=work_dirs,
        batch_rows=settings.memory_plan.batch_rows,
        memory_limit=settings.memory_plan.duckdb_memory_limit,
    )
    registration = ServiceRegistration(
        FocusServicer(converter),
        pb_grpc.add_FocusServiceServicer_to_server,
        pb.DESCRIPTOR.services_by_name["FocusService"],
    )
    return build_service_server(
        [registration],
        settings,
        "focus_svc",
        address=address,
        internal_address=internal_address,
        on_stop=[stop_housekeeping],
    )


def ipc_chunks(batch: pa.RecordBatch, max_bytes: int) -> Iterator[bytes]:
    """``batch`` as serialized IPC record batches of at most ~``max_bytes`` each (one row at the least)."""
    rows = len(batch)
    per_chunk = max(1, rows * max_bytes // max(batch.nbytes, 1))
    for offset in range(0, rows, per_chunk):
        yield batch.slice(offset, per_chunk).serialize().to_pybytes()
