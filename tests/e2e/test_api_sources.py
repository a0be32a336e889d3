"""Every provider read through a vendor API runs end to end, from its registration alone.

A provider with a ``demo`` entry point (``ProviderSpec.demo``) serves its vendor's API on loopback with
generated bills; the vendor's real client reads it. Here, as in ``make demo``: a credential through
credential_svc, one pipeline run per month the server holds, then the raw rows carry the run's
lineage and the FOCUS rows the provider's name, with BilledCost conserved from raw to FOCUS and to a
query_svc answer. No provider is named: a new API source is covered by registering its demo source.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pyarrow.compute as pc
import pytest

from cloudact_cli.main import query_costs
from cloudact_providers.registry import known_providers, registration
from cloudact_shared.gen.cloudact.credential.v1 import credential_service_pb2 as cred_pb
from cloudact_shared.gen.cloudact.credential.v1.credential_service_pb2_grpc import CredentialServiceStub
from cloudact_shared.gen.cloudact.query.v1 import query_service_pb2 as query_pb
from tests.channels import org_channel
from tests.conftest import Services
from tests.e2e.helpers import read_table, run_pipeline

ORG = "acme"
API_SOURCES = [slug for slug in known_providers() if registration(slug).demo is not None]


async def _create_credential(services: Services, slug: str, config: dict[str, str], secret: dict[str, str]) -> str:
    async with org_channel(services.settings, services.settings.credential_address, ORG, role="operator") as channel:
        created = await CredentialServiceStub(channel).CreateCredential(
            cred_pb.CreateCredentialRequest(
                org_slug=ORG, provider=slug, display_name=f"{slug}-e2e", secret=secret, config=config
            ),
            timeout=10,
        )
    return str(created.credential.credential_id)


@pytest.mark.timeout(300)
@pytest.mark.parametrize("slug", API_SOURCES)
async def test_an_api_source_runs_end_to_end(slug: str, services: Services, tmp_path: Path) -> None:
    spec = registration(slug)
    demo_source = spec.demo_source()
    assert demo_source is not None
    with demo_source(tmp_path / "work") as account:
        assert account.periods, "a demo source serves at least one month"
        credential_id = await _create_credential(services, slug, dict(account.config), dict(account.secret))
        results = [
            (await run_pipeline(services.settings, ORG, credential_id, period, provider=slug))[1]
            for period in account.periods
        ]

    run_ids = {result.lineage.run_id for result in results}
    assert all(result.raw_rows_written > 0 and result.focus_rows_written > 0 for result in results)
    raw = read_table(services.settings, ORG, spec.raw_schema)
    assert set(raw.column("x_run_id").to_pylist()) <= run_ids and raw.num_rows > 0
    assert set(raw.column("x_credential_id").to_pylist()) == {credential_id}
    focus = read_table(services.settings, ORG, "cost_data_standard_1_3")
    assert set(focus.column("x_source_provider").to_pylist()) == {slug}
    assert set(focus.column("x_credential_id").to_pylist()) == {credential_id}
    assert focus.num_rows == sum(result.focus_rows_written for result in results)

    billed = sum(Decimal(str(v)) for v in focus.column("BilledCost").to_pylist() if v is not None)
    start = pc.min(focus.column("ChargePeriodStart")).as_py().date()
    end = pc.max(focus.column("ChargePeriodStart")).as_py().date()
    question = query_pb.QueryCostsRequest(
        org_slug=ORG,
        start_date=start.isoformat(),
        end_date=end.isoformat(),
        grain=query_pb.TIME_GRAIN_TOTAL,
        metrics=[query_pb.COST_METRIC_BILLED_COST],
        group_by=["x_source_provider"],
    )
    answer = await query_costs(services.caller(ORG), question)
    assert sum(Decimal(row.amounts["BilledCost"]) for row in answer.rows) == billed
