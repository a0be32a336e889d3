"""Datadog end to end: an estimated month, then the same month once final, through the four services."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from cloudact_providers.datadog.synthetic import month_elements
from cloudact_shared.gen.cloudact.credential.v1 import credential_service_pb2 as cred_pb
from cloudact_shared.gen.cloudact.credential.v1.credential_service_pb2_grpc import CredentialServiceStub
from tests.channels import org_channel
from tests.conftest import Services
from tests.datadog.conftest import API_KEY, APPLICATION_KEY, Datadog, months_back
from tests.e2e.helpers import read_table, run_pipeline

ORG = "acme"
RAW = "cloud_datadog_billing_raw_daily"
FOCUS = "cost_data_standard_1_3"


async def _credential(services: Services, datadog: Datadog) -> str:
    async with org_channel(services.settings, services.settings.credential_address, ORG, role="operator") as channel:
        created = await CredentialServiceStub(channel).CreateCredential(
            cred_pb.CreateCredentialRequest(
                org_slug=ORG,
                provider="datadog",
                display_name="datadog-parent",
                secret={"api_key": API_KEY, "application_key": APPLICATION_KEY},
                config={"api_url": datadog.running.url},
            ),
            timeout=10,
        )
    return str(created.credential.credential_id)


def _billed(elements: list[dict[str, Any]]) -> Decimal:
    """What FOCUS must sum to: every charge but Datadog's per-product totals."""
    charges = [c for e in elements for c in e["attributes"]["charges"] if c["charge_type"] != "total"]
    return sum((Decimal(str(c["cost"])) for c in charges), Decimal(0))


async def test_a_month_read_as_an_estimate_is_replaced_by_its_final_cost(services: Services, datadog: Datadog) -> None:
    month = months_back(1)  # the previous month: estimated until Datadog publishes it (by the 16th)
    estimate, final = month_elements(month, orgs=3, estimate=True), month_elements(month, orgs=3)
    datadog.server.hold(month, estimate, final=False)
    credential_id = await _credential(services, datadog)

    _, first = await run_pipeline(services.settings, ORG, credential_id, month, provider="datadog")
    focus_first = read_table(services.settings, ORG, FOCUS).to_pylist()

    assert first.raw_rows_written == 36 and first.focus_rows_written == 24  # 12 "total" charges stay in raw
    assert {r["x_operation"] for r in focus_first} == {"estimated_cost"}
    assert all(r["ChargeDescription"].endswith("(estimated month to date)") for r in focus_first)
    assert sum(r["BilledCost"] for r in focus_first) == _billed(estimate)

    datadog.server.finalize(month, final)
    _, second = await run_pipeline(services.settings, ORG, credential_id, month, provider="datadog")
    raw = read_table(services.settings, ORG, RAW).to_pylist()
    focus = read_table(services.settings, ORG, FOCUS).to_pylist()

    # The month's slice is the final answer only: no estimate row is left beside it, none is added to it.
    assert {r["cost_source"] for r in raw} == {"historical_cost"} and len(raw) == 36
    assert {r["x_operation"] for r in focus} == {"historical_cost"} and len(focus) == 24
    assert {r["x_run_id"] for r in focus} == {second.lineage.run_id}
    assert not any("estimated" in r["ChargeDescription"] for r in focus)
    assert sum(r["BilledCost"] for r in focus) == _billed(final) != _billed(estimate)
    assert {r["SubAccountName"] for r in focus} == {"Acme Corp", "Acme Payments", "Acme Analytics EU"}
    calls = [s.path.rsplit("/", 1)[1] for s in datadog.server.api.seen]
    assert calls == ["historical_cost", "estimated_cost", "historical_cost"]
