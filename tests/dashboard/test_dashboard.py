"""The cost dashboard in headless Chromium (and over plain HTTPS with httpx) against real services."""

from __future__ import annotations

import asyncio
import contextlib
import csv
import os
import re
import socket
import ssl
import time
from collections.abc import Iterator
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import Select, WebDriverWait

from cloudact_shared.gen.cloudact.credential.v1 import credential_service_pb2 as cred_pb
from cloudact_shared.gen.cloudact.credential.v1.credential_service_pb2_grpc import CredentialServiceStub
from cloudact_shared.gen.cloudact.pipeline.v1.pipeline_service_pb2_grpc import PipelineServiceStub
from cloudact_shared.gen.cloudact.query.v1 import query_service_pb2 as query_pb
from tests.channels import org_channel
from tests.conftest import REPO
from tests.dashboard.conftest import ORG, OTHER_ORG, PIPELINE_MONTH, Deployment, log_in
from tests.e2e.helpers import pipeline_request

DEFAULT_START, DEFAULT_END = "2025-02-01", "2025-04-30"
PROVIDER = "x_source_provider"
CURRENCY = "BillingCurrency"
EFFECTIVE = "EffectiveCost"
WRITE_SCREENSHOTS = os.environ.get("CLOUDACT_WRITE_SCREENSHOTS") == "1"


def cents(text: str) -> str:
    return f"{Decimal(text).quantize(Decimal('0.01'), rounding=ROUND_HALF_UP):,}"


def expected_totals(deployment: Deployment, start: str, end: str, **filters: str) -> dict[tuple[str, str], list[str]]:
    """(provider, currency) -> [BilledCost, EffectiveCost] exact, from QueryCosts over gRPC."""
    rows = deployment.query_costs(
        start,
        end,
        group_by=[PROVIDER],
        filters=[query_pb.DimensionFilter(dimension=k, values=[v]) for k, v in filters.items()],
    )
    return {
        (r.dimensions[PROVIDER], r.dimensions[CURRENCY]): [r.amounts["BilledCost"], r.amounts["EffectiveCost"]]
        for r in rows
    }


def totals_on_page(driver: Any) -> dict[tuple[str, str], list[str]]:
    """The totals table as shown: (provider, currency) -> the two amounts' text."""
    found = {}
    for row in driver.find_elements(By.CSS_SELECTOR, "#totals tbody tr"):
        cells = [c.text for c in row.find_elements(By.TAG_NAME, "td")]
        if len(cells) == 4:
            found[(cells[0], cells[1])] = cells[2:]
    return found


def wait_for_overview(driver: Any) -> None:
    WebDriverWait(driver, 30).until(expected_conditions.presence_of_element_located((By.ID, "totals")))


@pytest.fixture
def http(deployment: Deployment) -> Iterator[httpx.Client]:
    context = ssl.create_default_context(cafile=str(deployment.ca))
    with httpx.Client(base_url=deployment.base_url, verify=context, follow_redirects=False, timeout=30) as client:
        yield client


def http_login(http: httpx.Client, token: str) -> httpx.Response:
    page = http.get("/login")
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert csrf is not None
    return http.post("/login", data={"token": token, "csrf": csrf.group(1)})


def test_viewer_sees_totals_per_provider_to_the_cent_and_a_provider_filter_changes_them(
    deployment: Deployment, browser: Any
) -> None:
    log_in(browser, deployment, deployment.token(ORG, "viewer"))
    wait_for_overview(browser)
    assert browser.find_element(By.ID, "org").text == ORG
    # The default period: the last three months that hold data.
    assert browser.find_element(By.ID, "period").text == f"{DEFAULT_START} – {DEFAULT_END}"

    expected = expected_totals(deployment, DEFAULT_START, DEFAULT_END)
    assert set(expected) == {("aws", "USD"), ("gcp", "USD"), ("azure", "USD"), ("azure", "EUR")}
    shown = before = totals_on_page(browser)
    for key, (billed, effective) in expected.items():
        assert shown[key] == [cents(billed), cents(effective)], key
    # Currencies are summed apart, never together.
    usd = sum(Decimal(v[0]) for k, v in expected.items() if k[1] == "USD")
    assert shown[("All providers", "USD")][0] == cents(str(usd))
    assert shown[("All providers", "EUR")][0] == cents(expected[("azure", "EUR")][0])
    # ECharts drew both stacked charts (one per currency each).
    assert len(browser.find_elements(By.CSS_SELECTOR, "[data-chart=providers] canvas")) == 2
    assert len(browser.find_elements(By.CSS_SELECTOR, "[data-chart=categories] canvas")) == 2

    Select(browser.find_element(By.ID, "filter-provider")).select_by_value("gcp")
    browser.find_element(By.ID, "apply").click()
    WebDriverWait(browser, 30).until(lambda d: "provider=gcp" in d.current_url)
    wait_for_overview(browser)
    only_gcp = expected_totals(deployment, DEFAULT_START, DEFAULT_END, x_source_provider="gcp")
    shown = totals_on_page(browser)
    assert set(shown) == {("gcp", "USD"), ("All providers", "USD")}
    assert shown[("gcp", "USD")] == [cents(v) for v in only_gcp[("gcp", "USD")]]
    assert shown[("All providers", "USD")] == shown[("gcp", "USD")] != before[("All providers", "USD")]


def test_a_table_downloads_as_csv_with_the_exact_amounts_of_the_selection(
    deployment: Deployment, browser: Any, downloads: Path
) -> None:
    log_in(browser, deployment, deployment.token(ORG, "viewer"))
    wait_for_overview(browser)
    browser.get(f"{deployment.base_url}/dashboard?start=2025-01-01&end=2025-04-30&tag=team%3Dcore")
    wait_for_overview(browser)
    browser.find_element(By.ID, "csv-totals").click()
    target = downloads / f"cloudact-{ORG}-totals.csv"
    deadline = time.monotonic() + 20
    while not target.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert target.exists(), list(downloads.iterdir())
    with target.open(newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["Provider", "Currency", "BilledCost", "EffectiveCost"]
    expected = expected_totals(deployment, "2025-01-01", "2025-04-30", **{"tag:team": "core"})
    # The team=core rows are the USD compute rows of each provider; EUR has no tags.
    assert {(p, c) for p, c in expected} == {("aws", "USD"), ("gcp", "USD"), ("azure", "USD")}
    by_provider = {(r[0], r[1]): [Decimal(r[2]), Decimal(r[3])] for r in rows[1:]}
    for key, amounts in expected.items():
        assert by_provider[key] == [Decimal(a) for a in amounts]
    assert by_provider[("All providers", "USD")][0] == sum(Decimal(v[0]) for v in expected.values())


def test_another_orgs_viewer_sees_nothing_of_acme(deployment: Deployment, browser: Any) -> None:
    log_in(browser, deployment, deployment.token(OTHER_ORG, "viewer"))
    wait_for_overview(browser)
    assert browser.find_element(By.ID, "org").text == OTHER_ORG
    browser.get(f"{deployment.base_url}/dashboard?start=2025-01-01&end=2025-04-30")
    wait_for_overview(browser)
    assert totals_on_page(browser) == {}
    source = browser.page_source
    assert "aws-account" not in source and "GCP EC2" not in source
    browser.get(f"{deployment.base_url}/dashboard/pipelines")
    assert deployment.credential_id not in browser.page_source
    browser.get(f"{deployment.base_url}/dashboard/api/runs/{deployment.run_id}")
    assert "NOT_FOUND" in browser.page_source and "2023-11" not in browser.page_source


def test_without_a_session_pages_redirect_to_login(deployment: Deployment, browser: Any, http: httpx.Client) -> None:
    browser.delete_all_cookies()
    for page in ("/dashboard", "/dashboard/pipelines"):
        browser.get(f"{deployment.base_url}{page}")
        assert browser.current_url == f"{deployment.base_url}/login"
    assert http.get("/dashboard").headers["location"] == "/login"
    answer = http.get("/dashboard/api/totals.csv")
    assert answer.status_code == 401 and answer.json()["reason"] == "NO_SESSION"


def test_pipelines_page_shows_each_credentials_last_run(deployment: Deployment, browser: Any) -> None:
    log_in(browser, deployment, deployment.token(ORG, "viewer"))
    wait_for_overview(browser)
    browser.get(f"{deployment.base_url}/dashboard/pipelines")
    row = browser.find_element(By.CSS_SELECTOR, f'tr[data-credential-id="{deployment.credential_id}"]')
    cell = {name: row.find_element(By.CLASS_NAME, name).text for name in (
        "run_id", "status", "billing_periods", "rows_read", "rows_quarantined", "data_through", "provider",
    )}  # fmt: skip
    assert cell["run_id"] == deployment.run_id
    assert cell["status"] == "SUCCEEDED" and cell["provider"] == "aws"
    assert cell["billing_periods"] == "2023-11"
    assert int(cell["rows_quarantined"]) >= 1 and int(cell["rows_read"]) > int(cell["rows_quarantined"])
    assert cell["data_through"].startswith("2023-11-")
    # The JSON the page polls for a running run tells the same.
    browser.get(f"{deployment.base_url}/dashboard/api/runs/{deployment.run_id}")
    assert '"status":"SUCCEEDED"' in browser.find_element(By.TAG_NAME, "body").text


def test_login_sets_a_strict_cookie_checks_csrf_and_never_echoes_the_token(
    deployment: Deployment, http: httpx.Client
) -> None:
    token = deployment.token(ORG, "viewer")
    page = http.get("/login")
    assert "content-security-policy" in page.headers
    refused = http.post("/login", data={"token": token, "csrf": "forged"})
    assert refused.status_code == 403 and "cloudact_session" not in refused.headers.get("set-cookie", "")
    assert http.post("/login", data={"token": token, "csrf": "é"}).status_code == 403

    forged = http_login(http, token[:-4] + "AAAA")
    assert forged.status_code == 401 and "not valid" in forged.text
    assert "cloudact_session" not in forged.headers.get("set-cookie", "")

    answer = http_login(http, token)
    assert answer.status_code == 303 and answer.headers["location"] == "/dashboard"
    cookie = next(c for c in answer.headers.get_list("set-cookie") if c.startswith("cloudact_session="))
    assert all(flag in cookie.lower() for flag in ("httponly", "secure", "samesite=strict", "max-age="))
    assert token not in cookie
    overview = http.get("/dashboard")
    assert overview.status_code == 200 and token not in overview.text

    # Logging out needs the session's CSRF token; without it the session stays.
    assert http.post("/logout", data={"csrf": "forged"}).status_code == 403
    assert http.get("/dashboard").status_code == 200
    csrf = re.search(r'name="csrf" value="([^"]+)"', overview.text)
    assert csrf is not None
    assert http.post("/logout", data={"csrf": csrf.group(1)}).status_code == 303
    http.cookies.clear()
    assert http.get("/dashboard").status_code == 303


def test_a_bad_period_is_a_clear_error(deployment: Deployment, http: httpx.Client) -> None:
    http_login(http, deployment.token(ORG, "viewer"))
    answer = http.get("/dashboard", params={"start": "2025-03-01", "end": "2025-01-01"})
    assert answer.status_code == 400 and "end: is before the start" in answer.text
    csv_answer = http.get("/dashboard/api/totals.csv", params={"start": "yesterday"})
    assert csv_answer.status_code == 400 and csv_answer.json()["reason"] == "INVALID_ARGUMENT"
    assert "start: is not a date" in csv_answer.json()["error"]
    # A tag key query_svc refuses comes back as its own clear error.
    tag_answer = http.get("/dashboard", params={"start": "2025-03-01", "end": "2025-04-30", "tag": "it's=x"})
    assert tag_answer.status_code == 400 and "tag:it" in tag_answer.text


def test_top_services_and_movers_against_the_previous_period(deployment: Deployment, http: httpx.Client) -> None:
    http_login(http, deployment.token(ORG, "viewer"))
    answer = http.get("/dashboard/api/overview", params={"start": "2025-03-01", "end": "2025-04-30"})
    assert answer.status_code == 200
    tables = answer.json()["tables"]
    now = deployment.query_costs("2025-03-01", "2025-04-30", group_by=["ServiceName"])
    before = deployment.query_costs("2025-01-01", "2025-02-28", group_by=["ServiceName"])

    def effective(rows: list[query_pb.CostRow]) -> dict[tuple[str, str], Decimal]:
        return {
            (r.dimensions["ServiceName"], r.dimensions[CURRENCY]): Decimal(r.amounts["EffectiveCost"]) for r in rows
        }

    current, previous = effective(now), effective(before)
    top = max((k for k in current if k[1] == "USD"), key=lambda k: current[k])
    usd_services = [r for r in tables["services"]["rows"] if r[1] == "USD"]
    assert (usd_services[0][0], usd_services[0][1]) == top
    assert Decimal(usd_services[0][3]) == current[top]
    mover = tables["movers"]["rows"][0]
    change = {k: current[k] - previous[k] for k in current}
    biggest = max(change, key=lambda k: abs(change[k]))
    assert (mover[0], mover[1]) == biggest
    assert [Decimal(v) for v in mover[2:]] == [previous[biggest], current[biggest], change[biggest]]
    # The period as asked, not the default; the EUR row never mixes into USD.
    assert answer.json()["selection"] == {"start": "2025-03-01", "end": "2025-04-30"}
    assert all(r[1] in ("USD", "EUR") for r in tables["movers"]["rows"])


def test_screenshots_of_both_pages(deployment: Deployment, browser: Any, tmp_path: Path) -> None:
    """Both pages render whole in Chromium (charts drawn, the run listed). With
    CLOUDACT_WRITE_SCREENSHOTS=1 the screenshots are the README's, written to docs/."""
    where = REPO / "docs" if os.environ.get("CLOUDACT_WRITE_SCREENSHOTS") == "1" else tmp_path
    log_in(browser, deployment, deployment.token(ORG, "viewer"))
    wait_for_overview(browser)
    assert browser.find_elements(By.CSS_SELECTOR, "[data-chart=providers] canvas")
    assert browser.save_screenshot(str(where / "dashboard-overview.png"))
    browser.get(f"{deployment.base_url}/dashboard/pipelines")
    assert browser.find_element(By.CSS_SELECTOR, f'tr[data-credential-id="{deployment.credential_id}"]')
    assert browser.save_screenshot(str(where / "dashboard-pipelines.png"))
    for page in ("overview", "pipelines"):
        png = (where / f"dashboard-{page}.png").read_bytes()
        assert png.startswith(b"\x89PNG") and len(png) > 20_000, page


async def _start_stalled_run(deployment: Deployment, endpoint: str) -> tuple[str, str, asyncio.Task[None]]:
    """A new AWS credential reading ``endpoint`` (which never answers) and a run of it that is RUNNING
    until the endpoint goes away; returns the credential id, the run id and the task streaming it."""
    settings = deployment.settings
    async with org_channel(settings, settings.credential_address, ORG, role="operator") as channel:
        created = await CredentialServiceStub(channel).CreateCredential(
            cred_pb.CreateCredentialRequest(
                org_slug=ORG,
                provider="aws",
                display_name="stalled-export",
                secret={"aws_access_key_id": "testing", "aws_secret_access_key": "testing"},
                config={"bucket": "b", "export_name": "e", "layout": "legacy", "endpoint_url": endpoint,
                        "max_attempts": "1"},
            ),
            timeout=10,
        )  # fmt: skip
    credential_id = created.credential.credential_id
    first: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    async def stream() -> None:
        request = pipeline_request(ORG, credential_id, PIPELINE_MONTH)
        async with org_channel(settings, settings.ingest_address, ORG, role="operator") as channel:
            with contextlib.suppress(grpc.aio.AioRpcError):
                async for event in PipelineServiceStub(channel).RunPipeline(request, timeout=120):
                    if not first.done():
                        first.set_result(event.progress.run_id)

    task = asyncio.create_task(stream())
    return credential_id, await asyncio.wait_for(first, 30), task


def test_a_running_runs_progress_is_shown_live(deployment: Deployment, browser: Any) -> None:
    # An S3 endpoint that takes connections (the kernel's backlog) but never answers: the run waits
    # in LISTING_SOURCE until the socket closes, then fails (one attempt).
    stalled = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    stalled.bind(("127.0.0.1", 0))
    stalled.listen(8)
    try:
        endpoint = f"http://127.0.0.1:{stalled.getsockname()[1]}"
        credential_id, run_id, task = deployment.call(_start_stalled_run(deployment, endpoint))
        log_in(browser, deployment, deployment.token(ORG, "viewer"))
        wait_for_overview(browser)
        browser.get(f"{deployment.base_url}/dashboard/pipelines")
        row = browser.find_element(By.CSS_SELECTOR, f'tr[data-credential-id="{credential_id}"]')
        assert row.get_attribute("data-run-id") == run_id
        assert row.get_attribute("data-status") == "RUNNING"
        assert row.find_element(By.CLASS_NAME, "finished_at").text == ""
        browser.execute_script("window.notReloaded = true;")
    finally:
        stalled.close()
    # The page polls GetRun every 2 s: the row turns FAILED without a reload.
    WebDriverWait(browser, 30).until(lambda d: row.get_attribute("data-status") == "FAILED")
    assert row.find_element(By.CLASS_NAME, "status").text == "FAILED"
    assert row.find_element(By.CLASS_NAME, "finished_at").text.endswith("UTC")
    assert browser.execute_script("return window.notReloaded === true;")
    deployment.call(asyncio.wait_for(task, 30))  # the stream ended (with the run's error)
