"""Client of focus_svc: asks it to convert a run's raw slice to FOCUS 1.3."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

import grpc

from cloudact_shared.errors import from_rpc_error
from cloudact_shared.gen.cloudact.focus.v1 import focus_service_pb2 as pb
from cloudact_shared.gen.cloudact.focus.v1.focus_service_pb2_grpc import FocusServiceStub
from cloudact_shared.lineage import Lineage


@dataclass(frozen=True)
class ConversionResult:
    """What focus_svc's conversion of a run's raw slice did (ConvertToFocus's response)."""

    raw_rows_read: int
    focus_rows_written: int
    focus_table_version: int


class FocusClient:
    """Calls FocusService.ConvertToFocus with the run's lineage and periods."""

    def __init__(self, channel: grpc.aio.Channel) -> None:
        self._stub = FocusServiceStub(channel)

    async def convert(
        self, org_slug: str, provider: str, lineage: Lineage, periods: Sequence[date], *, timeout: float
    ) -> ConversionResult:
        """Converts the raw slice of ``lineage``'s run; errors keep focus_svc's code and reason."""
        request = pb.ConvertToFocusRequest(
            org_slug=org_slug,
            provider=provider,
            lineage=lineage.to_proto(),
            billing_periods=[f"{p:%Y-%m}" for p in periods],
        )
        try:
            response = await self._stub.ConvertToFocus(request, timeout=timeout)
        except grpc.aio.AioRpcError as err:
            raise from_rpc_error(err) from None
        return ConversionResult(response.raw_rows_read, response.focus_rows_written, response.focus_table_version)
