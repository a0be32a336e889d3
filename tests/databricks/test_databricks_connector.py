"""The Databricks connector: the real databricks-sdk against the Statement Execution API on loopback."""

from __future__ import annotations

import time
from datetime import date
from pathlib import Path

import pytest
from databricks.sdk.errors import platform as dbx_errors

from cloudact_providers.databricks import connector as databricks_connector
from cloudact_providers.databricks.connector import DatabricksBillingConnector
from cloudact_providers.databricks.synthetic import fill_month, write_export
from cloudact_providers.databricks.warehouse import CATALOG
from cloudact_shared.errors import CloudactError, NotFound, PermissionDenied, Unauthenticated, Unavailable
from tests.databricks.conftest import (
    CLIENT_ID,
    CLIENT_SECRET,
    FEB,
    JAN,
    MAR,
    TOKEN,
    Workspace,
    add_price,
    add_usage,
    download_months,
    raw_rows,
    utc,
)

_STATEMENTS = r"/api/2\.0/sql/statements/?"


def _assert_no_secret(error: CloudactError) -> None:
    for secret in (TOKEN, CLIENT_SECRET, "S3cr3t-CANARY"):
        assert secret not in error.message and secret not in str(error.to_status())


async def test_a_month_is_read_in_keyset_pages_of_chunks_after_polling(workspace: Workspace, tmp_path: Path) -> None:
    fill_month(workspace.tables, JAN, 60)
    fill_month(workspace.tables, FEB, 30)
    workspace.server.rows_per_chunk = 7
    workspace.server.pending_polls = 2

    files = await download_months(workspace.credential(), [JAN, FEB, MAR], tmp_path, page_records=25)

    # March has no usage: no object, so its slice is replaced with nothing.
    assert sorted(files) == [JAN, FEB]
    january = raw_rows(files[JAN])
    expected = write_export(workspace.tables, JAN, tmp_path / "whole-january.jsonl")
    assert sorted(r["record_id"] for r in january) == sorted(r["record_id"] for r in raw_rows(expected))
    assert len(january) == 60 + 7  # the generated records, the price-change record and two corrections
    # One count statement, then pages of 25 records: January's 67 in 3 pages, February's 37 in 2.
    sent = workspace.statements_sent()
    afters = [next(p["value"] for p in body["parameters"] if p["name"] == "after_record_id") for body in sent[1:]]
    assert len(sent) == 1 + 3 + 2 and afters[0] == "" and afters[3] == ""
    assert afters[0] < afters[1] < afters[2] and afters[3] < afters[4]  # keyset: each page after the last
    assert all(body["disposition"] == "INLINE" and body["format"] == "JSON_ARRAY" for body in sent)
    assert all(body["warehouse_id"] == workspace.credential().config["warehouse_id"] for body in sent)
    # Each statement was polled while PENDING / RUNNING, and its result paged chunk after chunk.
    assert len(workspace.server.api.requests_to(r"/api/2\.0/sql/statements/[\w-]+")) == 2 * len(sent)
    chunks = [s.path.rsplit("/", 1)[1] for s in workspace.server.api.requests_to(r".*/result/chunks/\d+")]
    assert chunks[:3] == ["1", "2", "3"] and len(chunks) == 13


async def test_the_statement_binds_its_month_as_typed_parameters_never_pasted(
    workspace: Workspace, tmp_path: Path
) -> None:
    fill_month(workspace.tables, JAN, 5)

    await download_months(workspace.credential(), [JAN], tmp_path)

    page = workspace.statements_sent()[-1]
    assert "2026-01-01" not in page["statement"] and ":period_start" in page["statement"]
    assert {p["name"]: (p["value"], p["type"]) for p in page["parameters"]} == {
        "period_start": ("2026-01-01", "DATE"),
        "period_end": ("2026-02-01", "DATE"),
        "after_record_id": ("", "STRING"),
    }


async def test_429_is_retried_after_the_retry_after_header(workspace: Workspace, tmp_path: Path) -> None:
    fill_month(workspace.tables, JAN, 5)
    workspace.server.api.fail("POST", _STATEMENTS, 429, retry_after=1, times=2)

    started = time.monotonic()
    files = await download_months(workspace.credential(), [JAN], tmp_path)

    assert time.monotonic() - started >= 2  # two 429s, each waited out for its Retry-After second
    assert len(raw_rows(files[JAN])) == 5 + 7
    statuses = len(workspace.server.api.requests_to(_STATEMENTS))
    assert statuses == 2 + 2  # the count statement's two refused tries, then it and the page


async def test_500_is_retried_and_a_persistent_503_becomes_unavailable(workspace: Workspace, tmp_path: Path) -> None:
    fill_month(workspace.tables, JAN, 5)
    workspace.server.api.fail("GET", r".*/result/chunks/\d+", 500, retry_after=None, times=1)
    workspace.server.rows_per_chunk = 4

    files = await download_months(workspace.credential(), [JAN], tmp_path)
    assert len(raw_rows(files[JAN])) == 12

    workspace.server.api.fail("POST", _STATEMENTS, 503, retry_after=1, times=100)
    with pytest.raises(Unavailable) as caught:
        await download_months(workspace.credential(retry_seconds="2"), [JAN], tmp_path)
    assert caught.value.retryable and "throttling or unavailable" in caught.value.message


async def test_a_rejected_token_is_unauthenticated_and_never_shown(workspace: Workspace, tmp_path: Path) -> None:
    wrong = f"{TOKEN}-revoked"
    with pytest.raises(Unauthenticated) as caught:
        await download_months(workspace.credential({"token": wrong}), [JAN], tmp_path)
    assert "rejected the credential" in caught.value.message
    _assert_no_secret(caught.value)


async def test_a_service_principal_signs_in_with_oauth_m2m(workspace: Workspace, tmp_path: Path) -> None:
    fill_month(workspace.tables, JAN, 5)

    files = await download_months(
        workspace.credential({"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}), [JAN], tmp_path
    )

    assert len(raw_rows(files[JAN])) == 12
    assert workspace.server.api.requests_to(r"/oidc/v1/token")
    with pytest.raises(Unauthenticated) as caught:
        await download_months(
            workspace.credential({"client_id": CLIENT_ID, "client_secret": f"{CLIENT_SECRET}-old"}), [JAN], tmp_path
        )
    assert "OAuth token request was refused" in caught.value.message
    _assert_no_secret(caught.value)


async def test_an_unknown_warehouse_and_missing_system_tables_are_not_found(
    workspace: Workspace, tmp_path: Path
) -> None:
    with pytest.raises(NotFound) as warehouse:
        await download_months(workspace.credential(warehouse_id="0000000000000000"), [JAN], tmp_path)
    assert "warehouse" in warehouse.value.message

    workspace.tables.con.execute(f"DROP TABLE {CATALOG}.billing.usage")
    with pytest.raises(NotFound) as tables:
        await download_months(workspace.credential(), [JAN], tmp_path)
    assert "TABLE_OR_VIEW_NOT_FOUND" in tables.value.message and "not enabled" in tables.value.message


async def test_a_month_without_records_is_no_object(workspace: Workspace, tmp_path: Path) -> None:
    add_price(workspace.tables, "PREMIUM_JOBS_COMPUTE", utc(2020, 1, 1), None, "0.15")
    add_usage(workspace.tables, "r1", "PREMIUM_JOBS_COMPUTE", utc(2026, 2, 3, 4), "2")

    async with DatabricksBillingConnector(workspace.credential()) as source:
        objects = await source.list_objects([JAN, FEB])
        assert await source.list_objects([]) == []

    assert [o.billing_period for o in objects] == [FEB]
    assert objects[0].uri.startswith("databricks://127.0.0.1:") and "usage_month=2026-02" in objects[0].uri
    assert TOKEN not in objects[0].uri


def test_403_invalid_access_token_is_unauthenticated_other_403s_permission_denied() -> None:
    # Databricks refuses a revoked personal access token with 403 "Invalid access token."
    revoked = databricks_connector._translate(dbx_errors.PermissionDenied("Invalid access token."), "ws", 0)
    forbidden = databricks_connector._translate(dbx_errors.PermissionDenied("BODY-MARKER-c91e"), "ws", 0)
    assert isinstance(revoked, Unauthenticated) and isinstance(forbidden, PermissionDenied)
    # What the server said is never repeated: it may be anything the endpoint points at.
    assert "Invalid access token" not in revoked.message and "BODY-MARKER" not in forbidden.message


async def test_a_statement_that_runs_too_long_is_cancelled(workspace: Workspace, tmp_path: Path) -> None:
    fill_month(workspace.tables, JAN, 5)
    workspace.server.pending_polls = 10_000

    started = time.monotonic()
    with pytest.raises(Unavailable) as caught:
        await download_months(workspace.credential(statement_timeout_seconds="10"), [JAN], tmp_path)

    assert 8 <= time.monotonic() - started < 30
    assert "did not finish within 10 s" in caught.value.message
    assert workspace.server.api.requests_to(r".*/cancel")


def test_connector_never_shows_its_secret_in_repr() -> None:
    from cloudact_providers.connector import ResolvedCredential

    credential = ResolvedCredential(
        "c", "databricks", {"host": "https://acme.cloud.databricks.com", "warehouse_id": "abc"}, {"token": TOKEN}
    )
    connector = DatabricksBillingConnector(credential)
    assert TOKEN not in repr(credential) and TOKEN not in repr(vars(connector))


def test_every_month_is_a_date_first_day() -> None:
    # The statements' month bounds: December rolls over to January of the next year.
    from cloudact_providers.databricks.statements import count_parameters, page_parameters

    assert [p["value"] for p in page_parameters(date(2025, 12, 1), "x")][:2] == ["2025-12-01", "2026-01-01"]
    assert [p["value"] for p in count_parameters(date(2025, 11, 1), date(2025, 12, 1))] == ["2025-11-01", "2026-01-01"]
