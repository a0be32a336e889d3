"""FocusCost exports end to end: Azurite blob runs with manifest -> ingest_svc -> raw -> focus_svc."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import duckdb
import grpc
import pyarrow.compute as pc
import pytest

from cloudact_providers.azure.connector import AzureBlobConnector
from cloudact_shared.errors import FailedPrecondition
from tests.azure.conftest import Azurite, put_run
from tests.azure.test_azure_focus import FOCUS_10R2, FOCUS_12, _rows, _sum
from tests.azure.test_azure_pipeline import ORG, _credential, _resolved
from tests.conftest import Services
from tests.e2e.helpers import error_reason, read_table, run_pipeline, table_version

SEP_2024 = date(2024, 9, 1)
SCOPE = "/providers/Microsoft.Billing/billingAccounts/8611537"


def _parquet(csv_path: Path, tmp_path: Path) -> bytes:
    out = tmp_path / "part.parquet"
    duckdb.connect().execute(
        f"COPY (SELECT * FROM read_csv('{csv_path}', all_varchar = true)) TO '{out}' (FORMAT parquet)"
    )
    return out.read_bytes()


async def test_focuscost_export_end_to_end(
    services: Services, azurite: Azurite, container: str, tmp_path: Path
) -> None:
    # A Parquet part, as FocusCost exports are usually configured.
    body = _parquet(FOCUS_12, tmp_path)
    await put_run(
        azurite, container, "focus", body, SEP_2024, dataset="FocusCost", data_version="1.2-preview", parquet=True
    )
    credential_id = await _credential(services, azurite, container, "focus")

    _, result = await run_pipeline(services.settings, ORG, credential_id, SEP_2024, provider="azure")

    assert (result.files_read, result.rows_read, result.rows_quarantined) == (1, 10, 0)
    assert result.focus_rows_written == 10 and result.billing_periods == ["2024-09"]
    raw = read_table(services.settings, ORG, "cloud_azure_billing_raw_daily")
    assert set(raw.column("dataset").to_pylist()) == {"focus"}
    assert set(raw.column("source_format").to_pylist()) == {"azure_focus_parquet"}
    focus = read_table(services.settings, ORG, "cost_data_standard_1_3")
    source = _rows(FOCUS_12)
    assert pc.sum(focus.column("BilledCost")).as_py() == _sum(source, "BilledCost")
    assert pc.sum(focus.column("EffectiveCost")).as_py() == _sum(source, "EffectiveCost")
    assert set(focus.column("ServiceProviderName").to_pylist()) == {"Microsoft", "Fabrikam Software"}


async def test_focuscost_beside_cost_details_of_the_same_scope_is_refused(
    services: Services, azurite: Azurite, container: str
) -> None:
    await put_run(
        azurite, container, "focus", FOCUS_10R2.read_bytes(), SEP_2024, dataset="FocusCost", data_version="1.0r2"
    )
    await put_run(azurite, container, "actual", FOCUS_10R2.read_bytes(), SEP_2024, dataset="ActualCost")
    credential_id = await _credential(services, azurite, container, "focus,actual")
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await run_pipeline(services.settings, ORG, credential_id, SEP_2024, provider="azure")
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert error_reason(err.value) == "OVERLAPPING_EXPORTS"
    assert "counted twice" in str(err.value.details())
    assert table_version(services.settings, ORG, "cloud_azure_billing_raw_daily") is None


async def test_connector_focus_rules(azurite: Azurite, container: str) -> None:
    other_scope = "/subscriptions/00000000-1111-2222-3333-444444444444"
    await put_run(azurite, container, "focus", b"a\n", SEP_2024, dataset="FocusCost", data_version="1.0")
    await put_run(azurite, container, "sub-actual", b"b\n", SEP_2024, dataset="ActualCost", scope=other_scope)
    await put_run(azurite, container, "old", b"c\n", SEP_2024, dataset="FocusCost", data_version="1.0-preview(v1)")
    await put_run(azurite, container, "focus2", b"d\n", SEP_2024, dataset="FocusCost", data_version="1.2-preview")
    # Different scopes do not overlap.
    async with AzureBlobConnector(_resolved(azurite, container, "focus,sub-actual")) as source:
        objects = await source.list_objects([SEP_2024])
        assert [o.uri.rsplit("#", 1)[1] for o in objects] == ["dataset=focus", "dataset=actual"]
    async with AzureBlobConnector(_resolved(azurite, container, "focus,focus2")) as source:
        with pytest.raises(FailedPrecondition, match="counted twice"):
            await source.list_objects([SEP_2024])
    async with AzureBlobConnector(_resolved(azurite, container, "old")) as source:
        with pytest.raises(FailedPrecondition, match=r"dataVersion '1.0-preview\(v1\)' is not supported"):
            await source.list_objects([SEP_2024])


async def test_cli_convert_reads_a_focuscost_file(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from cloudact_cli.main import app

    output = tmp_path / "out.parquet"
    run = CliRunner().invoke(app, ["convert", "--provider", "azure", "--input", str(FOCUS_12), "--output", str(output)])
    assert run.exit_code == 0, run.output
    assert "wrote 10 FOCUS rows" in run.output
    assert duckdb.connect().execute(f"SELECT count(DISTINCT InvoiceId) FROM '{output}'").fetchone() == (1,)
