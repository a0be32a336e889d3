"""Azure billing end to end: Azurite blob exports -> ingest_svc -> raw Delta table -> focus_svc (real services)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import grpc
import pyarrow.compute as pc
import pytest

from cloudact_providers.azure.connector import AzureBlobConnector
from cloudact_providers.connector import ResolvedCredential
from cloudact_shared.errors import InvalidArgument, NotFound, Unauthenticated
from cloudact_shared.gen.cloudact.credential.v1 import credential_service_pb2 as cred_pb
from cloudact_shared.gen.cloudact.credential.v1.credential_service_pb2_grpc import CredentialServiceStub
from cloudact_shared.lineage import LINEAGE_COLUMNS
from tests.azure.conftest import EA_ACTUAL, EA_AMORTIZED, FFS_ACTUAL, Azurite, put_run
from tests.channels import org_channel
from tests.conftest import Services
from tests.e2e.helpers import error_reason, read_table, run_pipeline, table_version

ORG = "contoso"
SEP_2023 = date(2023, 9, 1)
RAW = "cloud_azure_billing_raw_daily"
FOCUS = "cost_data_standard_1_3"


async def _credential(
    services: Services, azurite: Azurite, container: str, exports: str, *, key: str | None = None, name: str = "exp"
) -> str:
    connection = azurite.connection_string(key) if key else azurite.connection_string()
    async with org_channel(services.settings, services.settings.credential_address, ORG) as channel:
        response = await CredentialServiceStub(channel).CreateCredential(
            cred_pb.CreateCredentialRequest(
                org_slug=ORG,
                provider="azure",
                display_name=name,
                secret={"connection_string": connection},
                config={"container": container, "export_name": exports, "root_path": "costexports"},
            ),
            timeout=10,
        )
    return str(response.credential.credential_id)


def _resolved(azurite: Azurite, container: str, exports: str, **secret: str) -> ResolvedCredential:
    return ResolvedCredential(
        "c1",
        "azure",
        {
            "container": container,
            "export_name": exports,
            "root_path": "costexports",
            "account_url": azurite.account_url,
        },
        secret or {"connection_string": azurite.connection_string()},
    )


async def test_actual_and_amortized_exports_end_to_end(services: Services, azurite: Azurite, container: str) -> None:
    await put_run(azurite, container, "ea-actual", EA_ACTUAL.read_bytes(), SEP_2023, dataset="ActualCost")
    await put_run(azurite, container, "ea-amortized", EA_AMORTIZED.read_bytes(), SEP_2023, dataset="AmortizedCost")
    credential_id = await _credential(services, azurite, container, "ea-actual,ea-amortized")

    _, result = await run_pipeline(services.settings, ORG, credential_id, SEP_2023, provider="azure")

    assert result.files_read == 2
    assert result.rows_read == 11 + 28 == result.raw_rows_written
    assert result.rows_quarantined == 0
    # All 28 amortized rows + the one actual reservation Purchase row; the other actual rows are
    # already in the amortized data and must not be counted twice.
    assert result.focus_rows_written == 29
    assert result.billing_periods == ["2023-09"]
    raw = read_table(services.settings, ORG, RAW)
    assert sorted(set(raw.column("dataset").to_pylist())) == ["actual", "amortized"]
    assert all(s.startswith(azurite.account_url) and "#" not in s for s in raw.column("source_object").to_pylist())
    focus = read_table(services.settings, ORG, FOCUS)
    for column in LINEAGE_COLUMNS:
        assert focus.column(column).null_count == 0
    assert set(focus.column("x_run_id").to_pylist()) == {result.lineage.run_id}
    assert pc.sum(focus.column("BilledCost")).as_py() == Decimal("3.25") + Decimal("15.797780136169")
    assert pc.sum(focus.column("EffectiveCost")).as_py() == Decimal("16.296932136637")
    assert set(focus.column("ProviderName").to_pylist()) == {"Microsoft"}


async def test_reexport_replaces_the_earlier_run(services: Services, azurite: Azurite, container: str) -> None:
    lines = FFS_ACTUAL.read_bytes().splitlines(keepends=True)
    await put_run(azurite, container, "mtd", b"".join(lines[:6]), SEP_2023, submitted="2023-09-03T06:00:00Z")
    await put_run(azurite, container, "mtd", b"".join(lines), SEP_2023, submitted="2023-09-04T06:00:00Z")
    credential_id = await _credential(services, azurite, container, "mtd")

    _, first = await run_pipeline(services.settings, ORG, credential_id, SEP_2023, provider="azure")
    assert first.rows_read == 27 == first.focus_rows_written

    # The next day's month-to-date run restates the month with fewer rows: it alone is loaded.
    await put_run(azurite, container, "mtd", b"".join(lines[:11]), SEP_2023, submitted="2023-09-05T06:00:00Z")
    _, second = await run_pipeline(services.settings, ORG, credential_id, SEP_2023, provider="azure")
    assert second.rows_read == 10 == second.focus_rows_written
    for table in (RAW, FOCUS):
        rows = read_table(services.settings, ORG, table)
        assert rows.num_rows == 10
        assert set(rows.column("x_run_id").to_pylist()) == {second.lineage.run_id}


async def test_unparsable_values_are_quarantined(services: Services, azurite: Azurite, container: str) -> None:
    text = FFS_ACTUAL.read_text().splitlines()
    text[1] = text[1].replace(",9/2/2023,", ",2023-13-45,", 1)
    text[2] = text[2].replace("0.004379084", "not-a-number", 1)
    await put_run(azurite, container, "bad", ("\n".join(text) + "\n").encode(), SEP_2023)
    credential_id = await _credential(services, azurite, container, "bad")

    _, result = await run_pipeline(services.settings, ORG, credential_id, SEP_2023, provider="azure")

    assert result.rows_read == 27 and result.rows_quarantined == 2 and result.raw_rows_written == 25
    quarantine = read_table(services.settings, ORG, "cloud_azure_billing_quarantine")
    reasons = sorted(quarantine.column("reason").to_pylist())
    assert reasons[0].startswith("unparsable date in Date: '2023-13-45'")
    assert reasons[1] == "unparsable decimal in EffectivePrice: 'not-a-number'"


async def test_missing_columns_fail_the_run(services: Services, azurite: Azurite, container: str) -> None:
    await put_run(azurite, container, "nocost", b"Date,SubscriptionId\n9/2/2023,abc\n", SEP_2023)
    credential_id = await _credential(services, azurite, container, "nocost")
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await run_pipeline(services.settings, ORG, credential_id, SEP_2023, provider="azure")
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "required columns missing" in str(err.value.details())
    assert table_version(services.settings, ORG, RAW) is None


async def test_wrong_account_key_is_unauthenticated(services: Services, azurite: Azurite, container: str) -> None:
    await put_run(azurite, container, "ea-actual", EA_ACTUAL.read_bytes(), SEP_2023)
    wrong = "A" * 86 + "=="
    credential_id = await _credential(services, azurite, container, "ea-actual", key=wrong)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await run_pipeline(services.settings, ORG, credential_id, SEP_2023, provider="azure")
    assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert wrong not in str(err.value.details())


async def test_manifest_naming_a_missing_blob_fails(services: Services, azurite: Azurite, container: str) -> None:
    await put_run(azurite, container, "partial", EA_ACTUAL.read_bytes(), SEP_2023, extra_blobs=["costexports/gone.csv"])
    credential_id = await _credential(services, azurite, container, "partial")
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await run_pipeline(services.settings, ORG, credential_id, SEP_2023, provider="azure")
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert error_reason(err.value) == "MANIFEST_FILE_MISSING"


# -- the connector alone ---------------------------------------------------------------------------
async def test_connector_lists_latest_run_per_export_and_month(
    azurite: Azurite, container: str, tmp_path: Path
) -> None:
    old = await put_run(azurite, container, "exp", b"a\n", SEP_2023, submitted="2023-09-02T00:00:00Z")
    new = await put_run(azurite, container, "exp", b"b\n", SEP_2023, submitted="2023-09-10T00:00:00Z")
    await put_run(azurite, container, "exp", b"c\n", date(2023, 10, 1), submitted="2023-10-02T00:00:00Z")
    # A run without its manifest (still being written) is ignored.
    await put_run(azurite, container, "exp", b"d\n", SEP_2023, submitted="2023-09-11T00:00:00Z", write_manifest=False)
    await put_run(azurite, container, "amort", b"e\n", SEP_2023, dataset="AmortizedCost")
    async with AzureBlobConnector(_resolved(azurite, container, "exp,amort")) as source:
        objects = await source.list_objects([SEP_2023])
        assert objects[0].key == new[0] and old[0] not in [o.key for o in objects]
        assert objects[0].uri.endswith("#dataset=actual") and objects[1].uri.endswith("#dataset=amortized")
        assert objects[0].billing_period == SEP_2023 and objects[0].size > 0
        dest = tmp_path / "part.csv.gz"
        await source.download(objects[0], dest)
        assert dest.stat().st_size == objects[0].size


async def test_connector_errors(azurite: Azurite, container: str) -> None:
    async with AzureBlobConnector(_resolved(azurite, container, "absent")) as source:
        with pytest.raises(NotFound):
            await source.list_objects([SEP_2023])
    async with AzureBlobConnector(_resolved(azurite, "no-such-container", "x")) as source:
        with pytest.raises(NotFound):
            await source.list_objects([SEP_2023])
    wrong = {"connection_string": azurite.connection_string("A" * 86 + "==")}
    async with AzureBlobConnector(_resolved(azurite, container, "x", **wrong)) as source:
        with pytest.raises(Unauthenticated):
            await source.list_objects([SEP_2023])
    with pytest.raises(InvalidArgument):
        AzureBlobConnector(_resolved(azurite, container, "x", connection_string="a", sas_token="b"))


async def test_connector_reads_with_a_sas_token(azurite: Azurite, container: str) -> None:
    from datetime import UTC, datetime, timedelta

    from azure.storage.blob import ContainerSasPermissions, generate_container_sas

    from tests.azure.conftest import ACCOUNT, ACCOUNT_KEY

    await put_run(azurite, container, "exp", b"a\n", SEP_2023)
    sas = generate_container_sas(
        ACCOUNT,
        container,
        account_key=ACCOUNT_KEY,
        permission=ContainerSasPermissions(read=True, list=True),
        expiry=datetime.now(UTC) + timedelta(hours=1),
    )
    async with AzureBlobConnector(_resolved(azurite, container, "exp", sas_token=sas)) as source:
        assert len(await source.list_objects([SEP_2023])) == 1
