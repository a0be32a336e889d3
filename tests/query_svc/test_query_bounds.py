"""Dates a QueryCosts request may name are bounded (2000..2100): year 9999 is a bad request, not INTERNAL."""

from __future__ import annotations

import grpc
import pytest

from cloudact_shared.gen.cloudact.query.v1 import query_service_pb2 as pb
from cloudact_shared.gen.cloudact.query.v1 import query_service_pb2_grpc as pb_grpc
from tests.query_svc.focus_data import ORG
from tests.query_svc.test_query_server import _rich_error


@pytest.mark.parametrize(
    ("start", "end", "field"),
    [
        ("2025-01-01", "9999-12-31", "end_date"),
        ("9999-12-31", "9999-12-31", "start_date"),
        ("0001-01-01", "2025-01-31", "start_date"),
        ("2025-01-01", "2101-01-01", "end_date"),
    ],
)
async def test_dates_outside_2000_2100_are_invalid_argument(
    stub: pb_grpc.QueryServiceStub, start: str, end: str, field: str
) -> None:
    request = pb.QueryCostsRequest(org_slug=ORG, start_date=start, end_date=end, grain=pb.TIME_GRAIN_MONTH)

    error, violations, reason = await _rich_error(stub.QueryCosts(request))

    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field in [f for f, _ in violations] and reason == "INVALID_QUERY"


@pytest.mark.parametrize("value", ["9999-12-31T23:00:00-05:00", "0001-01-01T00:00:00+01:00"])
async def test_a_timestamp_filter_that_overflows_utc_is_invalid_argument(
    stub: pb_grpc.QueryServiceStub, value: str
) -> None:
    request = pb.QueryCostsRequest(
        org_slug=ORG,
        start_date="2025-01-01",
        end_date="2025-02-28",
        filters=[pb.DimensionFilter(dimension="ChargePeriodStart", values=[value])],
    )

    error, violations, _ = await _rich_error(stub.QueryCosts(request))

    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert [f for f, _ in violations] == ["filters[0].values"]
