"""The dashboard's only way to data: gRPC calls to the services, each with the session's bearer token.

The dashboard never opens a table; every number it shows is an answer of query_svc (QueryCosts),
ingest_svc (ListRuns, GetRun) or credential_svc (ListCredentials), so a token sees exactly what
the services let it see.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

import grpc

from cloudact_shared.clients import open_channel
from cloudact_shared.errors import CloudactError, from_rpc_error
from cloudact_shared.gen.cloudact.credential.v1 import credential_service_pb2 as cred_pb
from cloudact_shared.gen.cloudact.credential.v1.credential_service_pb2_grpc import CredentialServiceStub
from cloudact_shared.gen.cloudact.pipeline.v1 import pipeline_service_pb2 as pipe_pb
from cloudact_shared.gen.cloudact.pipeline.v1.pipeline_service_pb2_grpc import PipelineServiceStub
from cloudact_shared.gen.cloudact.query.v1 import query_service_pb2 as query_pb
from cloudact_shared.gen.cloudact.query.v1.query_service_pb2_grpc import QueryServiceStub
from cloudact_shared.settings import CloudactSettings

_TIMEOUT = 30.0
# Bounds query_svc accepts (2000..2100): the widest range, to find which months hold data.
EARLIEST = date(2000, 1, 1)
LATEST = date(2100, 12, 31)
BILLED = "BilledCost"
EFFECTIVE = "EffectiveCost"
_METRICS = [query_pb.COST_METRIC_BILLED_COST, query_pb.COST_METRIC_EFFECTIVE_COST]
_MAX_PAGES = 50


@dataclass(frozen=True)
class CostRow:
    """One row of a QueryCosts answer with its amounts as exact decimals."""

    period_start: str
    dimensions: dict[str, str]
    amounts: dict[str, Decimal]


@dataclass(frozen=True)
class CostQuery:
    """What the dashboard asks query_svc: a date range, filters (dimension -> values), grouping."""

    start: date
    end: date
    group_by: Sequence[str] = ()
    grain: query_pb.TimeGrain.ValueType = query_pb.TIME_GRAIN_TOTAL
    filters: dict[str, tuple[str, ...]] = field(default_factory=dict)


class Backend:
    """Calls the services as the holder of ``token`` (never logged, never part of a repr)."""

    def __init__(self, settings: CloudactSettings, token: str, org_slug: str) -> None:
        self._settings = settings
        self.__token = token
        self.org_slug = org_slug

    def __repr__(self) -> str:
        return f"Backend(org_slug={self.org_slug!r})"

    def _channel(self, address: str) -> grpc.aio.Channel:
        return open_channel(self._settings, address, token=self.__token)

    async def query_costs(self, query: CostQuery) -> list[CostRow]:
        """QueryCosts over ``query``; an org without a FOCUS table yet has no rows.

        Raises:
            CloudactError: the service's error (code and reason kept).
        """
        request = query_pb.QueryCostsRequest(
            org_slug=self.org_slug,
            start_date=query.start.isoformat(),
            end_date=query.end.isoformat(),
            metrics=_METRICS,
            group_by=list(query.group_by),
            grain=query.grain,
            filters=[query_pb.DimensionFilter(dimension=k, values=list(v)) for k, v in sorted(query.filters.items())],
        )
        try:
            async with self._channel(self._settings.query_address) as channel:
                response = await QueryServiceStub(channel).QueryCosts(request, timeout=_TIMEOUT)
        except grpc.aio.AioRpcError as err:
            error = from_rpc_error(err)
            if error.reason == "FOCUS_TABLE_NOT_FOUND":
                return []
            raise error from None
        return [
            CostRow(row.period_start, dict(row.dimensions), {k: Decimal(v) for k, v in row.amounts.items()})
            for row in response.rows
        ]

    async def list_credentials(self) -> list[cred_pb.Credential]:
        """Every credential of the org (all pages)."""
        credentials: list[cred_pb.Credential] = []
        token = ""
        async with self._channel(self._settings.credential_address) as channel:
            stub = CredentialServiceStub(channel)
            for _ in range(_MAX_PAGES):
                request = cred_pb.ListCredentialsRequest(org_slug=self.org_slug, page_size=200, page_token=token)
                response = await _call(stub.ListCredentials, request)
                credentials.extend(response.credentials)
                token = response.next_page_token
                if not token:
                    break
        return credentials

    async def last_run(self, credential_id: str) -> pipe_pb.Run | None:
        """The credential's newest run, if it has one."""
        async with self._channel(self._settings.ingest_address) as channel:
            request = pipe_pb.ListRunsRequest(org_slug=self.org_slug, credential_id=credential_id, page_size=1)
            response = await _call(PipelineServiceStub(channel).ListRuns, request)
        return response.runs[0] if response.runs else None

    async def get_run(self, run_id: str) -> pipe_pb.Run:
        """One run of the org (NotFound for another org's run)."""
        async with self._channel(self._settings.ingest_address) as channel:
            request = pipe_pb.GetRunRequest(org_slug=self.org_slug, run_id=run_id)
            response: pipe_pb.GetRunResponse = await _call(PipelineServiceStub(channel).GetRun, request)
        return response.run


async def _call(method: Any, request: Any) -> Any:
    try:
        return await method(request, timeout=_TIMEOUT)
    except grpc.aio.AioRpcError as err:
        raise from_rpc_error(err) from None


__all__ = ["BILLED", "EFFECTIVE", "Backend", "CloudactError", "CostQuery", "CostRow"]
