"""MongoDB Atlas end to end: a pending invoice's month, then the closed invoice, through the four services."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from cloudact_providers.mongodb.synthetic import ORG_ID, invoice
from cloudact_shared.gen.cloudact.credential.v1 import credential_service_pb2 as cred_pb
from cloudact_shared.gen.cloudact.credential.v1.credential_service_pb2_grpc import CredentialServiceStub
from tests.channels import org_channel
from tests.conftest import Services
from tests.e2e.helpers import read_table, run_pipeline
from tests.mongodb.conftest import CLIENT_ID, CLIENT_SECRET, Atlas

ORG = "acme"
MONTH = date(2025, 4, 1)


async def _credential(services: Services, atlas: Atlas) -> str:
    async with org_channel(services.settings, services.settings.credential_address, ORG, role="operator") as channel:
        created = await CredentialServiceStub(channel).CreateCredential(
            cred_pb.CreateCredentialRequest(
                org_slug=ORG,
                provider="mongodb",
                display_name="atlas-org",
                secret={"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET},
                config={"org_id": ORG_ID, "api_url": atlas.running.url},
            ),
            timeout=10,
        )
    return str(created.credential.credential_id)


async def test_a_pending_invoice_is_replaced_whole_by_the_closed_one(services: Services, atlas: Atlas) -> None:
    pending, closed = invoice(MONTH, status="PENDING", days=2), invoice(MONTH, status="CLOSED", days=30)
    atlas.server.hold(pending)
    credential_id = await _credential(services, atlas)

    _, first = await run_pipeline(services.settings, ORG, credential_id, MONTH, provider="mongodb")
    atlas.server.hold(closed)  # the same invoice id, closed at the end of the cycle
    _, second = await run_pipeline(services.settings, ORG, credential_id, MONTH, provider="mongodb")

    assert first.raw_rows_written == len(pending["lineItems"]) + 1  # and the invoice's own row
    raw = read_table(services.settings, ORG, "cloud_mongodb_billing_raw_daily").to_pylist()
    focus = read_table(services.settings, ORG, "cost_data_standard_1_3").to_pylist()
    assert {r["invoice_status"] for r in raw} == {"CLOSED"} and len(raw) == len(closed["lineItems"]) + 1
    assert {r["x_run_id"] for r in focus} == {second.lineage.run_id}
    # The month is the closed invoice, to the cent: its line items net of discounts and its sales tax.
    assert sum(r["BilledCost"] for r in focus) == Decimal(closed["amountBilledCents"]) / 100
    assert {r["InvoiceId"] for r in focus} == {closed["id"]}
    assert {r["ChargeCategory"] for r in focus} == {"Usage", "Credit", "Tax"}
    # Projects are sub-accounts; the credit and the tax belong to the organization, to no project.
    assert {r["SubAccountName"] for r in focus} == {"payments-prod", "analytics", "identity", None}
