"""The Snowflake connector: the real snowflake-connector-python against fakesnow on loopback.

The server checks passwords, key-pair JWTs and the roles' grants on the billing schemas, as Snowflake
does, so the view-or-fallback choice is made on Snowflake's own answer to a role that may not read
the FOCUS view (002003 "does not exist or not authorized").
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from pathlib import Path

import pytest

from cloudact_providers.apirows import JsonLinesFile, Record
from cloudact_providers.snowflake import connector as snowflake_connector
from cloudact_providers.snowflake import synthetic, views
from cloudact_providers.snowflake.connector import SnowflakeBillingConnector
from cloudact_providers.snowflake.loopback import BILLING_ROLE
from cloudact_shared.errors import CloudactError, FailedPrecondition, NotFound, PermissionDenied, Unauthenticated
from tests.snowflake.conftest import (
    DEC,
    FEB,
    JAN,
    NO_GRANTS_ROLE,
    PASSWORD,
    Organization,
    download_months,
    focus_rows,
    raw_rows,
)


def _assert_no_secret(error: CloudactError, *secrets: str) -> None:
    for secret in (PASSWORD, "S3cr3t-CANARY", *secrets):
        assert secret not in error.message and secret not in str(error.to_status())


def _billed(rows: list[dict[str, object]]) -> Decimal:
    return sum((Decimal(str(r["BilledCost"])) for r in rows), Decimal(0))


async def test_a_role_that_reads_the_focus_view_gets_it_from_2026_and_usage_before(
    organization: Organization, tmp_path: Path
) -> None:
    async with SnowflakeBillingConnector(organization.credential(role=BILLING_ROLE)) as source:
        objects = await source.list_objects([DEC, JAN, FEB])

    # February holds no rows: no object, so its slice is replaced with nothing.
    assert [(o.billing_period, o.uri) for o in objects] == [
        (DEC, f"snowflake://acme-org/{views.USAGE_VIEW}?billing_period=2025-12"),
        (JAN, f"snowflake://acme-org/{views.FOCUS_VIEW}?billing_period=2026-01"),
    ]
    files = await download_months(organization.credential(role=BILLING_ROLE), [DEC, JAN], tmp_path)
    december, january = raw_rows(files[DEC]), raw_rows(files[JAN])
    assert {r["source_format"] for r in december} == {"snowflake_usage_in_currency_jsonl"}
    assert {r["source_format"] for r in january} == {"snowflake_focus_jsonl"}
    assert len(january) == len(synthetic.charges(JAN)) and all(r["_quarantine_reason"] is None for r in january)
    # The view's quoted mixed-case columns came through as Snowflake spells them.
    assert january[0]["focus_billed_cost"] is not None and january[0]["focus_x_service_level"] is not None
    assert _billed(focus_rows([files[JAN]], tmp_path)) == sum((c.cost for c in synthetic.charges(JAN)), Decimal(0))


async def test_a_role_without_the_view_falls_back_and_the_month_costs_the_same(
    organization: Organization, tmp_path: Path
) -> None:
    # FINOPS's default role reads ORGANIZATION_USAGE but not SNOWFLAKE.BILLING.
    via_usage = await download_months(organization.credential(), [JAN], tmp_path / "usage")
    via_focus = await download_months(organization.credential(role=BILLING_ROLE), [JAN], tmp_path / "focus")

    assert via_usage[JAN].name.endswith("snowflake-usage-in-currency-daily-2026-01.jsonl")
    assert via_focus[JAN].name.endswith("snowflake-focus-cost-usage-2026-01.jsonl")
    usage, focus = focus_rows([via_usage[JAN]], tmp_path / "usage"), focus_rows([via_focus[JAN]], tmp_path / "focus")
    assert len(usage) == len(focus) == len(synthetic.charges(JAN))
    assert _billed(usage) == _billed(focus)

    # Per account and service, whichever view it came from.
    def by_service(rows: list[dict[str, object]]) -> dict[tuple[object, object], Decimal]:
        totals: dict[tuple[object, object], Decimal] = {}
        for r in rows:
            key = (r["SubAccountId"], r["ServiceName"])
            totals[key] = totals.get(key, Decimal(0)) + Decimal(str(r["BilledCost"]))
        return totals

    assert by_service(usage) == by_service(focus)


async def test_source_focus_refuses_a_role_without_the_view_and_a_month_before_its_history(
    organization: Organization, tmp_path: Path
) -> None:
    with pytest.raises(PermissionDenied) as refused:
        await download_months(organization.credential(source="focus"), [JAN], tmp_path)
    assert "ORGANIZATION_BILLING_VIEWER" in refused.value.message

    with pytest.raises(FailedPrecondition) as early:
        await download_months(organization.credential(role=BILLING_ROLE, source="focus"), [DEC], tmp_path)
    assert "no month before 2026-01" in early.value.message

    forced = await download_months(
        organization.credential(role=BILLING_ROLE, source="usage_in_currency"), [JAN], tmp_path
    )
    assert {r["source_format"] for r in raw_rows(forced[JAN])} == {"snowflake_usage_in_currency_jsonl"}


async def test_a_wrong_password_is_unauthenticated_and_never_shown(organization: Organization, tmp_path: Path) -> None:
    wrong = f"{PASSWORD}-old"
    with pytest.raises(Unauthenticated) as caught:
        await download_months(organization.credential(secret={"password": wrong}), [JAN], tmp_path)
    assert "rejected the credential" in caught.value.message and "390100" in caught.value.message
    _assert_no_secret(caught.value, wrong)


async def test_a_key_pair_signs_in_and_a_foreign_key_is_refused(organization: Organization, tmp_path: Path) -> None:
    from cloudact_providers.snowflake.loopback import key_pair

    files = await download_months(
        organization.credential("KEYED", {"private_key": organization.private_key}, role=BILLING_ROLE), [JAN], tmp_path
    )
    assert len(raw_rows(files[JAN])) == len(synthetic.charges(JAN))

    foreign, _ = key_pair()
    with pytest.raises(Unauthenticated) as caught:
        await download_months(organization.credential("KEYED", {"private_key": foreign}), [JAN], tmp_path)
    assert "390144" in caught.value.message
    _assert_no_secret(caught.value, foreign[40:80])


async def test_a_role_not_granted_and_a_role_without_organization_usage(
    organization: Organization, tmp_path: Path
) -> None:
    with pytest.raises(PermissionDenied) as not_granted:
        await download_months(organization.credential(role="ACCOUNTADMIN"), [JAN], tmp_path)
    assert "not granted" in not_granted.value.message

    with pytest.raises(NotFound) as no_usage:
        await download_months(organization.credential(role=NO_GRANTS_ROLE), [DEC], tmp_path)
    assert views.USAGE_VIEW in no_usage.value.message and "ORGADMIN" in no_usage.value.message


async def test_a_month_is_written_a_page_at_a_time(
    organization: Organization, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pages: list[int] = []

    class CountingFile(JsonLinesFile):
        def write(self, records: Iterable[Record]) -> None:
            page = list(records)
            pages.append(len(page))
            super().write(page)

    monkeypatch.setattr(snowflake_connector, "JsonLinesFile", CountingFile)
    files = await download_months(organization.credential(role=BILLING_ROLE), [DEC, JAN], tmp_path, page_rows=7)

    rows = sum(len(synthetic.charges(period)) for period in (DEC, JAN))
    assert sum(pages) == rows and max(pages) == 7 and len(pages) == -(-250 // 7) * 2
    for period, path in files.items():
        lines = path.read_text().splitlines()
        assert len(lines) == len(synthetic.charges(period))
    # Usage rows carry their day's rate, joined in Snowflake: one per day, account and usage type.
    december = raw_rows(files[DEC])
    compute = next(
        r for r in december if r["service_type"] == "WAREHOUSE_METERING" and r["account_locator"] == "XY12345"
    )
    assert compute["rate_sheet_effective_rate"] == Decimal("2.61") and compute["rate_sheet_rates"] == 1


def test_no_secret_in_the_connector_or_its_credential_repr(organization: Organization) -> None:
    credential = organization.credential()
    connector = SnowflakeBillingConnector(credential)
    assert PASSWORD not in repr(credential) and PASSWORD not in repr(vars(connector))
