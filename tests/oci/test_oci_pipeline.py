"""OCI cost reports end to end: fake Object Storage (real SDK, real signing) -> services -> FOCUS."""

from __future__ import annotations

import gzip
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal

import grpc
import pytest

from cloudact_cli.oci_object_storage import ApiKey, FakeObjectStorage
from cloudact_shared.gen.cloudact.credential.v1 import credential_service_pb2 as cred_pb
from cloudact_shared.gen.cloudact.credential.v1.credential_service_pb2_grpc import CredentialServiceStub
from cloudact_shared.settings import CloudactSettings
from tests.channels import org_channel
from tests.conftest import Services
from tests.e2e.helpers import error_reason, read_table, run_pipeline
from tests.oci.conftest import FOCUS_FIXTURE, FOCUS_PREFIX, PREFIX, SAMPLE, focus_rows, sample_rows

ORG = "acme"
NOV_2023 = date(2023, 11, 1)


async def _credential(
    settings: CloudactSettings, name: str, key: ApiKey, storage: FakeObjectStorage, **config: str
) -> str:
    async with org_channel(settings, settings.credential_address, ORG) as channel:
        created = await CredentialServiceStub(channel).CreateCredential(
            cred_pb.CreateCredentialRequest(
                org_slug=ORG,
                provider="oci",
                display_name=name,
                secret=key.secret(),
                config={"endpoint": storage.endpoint, "max_attempts": "1", **config},
            ),
            timeout=10,
        )
    return str(created.credential.credential_id)


async def test_cost_reports_load_once_per_run_with_lineage_and_conserved_cost(
    services: Services, api_key: ApiKey, object_storage: FakeObjectStorage
) -> None:
    object_storage.put(
        api_key.tenancy,
        f"{PREFIX}0000000030000269.csv.gz",
        gzip.compress(SAMPLE.read_bytes()),
        created=datetime(2023, 11, 20, tzinfo=UTC),
    )
    credential_id = await _credential(services.settings, "oci-prod", api_key, object_storage)

    _, first = await run_pipeline(services.settings, ORG, credential_id, NOV_2023, provider="oci")
    _, second = await run_pipeline(services.settings, ORG, credential_id, NOV_2023, provider="oci")

    rows = len(sample_rows())
    for result in (first, second):
        assert result.files_read == 1
        assert result.rows_read == rows == result.raw_rows_written + result.rows_quarantined
        assert result.rows_quarantined == 0
        assert result.focus_rows_written == rows
    focus = read_table(services.settings, ORG, "cost_data_standard_1_3")
    assert focus.num_rows == rows, "a re-run must replace the month, not add to it"
    assert set(focus.column("x_run_id").to_pylist()) == {second.lineage.run_id}
    assert set(focus.column("x_source_provider").to_pylist()) == {"oci"}
    # FOCUS decimals keep 12 places; OCI writes more, so each row's cost is rounded to 12 places.
    billed = sum(Decimal(v) for v in focus.column("BilledCost").to_pylist())
    rounded = (Decimal(r["cost/myCost"] or "0").quantize(Decimal("1e-12"), ROUND_HALF_UP) for r in sample_rows())
    assert billed == sum(rounded)


async def test_a_key_oci_does_not_know_is_unauthenticated_over_grpc(
    services: Services, object_storage: FakeObjectStorage, api_key: ApiKey
) -> None:
    object_storage.put(
        api_key.tenancy,
        f"{PREFIX}0000000030000269.csv.gz",
        gzip.compress(SAMPLE.read_bytes()),
        created=datetime(2023, 11, 20, tzinfo=UTC),
    )
    stranger = ApiKey()  # same tenancy and user, but a key the fake never accepted
    credential_id = await _credential(services.settings, "oci-wrong-key", stranger, object_storage)

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await run_pipeline(services.settings, ORG, credential_id, NOV_2023, provider="oci")

    assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert error_reason(caught.value) == "SOURCE_UNAUTHENTICATED"
    assert "BEGIN" not in (caught.value.details() or "")  # no key material in the message


async def test_focus_reports_upgrade_through_the_services_and_load_once(
    services: Services, api_key: ApiKey, object_storage: FakeObjectStorage
) -> None:
    report = gzip.compress(FOCUS_FIXTURE.read_bytes())
    object_storage.put(api_key.tenancy, f"{FOCUS_PREFIX}2025/01/14/0001.csv.gz", report)
    # The same report delivered again under another name (a re-delivery): read, but counted once.
    object_storage.put(api_key.tenancy, f"{FOCUS_PREFIX}2025/01/15/0007.csv.gz", report)
    credential_id = await _credential(services.settings, "oci-focus", api_key, object_storage, report="focus")

    _, first = await run_pipeline(services.settings, ORG, credential_id, date(2025, 1, 1), provider="oci")
    _, second = await run_pipeline(services.settings, ORG, credential_id, date(2025, 1, 1), provider="oci")

    lines = focus_rows()
    for result in (first, second):
        assert result.files_read == 2 and result.rows_read == 2 * len(lines)
        assert result.raw_rows_written == 2 * len(lines) and result.rows_quarantined == 0
        # Each line once; the corrected line superseded by its correction.
        assert result.focus_rows_written == len(lines) - 1
    raw = read_table(services.settings, ORG, "cloud_oci_billing_raw_daily")
    assert raw.num_rows == 2 * len(lines), "a re-run must replace the month, not add to it"
    assert set(raw.column("source_format").to_pylist()) == {"oci_focus_csv"}
    focus = read_table(services.settings, ORG, "cost_data_standard_1_3")
    assert focus.num_rows == len(lines) - 1
    assert set(focus.column("x_run_id").to_pylist()) == {second.lineage.run_id}
    assert set(focus.column("ProviderName").to_pylist()) == {"OCI"}
    assert focus.column("ChargeClass").to_pylist().count("Correction") == 2
    corrected = "d2c8e7a1f0b34f6e9a51c3b7e2f40a10"
    expected = sum(
        Decimal(r["BilledCost"]).quantize(Decimal("1e-12")) for r in lines if r["oci_ReferenceNumber"] != corrected
    )
    assert sum(Decimal(v) for v in focus.column("BilledCost").to_pylist()) == expected
