"""The Datadog cost connector: the real datadog-api-client against Datadog's cost endpoints on loopback."""

from __future__ import annotations

import time
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from cloudact_providers.connector import ResolvedCredential, SourceObject
from cloudact_providers.datadog.connector import DatadogCostConnector
from cloudact_providers.datadog.synthetic import month_elements
from cloudact_shared.errors import CloudactError, PermissionDenied, Unauthenticated, Unavailable
from tests.datadog.conftest import API_KEY, APPLICATION_KEY, Datadog, months_back, raw_rows, this_month
from tests.providers.loopback import answering, http_error

COST = r"/api/v2/usage/(historical|estimated)_cost"


async def _read(credential: ResolvedCredential, periods: list[date], work: Path) -> dict[date, list[dict[str, Any]]]:
    """One run of the connector: list, download each month, parse it as the pipeline does."""
    rows: dict[date, list[dict[str, Any]]] = {}
    async with DatadogCostConnector(credential) as source:
        for index, obj in enumerate(await source.list_objects(periods)):
            dest = work / f"{index:05d}-{obj.key}"
            await source.download(obj, dest)
            rows[obj.billing_period] = raw_rows(dest, obj.uri)
    return rows


def _charges(elements: list[dict[str, Any]]) -> list[tuple[str, str, str, Decimal]]:
    """(organization, product, charge type, cost) of every charge of a cost answer, sorted."""
    return sorted(
        (e["attributes"]["public_id"], c["product_name"], c["charge_type"], Decimal(str(c["cost"])))
        for e in elements
        for c in e["attributes"]["charges"]
    )


def _row_charges(rows: list[dict[str, Any]]) -> list[tuple[str, str, str, Decimal]]:
    return sorted((r["public_id"], r["product_name"], r["charge_type"], r["cost"]) for r in rows)


async def _refused(credential: ResolvedCredential, periods: list[date]) -> CloudactError:
    with pytest.raises(CloudactError) as caught:
        async with DatadogCostConnector(credential) as source:
            await source.list_objects(periods)
    assert API_KEY not in str(caught.value) and APPLICATION_KEY not in str(caught.value)
    return caught.value


async def test_final_months_come_from_historical_cost_and_open_months_from_the_estimate(
    datadog: Datadog, tmp_path: Path
) -> None:
    old, previous, current = months_back(3), months_back(1), this_month()
    datadog.server.hold(old, month_elements(old, orgs=2), final=True)
    datadog.server.hold(previous, month_elements(previous, orgs=2, estimate=True), final=False)
    datadog.server.hold(current, month_elements(current, orgs=2, estimate=True), final=False)

    async with DatadogCostConnector(datadog.credential()) as source:
        objects = await source.list_objects([current, old, previous, months_back(2)])

    # Two months back has no cost at all: nothing to read. Final first, estimates where there is no final.
    assert [(o.billing_period, o.uri.split("?")[0].rsplit("/", 1)[1]) for o in objects] == [
        (old, "historical_cost"),
        (previous, "estimated_cost"),
        (current, "estimated_cost"),
    ]
    assert objects[0].uri == (
        f"{datadog.running.url}/api/v2/usage/historical_cost?view=sub-org&start_month={old:%Y-%m}&end_month={old:%Y-%m}"
    )
    # One call per endpoint for the whole run: the months before this one, then the open ones.
    calls = [(s.path, s.query["start_month"][:7], s.query["end_month"][:7]) for s in datadog.server.api.seen]
    assert calls == [
        ("/api/v2/usage/historical_cost", f"{old:%Y-%m}", f"{previous:%Y-%m}"),
        ("/api/v2/usage/estimated_cost", f"{previous:%Y-%m}", f"{current:%Y-%m}"),
    ]
    assert all(s.query["view"] == "sub-org" for s in datadog.server.api.seen)


async def test_each_month_downloads_one_record_per_charge_with_exact_decimals(datadog: Datadog, tmp_path: Path) -> None:
    old, current = months_back(4), this_month()
    final, estimate = month_elements(old, orgs=3, products=9), month_elements(current, orgs=2, estimate=True)
    datadog.server.hold(old, final, final=True)
    datadog.server.hold(current, estimate, final=False)

    rows = await _read(datadog.credential(), [old, current], tmp_path)

    assert _row_charges(rows[old]) == _charges(final) and _row_charges(rows[current]) == _charges(estimate)
    assert {r["cost_source"] for r in rows[old]} == {"historical_cost"}
    assert {r["cost_source"] for r in rows[current]} == {"estimated_cost"}
    assert all(r["_quarantine_reason"] is None and r["billing_period"] == old for r in rows[old])
    # Datadog's floats arrive as the decimals it wrote: the month sums to the cent, with no float residue.
    kept = [r["cost"] for r in rows[old] if r["charge_type"] != "total"]
    stated = sum(Decimal(str(e["attributes"]["total_cost"])) for e in final)
    assert sum(kept, Decimal(0)) == stated and all(c == c.quantize(Decimal("0.01")) for c in kept)
    assert {r["account_public_id"] for r in rows[old]} == {"f6a1c2d3e4b5a697"}
    assert {r["region"] for r in rows[old]} == {"us", "eu"}


async def test_the_summary_view_reads_the_parents_total(datadog: Datadog, tmp_path: Path) -> None:
    month = months_back(5)
    elements = month_elements(month, orgs=3, products=2)
    datadog.server.hold(month, elements, final=True)

    rows = (await _read(datadog.credential(view="summary"), [month], tmp_path))[month]

    assert {r["public_id"] for r in rows} == {"f6a1c2d3e4b5a697"}  # one element: the parent's
    assert sum(r["cost"] for r in rows) == sum(c[3] for c in _charges(elements))
    assert datadog.server.api.seen[0].query["view"] == "summary"


async def test_a_throttled_request_waits_for_the_rate_limit_reset_datadog_sends(
    datadog: Datadog, tmp_path: Path
) -> None:
    month = months_back(2)
    datadog.server.hold(month, month_elements(month), final=True)
    datadog.server.throttle(times=2, reset_seconds=1)  # X-RateLimit-Reset: 1, twice

    started = time.monotonic()
    rows = await _read(datadog.credential(), [month], tmp_path)

    assert time.monotonic() - started >= 2.0, "each 429 is retried only after its window resets"
    assert len(datadog.server.api.requests_to(COST)) == 3 and len(rows[month]) == 24


async def test_a_retry_after_from_a_proxy_and_a_5xx_are_retried_too(datadog: Datadog, tmp_path: Path) -> None:
    month = months_back(2)
    datadog.server.hold(month, month_elements(month), final=True)
    datadog.server.api.fail("GET", COST, 429, retry_after=1)
    datadog.server.api.fail("GET", COST, 503, retry_after=None)

    started = time.monotonic()
    rows = await _read(datadog.credential(), [month], tmp_path)

    assert time.monotonic() - started >= 1.0
    assert len(datadog.server.api.requests_to(COST)) == 3 and len(rows[month]) == 24


async def test_retries_exhausted_are_unavailable(datadog: Datadog) -> None:
    datadog.server.throttle(times=5, reset_seconds=0)

    error = await _refused(datadog.credential(max_retries="1"), [months_back(2)])

    assert isinstance(error, Unavailable) and error.reason == "SOURCE_UNAVAILABLE"
    assert "/api/v2/usage/historical_cost" in error.message
    assert len(datadog.server.api.requests_to(COST)) == 2  # the request and its one retry


async def test_rejected_keys_are_unauthenticated_and_never_shown(datadog: Datadog) -> None:
    wrong = ResolvedCredential(
        "cred-datadog",
        "datadog",
        {"api_url": datadog.running.url},
        {"api_key": "S3cr3t-CANARY-wrong-key-11", "application_key": APPLICATION_KEY},
    )

    error = await _refused(wrong, [months_back(2)])

    assert isinstance(error, Unauthenticated) and "HTTP 401" in error.message
    assert "S3cr3t-CANARY-wrong-key-11" not in error.message and "invalid or missing" not in error.message
    assert API_KEY not in repr(DatadogCostConnector(datadog.credential()))


async def test_keys_without_billing_permission_are_permission_denied(datadog: Datadog) -> None:
    datadog.server.api.fail("GET", COST, 403, retry_after=None)

    error = await _refused(datadog.credential(), [months_back(2)])

    assert isinstance(error, PermissionDenied) and "usage_read and billing_read" in error.message


async def test_an_endpoint_that_is_not_datadog_is_unavailable_without_its_body() -> None:
    body = http_error(502, "upstream says S3cr3t-CANARY-body-marker")
    with answering(body) as url:
        credential = ResolvedCredential(
            "c",
            "datadog",
            {"api_url": url, "max_retries": "0"},
            {"api_key": API_KEY, "application_key": APPLICATION_KEY},
        )
        error = await _refused(credential, [months_back(2)])
    assert isinstance(error, Unavailable) and "S3cr3t-CANARY-body-marker" not in error.message


async def test_a_charge_without_a_cost_is_quarantined_and_the_rest_loads(datadog: Datadog, tmp_path: Path) -> None:
    month = months_back(3)
    elements = month_elements(month, orgs=1, products=2)
    del elements[0]["attributes"]["charges"][1]["cost"]
    datadog.server.hold(month, elements, final=True)

    rows = (await _read(datadog.credential(), [month], tmp_path))[month]

    reasons = [r["_quarantine_reason"] for r in rows]
    assert reasons.count("missing cost (cost)") == 1 and reasons.count(None) == len(rows) - 1
    bad = next(r for r in rows if r["_quarantine_reason"])
    assert bad["product_name"] == "infra_host" and bad["charge_type"] == "on_demand" and bad["_source_row_number"] == 2


async def test_an_object_listed_by_another_run_is_read_again(datadog: Datadog, tmp_path: Path) -> None:
    month = months_back(6)
    datadog.server.hold(month, month_elements(month), final=True)
    async with DatadogCostConnector(datadog.credential()) as lister:
        [listed] = await lister.list_objects([month])

    async with DatadogCostConnector(datadog.credential()) as source:
        obj = SourceObject(listed.uri, listed.key, 0, month)
        await source.download(obj, tmp_path / listed.key)

    assert len(raw_rows(tmp_path / listed.key)) == 24
    assert len(datadog.server.api.requests_to(COST)) == 2  # the listing's read, then the download's own
