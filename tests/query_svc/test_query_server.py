"""QueryCosts end to end: a real server on loopback over a hand-made FOCUS table."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from cloudact_shared.gen.cloudact.query.v1 import query_service_pb2 as pb
from cloudact_shared.gen.cloudact.query.v1 import query_service_pb2_grpc as pb_grpc
from cloudact_shared.storage.embedded import EmbeddedTableStore
from query_svc.server import build
from tests.channels import org_channel
from tests.query_svc.conftest import tls_settings
from tests.query_svc.focus_data import BIG, ORG, focus_row, write_focus
from tests.query_svc.test_query_service import SlowStore

JAN_FEB: dict[str, Any] = {"org_slug": ORG, "start_date": "2025-01-01", "end_date": "2025-02-28"}


def _table(response: pb.QueryCostsResponse) -> list[tuple[str, dict[str, str], dict[str, str]]]:
    return [(r.period_start, dict(r.dimensions), dict(r.amounts)) for r in response.rows]


async def test_daily_sums_are_exact_and_split_by_currency(stub: pb_grpc.QueryServiceStub) -> None:
    response = await stub.QueryCosts(pb.QueryCostsRequest(**JAN_FEB, grain=pb.TIME_GRAIN_DAY))

    assert _table(response) == [
        ("2025-01-05", {"BillingCurrency": "USD"},
         {"BilledCost": "12345678901234567890.423456789012", "EffectiveCost": "1.27"}),
        ("2025-01-20", {"BillingCurrency": "EUR"}, {"BilledCost": "5.5", "EffectiveCost": "5"}),
        ("2025-02-01", {"BillingCurrency": "USD"}, {"BilledCost": "20", "EffectiveCost": "18"}),
        ("2025-02-28", {"BillingCurrency": "USD"}, {"BilledCost": "1.25", "EffectiveCost": "1.25"}),
    ]  # fmt: skip
    assert response.rows_scanned == 6
    assert response.table_version == 1
    assert not response.cache_hit


async def test_monthly_and_total_buckets(stub: pb_grpc.QueryServiceStub) -> None:
    monthly = await stub.QueryCosts(
        pb.QueryCostsRequest(**JAN_FEB, grain=pb.TIME_GRAIN_MONTH, metrics=[pb.COST_METRIC_BILLED_COST])
    )
    total = await stub.QueryCosts(
        pb.QueryCostsRequest(**JAN_FEB, grain=pb.TIME_GRAIN_TOTAL, metrics=[pb.COST_METRIC_BILLED_COST])
    )

    assert _table(monthly) == [
        ("2025-01-01", {"BillingCurrency": "EUR"}, {"BilledCost": "5.5"}),
        ("2025-01-01", {"BillingCurrency": "USD"}, {"BilledCost": "12345678901234567890.423456789012"}),
        ("2025-02-01", {"BillingCurrency": "USD"}, {"BilledCost": "21.25"}),
    ]
    assert _table(total) == [
        ("", {"BillingCurrency": "EUR"}, {"BilledCost": "5.5"}),
        ("", {"BillingCurrency": "USD"}, {"BilledCost": "12345678901234567911.673456789012"}),
    ]


async def test_group_by_service_with_all_metrics(stub: pb_grpc.QueryServiceStub) -> None:
    response = await stub.QueryCosts(
        pb.QueryCostsRequest(
            **JAN_FEB,
            grain=pb.TIME_GRAIN_MONTH,
            group_by=["ServiceName"],
            metrics=[pb.COST_METRIC_CONTRACTED_COST, pb.COST_METRIC_LIST_COST, pb.COST_METRIC_BILLED_COST],
        )
    )

    rows = [
        (period, d["ServiceName"], d["BillingCurrency"], a["BilledCost"], a["ListCost"])
        for period, d, a in _table(response)
    ]
    assert rows == [
        ("2025-01-01", "EC2", "EUR", "5.5", "11"),
        ("2025-01-01", "EC2", "USD", "0.3", "0.6"),
        ("2025-01-01", "S3", "USD", BIG, "24691357802469135780.246913578024"),
        ("2025-02-01", "EC2", "USD", "20", "40"),
        ("2025-02-01", "S3", "USD", "1.25", "2.5"),
    ]
    assert set(response.rows[0].amounts) == {"BilledCost", "ListCost", "ContractedCost"}


async def test_group_by_tag_and_timestamp_dimension(stub: pb_grpc.QueryServiceStub) -> None:
    by_team = await stub.QueryCosts(
        pb.QueryCostsRequest(
            **JAN_FEB, grain=pb.TIME_GRAIN_TOTAL, group_by=["tag:team"], metrics=[pb.COST_METRIC_BILLED_COST]
        )
    )
    by_creator = await stub.QueryCosts(
        pb.QueryCostsRequest(**JAN_FEB, grain=pb.TIME_GRAIN_TOTAL, group_by=["tag:aws:createdBy"])
    )
    by_billing_period = await stub.QueryCosts(
        pb.QueryCostsRequest(**JAN_FEB, grain=pb.TIME_GRAIN_TOTAL, group_by=["BillingPeriodStart"])
    )

    assert [(d["tag:team"], d["BillingCurrency"], a["BilledCost"]) for _, d, a in _table(by_team)] == [
        ("", "EUR", "5.5"),  # untagged rows and rows without the key group under ""
        ("", "USD", "1.25"),
        ("core", "USD", "20.3"),
        ("data", "USD", BIG),
    ]
    assert {r.dimensions["tag:aws:createdBy"] for r in by_creator.rows} == {"", "alice"}
    assert [r.dimensions["BillingPeriodStart"] for r in by_billing_period.rows] == [
        "2025-01-01T00:00:00Z",
        "2025-01-01T00:00:00Z",
        "2025-02-01T00:00:00Z",
    ]


async def test_filters_on_columns_tags_and_nulls(stub: pb_grpc.QueryServiceStub) -> None:
    def request(*filters: pb.DimensionFilter, group_by: tuple[str, ...] = ()) -> pb.QueryCostsRequest:
        return pb.QueryCostsRequest(
            **JAN_FEB, grain=pb.TIME_GRAIN_TOTAL, filters=filters, group_by=group_by,
            metrics=[pb.COST_METRIC_BILLED_COST],
        )  # fmt: skip

    ec2 = await stub.QueryCosts(request(pb.DimensionFilter(dimension="ServiceName", values=["EC2"])))
    core = await stub.QueryCosts(
        request(pb.DimensionFilter(dimension="tag:team", values=["core"]), group_by=("ServiceName",))
    )
    untagged = await stub.QueryCosts(request(pb.DimensionFilter(dimension="tag:team", values=[""])))
    no_region = await stub.QueryCosts(
        request(
            pb.DimensionFilter(dimension="RegionId", values=[""]),
            pb.DimensionFilter(dimension="BillingCurrency", values=["USD"]),
        )
    )

    assert [(d["BillingCurrency"], a["BilledCost"]) for _, d, a in _table(ec2)] == [
        ("EUR", "5.5"),
        ("USD", "20.3"),
    ]
    assert ec2.rows_scanned == 4
    assert _table(core) == [("", {"ServiceName": "EC2", "BillingCurrency": "USD"}, {"BilledCost": "20.3"})]
    assert core.rows_scanned == 3
    assert [(d["BillingCurrency"], a["BilledCost"]) for _, d, a in _table(untagged)] == [
        ("EUR", "5.5"),
        ("USD", "1.25"),
    ]
    assert no_region.rows_scanned == 4
    assert no_region.rows[0].amounts["BilledCost"] == "12345678901234567911.573456789012"


async def test_empty_range_returns_no_rows(stub: pb_grpc.QueryServiceStub) -> None:
    response = await stub.QueryCosts(pb.QueryCostsRequest(org_slug=ORG, start_date="2023-01-01", end_date="2023-12-31"))

    assert list(response.rows) == []
    assert response.rows_scanned == 0


async def test_second_call_is_a_cache_hit_even_when_written_differently(
    stub: pb_grpc.QueryServiceStub,
) -> None:
    first = await stub.QueryCosts(
        pb.QueryCostsRequest(
            **JAN_FEB, group_by=["ServiceName", "ServiceName"],
            metrics=[pb.COST_METRIC_EFFECTIVE_COST, pb.COST_METRIC_BILLED_COST],
        )
    )  # fmt: skip
    second = await stub.QueryCosts(pb.QueryCostsRequest(**JAN_FEB, group_by=["ServiceName"]))

    assert not first.cache_hit
    assert second.cache_hit
    assert _table(second) == _table(first)
    assert (second.table_version, second.rows_scanned) == (first.table_version, first.rows_scanned)


async def test_a_new_write_is_never_answered_from_the_cache(
    own_stub: pb_grpc.QueryServiceStub, own_store: EmbeddedTableStore
) -> None:
    request = pb.QueryCostsRequest(**JAN_FEB, grain=pb.TIME_GRAIN_TOTAL, metrics=[pb.COST_METRIC_BILLED_COST])
    before = await own_stub.QueryCosts(request)
    late_row = focus_row("2025-01-07T00:00:00", "EC2", "EUR", "0.5", provider="gcp")
    version = write_focus(own_store, [late_row], "gcp")
    after = await own_stub.QueryCosts(request)
    again = await own_stub.QueryCosts(request)

    assert after.table_version == version > before.table_version
    assert not after.cache_hit
    assert after.rows[0].amounts["BilledCost"] == "6"  # EUR 5.5 + the new 0.5
    assert after.rows_scanned == before.rows_scanned + 1
    assert again.cache_hit and _table(again) == _table(after)


async def _rich_error(call: object) -> tuple[grpc.aio.AioRpcError, list[tuple[str, str]], str]:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call  # type: ignore[misc]
    status = rpc_status.from_call(caught.value)
    assert status is not None
    violations: list[tuple[str, str]] = []
    reason = ""
    for detail in status.details:
        bad, info = error_details_pb2.BadRequest(), error_details_pb2.ErrorInfo()
        if detail.Is(bad.DESCRIPTOR) and detail.Unpack(bad):
            violations += [(v.field, v.description) for v in bad.field_violations]
        if detail.Is(info.DESCRIPTOR) and detail.Unpack(info):
            reason = info.reason
    return caught.value, violations, reason


@pytest.mark.parametrize(
    ("request_fields", "field", "mentions"),
    [
        ({"org_slug": "Acme!"}, "org_slug", "^[a-z]"),
        ({"org_slug": "../etc"}, "org_slug", "^[a-z]"),
        ({"start_date": ""}, "start_date", "required"),
        ({"start_date": "2025-13-01"}, "start_date", "not a valid date"),
        ({"end_date": "2025/02/28"}, "end_date", "not a valid date"),
        ({"start_date": "2025-03-01"}, "end_date", "before start_date"),
        ({"group_by": ["Servicename"]}, "group_by[0]", "'Servicename'"),
        ({"group_by": ["ServiceName", "BilledCost"]}, "group_by[1]", "metric"),
        ({"group_by": ["Tags"]}, "group_by[0]", "tag:KEY"),
        ({"group_by": ["tag:"]}, "group_by[0]", "tag key"),
        ({"group_by": ["tag:it's"]}, "group_by[0]", "quotes"),
        ({"filters": [pb.DimensionFilter(dimension="Nope", values=["x"])]}, "filters[0].dimension", "'Nope'"),
        ({"filters": [pb.DimensionFilter(dimension="ServiceName")]}, "filters[0].values", "at least one"),
        ({"filters": [pb.DimensionFilter(dimension="ChargePeriodEnd", values=["soon"])]}, "filters[0].values",
         "TIMESTAMP"),
        ({"metrics": [pb.COST_METRIC_UNSPECIFIED]}, "metrics[0]", "not a cost metric"),
    ],
)  # fmt: skip
async def test_invalid_requests_are_rejected_with_bad_request(
    stub: pb_grpc.QueryServiceStub, request_fields: dict[str, object], field: str, mentions: str
) -> None:
    request = pb.QueryCostsRequest(**{**JAN_FEB, **request_fields})

    error, violations, _ = await _rich_error(stub.QueryCosts(request))

    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert [f for f, _ in violations] == [field]
    assert mentions in violations[0][1]
    assert mentions in (error.details() or "")


async def test_several_problems_are_reported_together(stub: pb_grpc.QueryServiceStub) -> None:
    request = pb.QueryCostsRequest(org_slug=ORG, start_date="2025-01-01", end_date="x", group_by=["Foo"])

    _, violations, reason = await _rich_error(stub.QueryCosts(request))

    assert [f for f, _ in violations] == ["end_date", "group_by[0]"]
    assert reason == "INVALID_QUERY"


async def test_unknown_org_is_not_found(globex_stub: pb_grpc.QueryServiceStub) -> None:
    request = pb.QueryCostsRequest(**{**JAN_FEB, "org_slug": "globex"})

    error, _, reason = await _rich_error(globex_stub.QueryCosts(request))

    assert error.code() == grpc.StatusCode.NOT_FOUND
    assert reason == "FOCUS_TABLE_NOT_FOUND"
    assert "globex" in (error.details() or "") and "no FOCUS table" in (error.details() or "")


async def test_the_callers_deadline_is_honoured(tmp_path: Path) -> None:
    store = SlowStore(tmp_path)
    write_focus(store, [focus_row("2025-01-05T00:00:00", "EC2", "USD", "1")])
    store.delay = 1.0
    settings = tls_settings(tmp_path)
    built = await build(settings, address="127.0.0.1:0", store=store)
    await built.start()
    try:
        async with org_channel(settings, f"127.0.0.1:{built.port}", ORG, "viewer") as channel:
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await pb_grpc.QueryServiceStub(channel).QueryCosts(pb.QueryCostsRequest(**JAN_FEB), timeout=0.2)
    finally:
        await built.stop()

    assert caught.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED


async def test_the_response_says_which_source_answered(stub: pb_grpc.QueryServiceStub) -> None:
    by_service = await stub.QueryCosts(pb.QueryCostsRequest(**JAN_FEB, group_by=["ServiceName", "tag:team"]))
    by_resource = await stub.QueryCosts(pb.QueryCostsRequest(**JAN_FEB, group_by=["ResourceId"]))

    assert (by_service.source, by_service.fallback_reason) == (pb.ANSWER_SOURCE_DAILY_ROLLUP, "")
    assert by_resource.source == pb.ANSWER_SOURCE_FOCUS_TABLE
    assert by_resource.fallback_reason == "ResourceId not in the daily rollup"
    assert by_service.rows_scanned == by_resource.rows_scanned == 6
