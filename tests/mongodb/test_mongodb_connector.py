"""The MongoDB Atlas invoices connector: its own Admin API client against Atlas's billing endpoints on loopback."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
import requests

from cloudact_cli.convert import convert_files
from cloudact_providers.connector import ResolvedCredential
from cloudact_providers.mongodb.client import API_VERSION, retry_after_seconds
from cloudact_providers.mongodb.connector import AtlasInvoicesConnector
from cloudact_providers.mongodb.synthetic import ORG_ID, invoice
from cloudact_shared.errors import CloudactError, PermissionDenied, Unauthenticated, Unavailable
from tests.mongodb.conftest import CLIENT_SECRET, Atlas, atlas_server, raw_rows
from tests.providers.loopback import answering, http_error

INVOICES = rf"/api/atlas/v2/orgs/{ORG_ID}/invoices"
JAN, FEB, MAR = date(2025, 1, 1), date(2025, 2, 1), date(2025, 3, 1)


async def _read(credential: ResolvedCredential, periods: list[date], work: Path) -> dict[str, list[dict[str, Any]]]:
    """One run of the connector: list, download each invoice, parse it as the pipeline does (by file)."""
    rows: dict[str, list[dict[str, Any]]] = {}
    async with AtlasInvoicesConnector(credential) as source:
        for obj in await source.list_objects(periods):
            dest = work / obj.key
            await source.download(obj, dest)
            rows[obj.key] = raw_rows(dest, obj.uri)
    return rows


async def _refused(credential: ResolvedCredential, periods: list[date]) -> CloudactError:
    with pytest.raises(CloudactError) as caught:
        async with AtlasInvoicesConnector(credential) as source:
            for obj in await source.list_objects(periods):
                await source.download(obj, Path("/nonexistent/never-written"))
    assert CLIENT_SECRET not in str(caught.value)
    return caught.value


def _current_month() -> date:
    today = datetime.now(UTC).date()
    return date(today.year, today.month, 1)


async def test_the_invoice_list_is_paged_and_each_months_invoice_is_one_object(atlas: Atlas, tmp_path: Path) -> None:
    atlas.server.hold(*(invoice(date(2025, month, 1), days=1) for month in range(1, 8)))

    async with AtlasInvoicesConnector(atlas.credential(items_per_page="3")) as source:
        objects = await source.list_objects([FEB, date(2025, 6, 1), date(2024, 12, 1)])

    assert [o.billing_period for o in objects] == [FEB, date(2025, 6, 1)]  # December 2024 has no invoice
    assert objects[0].uri == f"{atlas.running.url}{INVOICES}/{invoice(FEB)['id']}"
    pages = [(s.query["pageNum"], s.query["itemsPerPage"]) for s in atlas.server.api.requests_to(INVOICES)]
    assert pages == [("1", "3"), ("2", "3"), ("3", "3")]  # 7 invoices: 3 + 3 + 1, the short page ends it
    assert all(s.query["includeCount"] == "true" for s in atlas.server.api.requests_to(INVOICES))


def test_the_server_refuses_a_request_without_the_versioned_media_type(atlas: Atlas) -> None:
    """What makes the connector tests prove the client sends ``Accept: application/vnd.atlas.<date>+json``."""
    token = requests.post(
        f"{atlas.running.url}/api/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=("mdb_sa_id_65f0c1d2e3a4b5c6d7e8f901", CLIENT_SECRET),
        timeout=5,
    ).json()["access_token"]
    url, bearer = f"{atlas.running.url}{INVOICES}", {"Authorization": f"Bearer {token}"}
    plain = requests.get(url, headers={**bearer, "Accept": "application/json"}, timeout=5)
    versioned = requests.get(url, headers={**bearer, "Accept": API_VERSION}, timeout=5)
    assert plain.status_code == 406 and plain.json()["errorCode"] == "INVALID_VERSION_DATE"
    assert versioned.status_code == 200


async def test_cents_become_exact_dollars_and_the_invoice_total_is_kept(atlas: Atlas, tmp_path: Path) -> None:
    closed = invoice(JAN, days=3)
    atlas.server.hold(closed)
    [(key, rows)] = (await _read(atlas.credential(), [JAN], tmp_path)).items()

    items = [r for r in rows if r["record_type"] == "line_item"]
    assert all(r["_quarantine_reason"] is None for r in rows) and len(items) == len(closed["lineItems"])
    assert sorted(r["total_price_cents"] for r in items) == sorted(i["totalPriceCents"] for i in closed["lineItems"])
    [own] = [r for r in rows if r["record_type"] == "invoice"]
    assert (own["amount_billed_cents"], own["sales_tax_cents"]) == (
        closed["amountBilledCents"],
        closed["salesTaxCents"],
    )

    focus = tmp_path / "focus.parquet"
    convert_files("mongodb", [tmp_path / key], focus, threads=2)
    table = pq.read_table(focus).to_pylist()
    # To the cent, in decimals: the line items net of discounts plus the sales tax are the amount billed.
    assert sum(r["BilledCost"] for r in table) == Decimal(closed["amountBilledCents"]) / 100
    [tax] = [r for r in table if r["ChargeCategory"] == "Tax"]
    assert tax["BilledCost"] == Decimal(closed["salesTaxCents"]) / 100
    discounted = next(r for r in table if r["SkuId"] == "ATLAS_AWS_INSTANCE_M30")
    assert discounted["ListCost"] == Decimal("38.88") and discounted["BilledCost"] == Decimal("34.99")
    requests_line = next(r for r in table if r["SkuId"] == "REALM_APP_REQUESTS")
    assert requests_line["ListUnitPrice"] == Decimal("0.000002")  # a dollar price, not cents
    assert requests_line["ListCost"] == requests_line["ListUnitPrice"] * requests_line["PricingQuantity"]


async def test_the_token_is_kept_until_refused_then_fetched_once_more(atlas: Atlas, tmp_path: Path) -> None:
    atlas.server.hold(invoice(JAN, days=1), invoice(FEB, days=1))
    async with AtlasInvoicesConnector(atlas.credential()) as source:
        objects = await source.list_objects([JAN, FEB])
        await source.download(objects[0], tmp_path / "jan.jsonl")
        assert atlas.server.tokens_issued == 1  # one token for the list and the first invoice
        atlas.server.expire_tokens()
        await source.download(objects[1], tmp_path / "feb.jsonl")
    assert atlas.server.tokens_issued == 2 and len(raw_rows(tmp_path / "feb.jsonl")) == 19


async def test_a_429_waits_for_retry_after_and_a_503_is_retried(atlas: Atlas, tmp_path: Path) -> None:
    atlas.server.hold(invoice(JAN, days=1))
    atlas.server.api.fail("GET", INVOICES, 429, retry_after=1, times=2)
    atlas.server.api.fail("GET", rf"{INVOICES}/[0-9a-f]{{24}}", 503, retry_after=None)

    started = time.monotonic()
    rows = await _read(atlas.credential(), [JAN], tmp_path)

    assert time.monotonic() - started >= 2.0, "each 429 is retried after its Retry-After"
    assert len(atlas.server.api.requests_to(INVOICES)) == 3 and len(next(iter(rows.values()))) == 19
    assert len(atlas.server.api.requests_to(rf"{INVOICES}/[0-9a-f]{{24}}")) == 2


async def test_retries_exhausted_are_unavailable(atlas: Atlas) -> None:
    atlas.server.api.fail("GET", INVOICES, 429, retry_after=0, times=5)

    error = await _refused(atlas.credential(max_attempts="2"), [JAN])

    assert isinstance(error, Unavailable) and "HTTP 429 RATE_LIMITED" in error.message
    assert len(atlas.server.api.requests_to(INVOICES)) == 2


async def test_a_refused_service_account_is_unauthenticated_and_its_secret_never_shown(atlas: Atlas) -> None:
    wrong = atlas.credential(secret="S3cr3t-CANARY-wrong-secret-99")

    error = await _refused(wrong, [JAN])

    assert isinstance(error, Unauthenticated) and "HTTP 401 invalid_client" in error.message
    assert "S3cr3t-CANARY-wrong-secret-99" not in error.message and "client authentication" not in error.message
    assert CLIENT_SECRET not in repr(AtlasInvoicesConnector(atlas.credential()))


async def test_another_organization_is_permission_denied(atlas: Atlas) -> None:
    error = await _refused(atlas.credential(org_id="0" * 24), [JAN])

    assert isinstance(error, PermissionDenied) and "Organization Billing Viewer" in error.message
    assert "does not have access" not in error.message  # Atlas's detail text is not repeated


async def test_an_endpoint_that_is_not_atlas_is_unavailable_without_its_body() -> None:
    with answering(http_error(502, "proxy says S3cr3t-CANARY-body-marker")) as url:
        credential = ResolvedCredential(
            "c",
            "mongodb",
            {"org_id": ORG_ID, "api_url": url, "max_attempts": "1"},
            {"client_id": "mdb_sa_id_x1234567", "client_secret": CLIENT_SECRET},
        )
        error = await _refused(credential, [JAN])
    assert isinstance(error, Unavailable) and "S3cr3t-CANARY-body-marker" not in error.message


async def test_a_line_item_with_fractional_cents_is_quarantined_and_the_rest_loads(
    atlas: Atlas, tmp_path: Path
) -> None:
    bad = invoice(MAR, days=1)
    bad["lineItems"][1]["totalPriceCents"] = 12.5  # cents are integers: DuckDB would round this silently
    del bad["lineItems"][2]["startDate"]
    atlas.server.hold(bad)

    [rows] = (await _read(atlas.credential(), [MAR], tmp_path)).values()

    reasons = {r["_source_row_number"]: r["_quarantine_reason"] for r in rows if r["_quarantine_reason"]}
    assert reasons == {
        2: "not a whole number of cents in total_price_cents: '12.5'",
        3: "missing line item start date (startDate)",
    }
    assert sum(r["_quarantine_reason"] is None for r in rows) == len(rows) - 2


@pytest.fixture
def atlas_without_pending_in_list() -> Iterator[Atlas]:
    yield from atlas_server(lists_pending=False)


async def test_the_current_month_comes_from_the_pending_invoice(
    atlas_without_pending_in_list: Atlas, tmp_path: Path
) -> None:
    atlas = atlas_without_pending_in_list
    current = _current_month()
    pending = invoice(current, status="PENDING", days=1)
    pending["lineItems"] = []  # the 1st of the month: nothing accrued yet
    atlas.server.hold(pending)

    rows = await _read(atlas.credential(), [current], tmp_path)

    [(key, month_rows)] = rows.items()
    assert key == f"atlas-invoice-pending-{current:%Y%m}.jsonl"
    # An invoice with no line items is still a file with a row: its month is replaced with no charges.
    assert [(r["record_type"], r["invoice_status"], r["_quarantine_reason"]) for r in month_rows] == [
        ("invoice", "PENDING", None)
    ]


def test_retry_after_is_read_as_seconds_or_an_http_date() -> None:
    assert retry_after_seconds("3") == 3.0
    in_a_minute = datetime.now(UTC).timestamp() + 60
    from email.utils import formatdate

    assert 55 <= (retry_after_seconds(formatdate(in_a_minute, usegmt=True)) or 0) <= 61
    assert retry_after_seconds("soon") is None and retry_after_seconds(None) is None
