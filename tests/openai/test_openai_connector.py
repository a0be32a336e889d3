"""The OpenAI connector: the real openai SDK (AsyncOpenAI's admin client) against the loopback Costs and
Usage API answering in OpenAI's documented shapes."""

from __future__ import annotations

import time
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from cloudact_providers.connector import ResolvedCredential
from cloudact_providers.loopback import LoopbackApi, Running, json_response, serving
from cloudact_providers.openai.connector import OpenAICostsConnector
from cloudact_providers.openai.loopback import OpenAIBills, error_body, openai_api
from cloudact_providers.openai.synthetic import MONTH, bills, month_sample
from cloudact_providers.registry import validate_credential
from cloudact_shared.errors import FailedPrecondition, InvalidArgument, Unauthenticated, Unavailable
from tests.openai.conftest import ADMIN_KEY, credential, raw_rows
from tests.providers.loopback import BODY_MARKER, GARBAGE, GARBAGE_MARKER, answering, marker_bodies

OCTOBER = date(2026, 10, 1)
COSTS = r"/v1/organization/costs"


async def _read(credential: ResolvedCredential, periods: list[date], work: Path) -> list[Path]:
    """One run of the connector: list, then download each month, as the pipeline does."""
    files = []
    async with OpenAICostsConnector(credential) as source:
        for index, obj in enumerate(await source.list_objects(periods)):
            dest = work / f"{index:05d}-{obj.key}"
            await source.download(obj, dest)
            files.append(dest)
    return files


def _grouped(running: Running) -> list[Any]:
    """The requests for grouped cost pages (the download's), in order."""
    return [s for s in running.api.requests_to(COSTS) if "group_by[]" in s.query]


async def test_a_month_is_listed_once_and_downloads_as_the_generated_reads(running: Running, tmp_path: Path) -> None:
    files = await _read(credential(running), [OCTOBER, MONTH], tmp_path)

    # October holds no cost: it is not listed (the run replaces its slice with nothing, never fails).
    assert [f.name for f in files] == ["00000-openai-2026-11.jsonl"]
    expected = month_sample(tmp_path / "expected")[0]
    assert sorted(files[0].read_text().splitlines()) == sorted(expected.read_text().splitlines())
    rows = raw_rows(files[0])
    assert {r["record_type"] for r in rows} == {"costs", "completions", "embeddings"}
    assert all(r["_quarantine_reason"] is None for r in rows)
    # The URI names the read and holds no credential.
    assert all(ADMIN_KEY not in str(r["source_object"]) for r in rows)


async def test_pages_follow_the_next_page_cursor_until_has_more_is_false(running: Running, tmp_path: Path) -> None:
    await _read(credential(running, page_buckets="7"), [MONTH], tmp_path)

    pages = _grouped(running)
    # 30 daily buckets, 7 a page: 5 pages, each asking for the cursor the previous one gave.
    assert len(pages) == 5
    assert "page" not in pages[0].query and all("page" in p.query for p in pages[1:])
    assert len({p.query["page"] for p in pages[1:]}) == 4
    assert all(p.query["limit"] == "7" and p.query["bucket_width"] == "1d" for p in pages)
    usage = running.api.requests_to(r"/v1/organization/usage/completions")
    assert len(usage) == 5 and usage[0].query["group_by[]"] == "project_id"


async def test_a_429_is_retried_after_the_retry_after_the_server_asks(running: Running, tmp_path: Path) -> None:
    running.api.fail("GET", COSTS, 429, retry_after=1, times=2)
    started = time.monotonic()

    files = await _read(credential(running), [MONTH], tmp_path)

    # Two refusals, each waited for 1 s as Retry-After says (the SDK's own backoff would wait 0.5 s, then 1 s).
    assert time.monotonic() - started >= 2.0
    assert len(running.api.requests_to(COSTS)) == 3 + 1  # the probe's 3 tries, then the download's page
    assert any(r["record_type"] == "costs" for r in raw_rows(files[0]))


async def test_throttling_past_the_retries_is_unavailable(running: Running, tmp_path: Path) -> None:
    running.api.fail("GET", COSTS, 429, retry_after=1, times=10)

    with pytest.raises(Unavailable) as caught:
        await _read(credential(running, max_retries="1"), [MONTH], tmp_path)

    assert caught.value.reason == "SOURCE_UNAVAILABLE" and "HTTP 429 rate_limit_exceeded" in caught.value.message
    assert len(running.api.requests_to(COSTS)) == 2


async def test_a_rejected_key_is_unauthenticated_and_never_shown(running: Running, tmp_path: Path) -> None:
    wrong = "sk-admin-Wrong0Key0d00d00d00d"

    with pytest.raises(Unauthenticated) as caught:
        await _read(credential(running, key=wrong), [MONTH], tmp_path)

    message = caught.value.message
    assert "OpenAI rejected the Admin API key" in message and "HTTP 401 invalid_api_key" in message
    assert wrong not in message and ADMIN_KEY not in message and "sk-admin" not in message
    assert caught.value.__cause__ is None  # the SDK's error (its message quotes OpenAI's body) is not chained


async def test_a_bad_result_is_quarantined_with_its_reason(served: OpenAIBills, tmp_path: Path) -> None:
    served.extra_results[("costs", MONTH)] = [
        {
            "object": "organization.costs.result",
            "amount": {"value": "twelve", "currency": "usd"},
            "line_item": "x, input",
        },
        {"object": "organization.costs.result", "amount": {"value": 1.5, "currency": "ZZZ"}, "line_item": "x, output"},
        {"object": "organization.costs.result", "amount": None, "line_item": "x, cached input"},
    ]
    with serving(openai_api(served)) as running:
        files = await _read(credential(running), [MONTH], tmp_path)

    reasons = sorted(r["_quarantine_reason"] for r in raw_rows(files[0]) if r["_quarantine_reason"])
    assert reasons == [
        "invalid currency code in amount_currency: 'ZZZ'",
        "missing amount in a cost result (amount_value)",
        "unparsable decimal in amount_value: 'twelve'",
    ]


async def test_amounts_keep_the_exact_decimal_text_openai_wrote(served: OpenAIBills, tmp_path: Path) -> None:
    # 17 significant digits: a float keeps 15 to 17; the connector parses JSON numbers as decimals.
    exact = Decimal("98765.123456789012")
    served.extra_results[("costs", MONTH)] = [
        {"object": "organization.costs.result", "amount": {"value": exact, "currency": "usd"}, "line_item": "x, input"}
    ]
    with serving(openai_api(served)) as running:
        files = await _read(credential(running), [MONTH], tmp_path)

    assert float(exact) != exact  # what a float would have made of it
    assert [r["amount_value"] for r in raw_rows(files[0]) if r["line_item"] == "x, input"] == [exact]


async def test_an_answer_that_is_not_a_page_fails_precisely(tmp_path: Path) -> None:
    api = LoopbackApi("not-openai", authorized=lambda _r: True, error_body=error_body)
    api.route("GET", COSTS)(lambda _request, _match: json_response({"items": [], "next": None}))
    with serving(api) as running, pytest.raises(FailedPrecondition) as caught:
        await _read(credential(running), [MONTH], tmp_path)
    assert caught.value.reason == "NOT_AN_OPENAI_PAGE" and "is not a page of buckets" in caught.value.message


@pytest.mark.parametrize("status", [401, 500])
async def test_what_answers_at_the_endpoint_is_never_echoed(status: int, tmp_path: Path) -> None:
    for body in marker_bodies(status):
        with answering(body) as url:
            running = Running(LoopbackApi("x", lambda _r: True, error_body), url)
            with pytest.raises((Unauthenticated, Unavailable, FailedPrecondition)) as caught:
                await _read(credential(running, max_retries="0"), [MONTH], tmp_path)
        assert BODY_MARKER not in caught.value.message and "HTTP" in caught.value.message
    with answering(GARBAGE) as url:
        running = Running(LoopbackApi("x", lambda _r: True, error_body), url)
        with pytest.raises(Unavailable) as caught:
            await _read(credential(running, max_retries="0"), [MONTH], tmp_path)
    assert GARBAGE_MARKER not in caught.value.message and "cannot reach OpenAI" in caught.value.message


def test_the_credential_needs_an_admin_key_and_the_official_endpoint_unless_overrides_are_allowed() -> None:
    config = {"organization_id": "org-Acme01", "endpoint": "http://127.0.0.1:9"}
    validate_credential("openai", config, {"admin_api_key": ADMIN_KEY}, allow_endpoint_overrides=True)
    with pytest.raises(InvalidArgument) as override:
        validate_credential("openai", config, {"admin_api_key": ADMIN_KEY}, allow_endpoint_overrides=False)
    assert override.value.reason == "ENDPOINT_OVERRIDE_DISABLED"
    assert [v.field for v in override.value.violations] == ["config.endpoint"]
    validate_credential(
        "openai", {"organization_id": "org-Acme01"}, {"admin_api_key": ADMIN_KEY}, allow_endpoint_overrides=False
    )
    project_key = "sk-proj-Secret0c4f1e9b2a7d"
    with pytest.raises(InvalidArgument) as refused:
        validate_credential("openai", config, {"admin_api_key": project_key}, allow_endpoint_overrides=True)
    assert [v.field for v in refused.value.violations] == ["secret.admin_api_key"]
    assert project_key not in str(refused.value.to_status()) and "Secret0c4f" not in refused.value.message


def test_the_loopback_answers_bad_parameters_in_openais_error_body(running: Running) -> None:
    import requests

    headers = {"Authorization": f"Bearer {ADMIN_KEY}"}
    too_many = requests.get(f"{running.url}{COSTS}?start_time=0&limit=181", headers=headers, timeout=5)
    missing = requests.get(f"{running.url}{COSTS}", headers=headers, timeout=5)
    unknown = requests.get(f"{running.url}/v1/organization/usage/tokens?start_time=0", headers=headers, timeout=5)
    anonymous = requests.get(f"{running.url}{COSTS}?start_time=0", timeout=5)

    assert too_many.status_code == 400 and too_many.json()["error"]["param"] == "limit"
    assert missing.status_code == 400 and missing.json()["error"]["param"] == "start_time"
    assert unknown.status_code == 404 and unknown.json()["error"]["type"] == "invalid_request_error"
    assert anonymous.status_code == 401 and anonymous.json()["error"]["code"] == "invalid_api_key"


def test_the_demo_month_is_the_generated_month() -> None:
    generated = bills(MONTH)
    assert generated.months == (MONTH,) and len(generated.days) == 30
    assert len({c.project_id for c in generated.charges}) == 3
