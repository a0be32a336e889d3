"""The Anthropic connector: the real anthropic SDK (AsyncAnthropic) against the loopback Admin API
answering in Anthropic's documented shapes: the analytics reports, and the legacy ones as a fallback."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
import requests

from cloudact_providers.anthropic.connector import AnthropicCostsConnector
from cloudact_providers.anthropic.loopback import ANALYTICS_BETA, AnthropicBills, anthropic_api, error_body
from cloudact_providers.anthropic.synthetic import MONTH, analytics_sample, bills, legacy_sample
from cloudact_providers.connector import ResolvedCredential
from cloudact_providers.loopback import LoopbackApi, Running, json_response, serving
from cloudact_providers.registry import validate_credential
from cloudact_shared.errors import FailedPrecondition, InvalidArgument, NotFound, Unauthenticated, Unavailable
from tests.anthropic.conftest import ADMIN_KEY, NOW, credential, raw_rows
from tests.providers.loopback import BODY_MARKER, answering, marker_bodies

OCTOBER = date(2026, 10, 1)
ANALYTICS_COST = r"/v1/organizations/analytics/cost"
ANALYTICS_ANY = r"/v1/organizations/analytics/.*"
LEGACY_COST = r"/v1/organizations/cost_report"


async def _read(credential: ResolvedCredential, periods: list[date], work: Path, now: datetime = NOW) -> list[Path]:
    """One run of the connector: list, then download each month, as the pipeline does."""
    files = []
    async with AnthropicCostsConnector(credential, now=lambda: now) as source:
        for index, obj in enumerate(await source.list_objects(periods)):
            dest = work / f"{index:05d}-{obj.key}"
            await source.download(obj, dest)
            files.append(dest)
    return files


def _lines(path: Path) -> list[str]:
    return sorted(path.read_text().splitlines())


async def test_a_month_downloads_from_the_analytics_api_as_the_generated_reads(
    running: Running, tmp_path: Path
) -> None:
    files = await _read(credential(running), [OCTOBER, MONTH], tmp_path)

    assert [f.name for f in files] == ["00000-anthropic-2026-11.jsonl"]  # October holds no cost: not listed
    assert _lines(files[0]) == _lines(analytics_sample(tmp_path / "expected")[0])
    rows = raw_rows(files[0])
    assert {(r["record_type"], r["report_api"]) for r in rows} == {("cost", "analytics"), ("usage", "analytics")}
    assert all(r["_quarantine_reason"] is None for r in rows)
    assert running.api.requests_to(ANALYTICS_COST) and not running.api.requests_to(LEGACY_COST)


async def test_analytics_pages_follow_the_cursor_and_send_the_beta_header(running: Running, tmp_path: Path) -> None:
    await _read(credential(running, page_rows="50"), [MONTH], tmp_path)

    pages = [s for s in running.api.requests_to(ANALYTICS_COST) if "time_bucket_width" in s.query]
    # 30 days x 9 combinations (3 workspaces x 2 model scopes and code execution; the fan-out by cost and
    # token type not counted) = 270 rows, 50 a page: 6 pages, each asking for the previous one's cursor.
    assert len(pages) == 6
    assert "page" not in pages[0].query and len({p.query["page"] for p in pages[1:]}) == 5
    assert {(p.query["limit"], p.query["order_by"], p.query["group_by[]"]) for p in pages} == {
        ("50", "time", "workspace_id")
    }
    # The server answers 400 without the beta header (below): every page answered means the SDK sent it.


def test_the_loopback_wants_the_version_and_beta_headers_and_answers_in_anthropics_error_body(
    running: Running,
) -> None:
    url = f"{running.url}{ANALYTICS_COST}?starting_at=2026-11-01T00:00:00Z"
    key = {"x-api-key": ADMIN_KEY}
    versioned = {**key, "anthropic-version": "2023-06-01"}
    no_version = requests.get(url, headers=key, timeout=5)
    no_beta = requests.get(url, headers=versioned, timeout=5)
    answered = requests.get(url, headers={**versioned, "anthropic-beta": ANALYTICS_BETA}, timeout=5)
    anonymous = requests.get(url, timeout=5)

    assert no_version.status_code == no_beta.status_code == 400
    assert no_beta.json()["type"] == "error" and no_beta.json()["error"]["type"] == "invalid_request_error"
    assert answered.status_code == 200 and len(answered.json()["data"]) == 1  # no group, no bucket: one row
    assert anonymous.status_code == 401 and anonymous.json()["error"]["type"] == "authentication_error"


async def test_a_404_from_the_analytics_api_falls_back_to_the_legacy_reports(tmp_path: Path) -> None:
    served = AnthropicBills(bills(MONTH), ADMIN_KEY, analytics=False)
    with serving(anthropic_api(served)) as running:
        files = await _read(credential(running), [OCTOBER, MONTH], tmp_path)

    assert _lines(files[0]) == _lines(legacy_sample(tmp_path / "expected")[0])
    # Asked once: the refusal holds for the run's later months.
    assert len(running.api.requests_to(ANALYTICS_ANY)) == 1
    assert {r["report_api"] for r in raw_rows(files[0])} == {"legacy"}


async def test_a_403_from_the_analytics_api_falls_back_too(running: Running, tmp_path: Path) -> None:
    running.api.fail("GET", ANALYTICS_ANY, 403, retry_after=None, times=1)

    files = await _read(credential(running), [MONTH], tmp_path)

    assert {r["report_api"] for r in raw_rows(files[0])} == {"legacy"}


async def test_analytics_only_reports_the_404_instead_of_falling_back(tmp_path: Path) -> None:
    served = AnthropicBills(bills(MONTH), ADMIN_KEY, analytics=False)
    with serving(anthropic_api(served)) as running, pytest.raises(NotFound) as caught:
        await _read(credential(running, api="analytics"), [MONTH], tmp_path)
    assert "HTTP 404 not_found_error" in caught.value.message
    assert not running.api.requests_to(LEGACY_COST)


@pytest.mark.parametrize(
    ("month", "now"),
    [(date(2025, 11, 1), NOW), (date(2026, 2, 1), datetime(2027, 3, 15, tzinfo=UTC))],
    ids=["before-2026", "more-than-365-days-ago"],
)
async def test_months_the_analytics_api_does_not_serve_are_read_from_the_legacy_reports(
    month: date, now: datetime, tmp_path: Path
) -> None:
    with serving(anthropic_api(AnthropicBills(bills(month), ADMIN_KEY))) as running:
        files = await _read(credential(running), [month], tmp_path, now=now)
    assert not running.api.requests_to(ANALYTICS_ANY)
    assert {r["report_api"] for r in raw_rows(files[0])} == {"legacy"}


async def test_legacy_only_never_asks_the_analytics_api(running: Running, tmp_path: Path) -> None:
    await _read(credential(running, api="legacy"), [MONTH], tmp_path)
    assert not running.api.requests_to(ANALYTICS_ANY) and running.api.requests_to(LEGACY_COST)


async def test_the_current_month_is_read_up_to_today_and_a_month_to_come_not_at_all(
    running: Running, tmp_path: Path
) -> None:
    today = datetime(2026, 11, 10, 12, 0, tzinfo=UTC)
    async with AnthropicCostsConnector(credential(running), now=lambda: today) as source:
        objects = await source.list_objects([MONTH, date(2026, 12, 1)])
    assert [o.uri.split("?")[1] for o in objects] == ["starting_at=2026-11-01T00:00:00Z&ending_at=2026-11-11T00:00:00Z"]
    assert all("2026-12-01T00:00:00Z&" not in s.query.get("starting_at", "") for s in running.api.seen)


async def test_a_429_is_retried_after_the_retry_after_the_server_asks(running: Running, tmp_path: Path) -> None:
    running.api.fail("GET", ANALYTICS_COST, 429, retry_after=1, times=2)
    started = time.monotonic()

    await _read(credential(running), [MONTH], tmp_path)

    # Two refusals, each waited for 1 s as Retry-After says (the SDK's own backoff would wait 0.5 s, then 1 s).
    assert time.monotonic() - started >= 2.0
    assert len(running.api.requests_to(ANALYTICS_COST)) == 3 + 1  # the probe's 3 tries, the download's page


async def test_overloaded_past_the_retries_is_unavailable(running: Running, tmp_path: Path) -> None:
    running.api.fail("GET", ANALYTICS_COST, 529, retry_after=1, times=10)

    with pytest.raises(Unavailable) as caught:
        await _read(credential(running, max_retries="1"), [MONTH], tmp_path)

    assert caught.value.reason == "SOURCE_UNAVAILABLE" and "HTTP 529 overloaded_error" in caught.value.message


async def test_a_rejected_key_is_unauthenticated_and_never_shown(running: Running, tmp_path: Path) -> None:
    wrong = "sk-ant-admin01-Wrong0Key0d00d00d00d"

    with pytest.raises(Unauthenticated) as caught:
        await _read(credential(running, key=wrong), [MONTH], tmp_path)

    message = caught.value.message
    assert "Anthropic rejected the admin API key" in message and "HTTP 401 authentication_error" in message
    assert wrong not in message and ADMIN_KEY not in message and "sk-ant" not in message
    assert caught.value.__cause__ is None


async def test_a_bad_row_is_quarantined_with_its_reason(served: AnthropicBills, tmp_path: Path) -> None:
    start, end = "2026-11-04T00:00:00Z", "2026-11-05T00:00:00Z"
    group = {
        "workspace_id": "wrkspc_x",
        "model": "claude-haiku-4-5",
        "cost_type": "tokens",
        "token_type": "output_tokens",
    }
    served.extra_rows[("analytics_cost", date(2026, 11, 4))] = [
        {"starting_at": start, "ending_at": end, "group": group, "cost": {"amount": "12,5", "currency": "USD"}},
        {"starting_at": start, "ending_at": end, "group": group, "cost": {"amount": "1", "currency": "EURO"}},
        {"starting_at": start, "ending_at": end, "group": group, "cost": {"currency": "USD"}},
    ]
    with serving(anthropic_api(served)) as running:
        files = await _read(credential(running), [MONTH], tmp_path)

    reasons = sorted(r["_quarantine_reason"] for r in raw_rows(files[0]) if r["_quarantine_reason"])
    assert reasons == [
        "invalid currency code in currency: 'EURO'",
        "missing amount in a cost row (amount)",
        "unparsable decimal in amount: '12,5'",
    ]


async def test_an_answer_that_is_not_a_report_page_fails_precisely(tmp_path: Path) -> None:
    api = LoopbackApi("not-anthropic", authorized=lambda _r: True, error_body=error_body)
    organization = {"id": "org", "name": "x", "type": "organization"}
    api.route("GET", r"/v1/organizations/me")(lambda _q, _m: json_response(organization))
    api.route("GET", ANALYTICS_COST)(lambda _q, _m: json_response({"rows": []}))
    with serving(api) as running, pytest.raises(FailedPrecondition) as caught:
        await _read(credential(running), [MONTH], tmp_path)
    assert caught.value.reason == "NOT_AN_ANTHROPIC_PAGE"


@pytest.mark.parametrize("status", [401, 500])
async def test_what_answers_at_the_endpoint_is_never_echoed(status: int, tmp_path: Path) -> None:
    for body in marker_bodies(status):
        with answering(body) as url:
            running = Running(LoopbackApi("x", lambda _r: True, error_body), url)
            with pytest.raises((Unauthenticated, Unavailable, FailedPrecondition)) as caught:
                await _read(credential(running, max_retries="0"), [MONTH], tmp_path)
        assert BODY_MARKER not in caught.value.message and "HTTP" in caught.value.message


def test_the_credential_takes_the_official_endpoint_unless_overrides_are_allowed() -> None:
    config = {"endpoint": "http://127.0.0.1:9"}
    validate_credential("anthropic", config, {"admin_api_key": ADMIN_KEY}, allow_endpoint_overrides=True)
    with pytest.raises(InvalidArgument) as override:
        validate_credential("anthropic", config, {"admin_api_key": ADMIN_KEY}, allow_endpoint_overrides=False)
    assert override.value.reason == "ENDPOINT_OVERRIDE_DISABLED"
    validate_credential("anthropic", {}, {"admin_api_key": ADMIN_KEY}, allow_endpoint_overrides=False)
    with pytest.raises(InvalidArgument) as refused:
        validate_credential(
            "anthropic", {"api": "newest"}, {"admin_api_key": "not a key"}, allow_endpoint_overrides=True
        )
    assert sorted(v.field for v in refused.value.violations) == ["config.api", "secret.admin_api_key"]
