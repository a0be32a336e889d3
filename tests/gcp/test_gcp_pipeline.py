"""GCP end to end: BigQuery export (bqemulator) -> credential_svc -> ingest_svc -> raw -> focus_svc -> FOCUS."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import grpc
import pyarrow as pa
import pytest

from cloudact_cli.main import export_focus
from cloudact_providers.gcp.synthetic import nested_rows
from cloudact_shared.gen.cloudact.credential.v1 import credential_service_pb2 as cred_pb
from cloudact_shared.gen.cloudact.credential.v1.credential_service_pb2_grpc import CredentialServiceStub
from cloudact_shared.gen.cloudact.focus.v1 import focus_service_pb2 as focus_pb
from cloudact_shared.lineage import LINEAGE_COLUMNS
from tests.channels import org_channel
from tests.conformance.validator import assert_conforms
from tests.conftest import Services
from tests.e2e.helpers import error_reason, read_table, run_pipeline
from tests.gcp.conftest import ExportTable

ORG = "acme"
MAR_2024 = date(2024, 3, 1)
RAW = "cloud_gcp_billing_raw_daily"
FOCUS = "cost_data_standard_1_3"
# Set by the pipeline per run; everything else is the export's content.
_PER_RUN = {*LINEAGE_COLUMNS, "ingestion_date", "source_object"}


async def _credential(services: Services, export: ExportTable, key: dict[str, str], **config: str) -> str:
    async with org_channel(services.settings, services.settings.credential_address, ORG) as channel:
        created = await CredentialServiceStub(channel).CreateCredential(
            cred_pb.CreateCredentialRequest(
                org_slug=ORG,
                provider="gcp",
                display_name=f"gcp-{export.table.dataset_id}",
                secret=key,
                config=export.config(**config),
            ),
            timeout=10,
        )
    return str(created.credential.credential_id)


def _content(table: pa.Table) -> list[dict[str, Any]]:
    rows = table.drop_columns([c for c in table.column_names if c in _PER_RUN]).to_pylist()
    return sorted(rows, key=repr)


def _billed(settings: Any) -> Decimal:
    return sum((Decimal(v) for v in read_table(settings, ORG, FOCUS).column("BilledCost").to_pylist()), Decimal(0))


async def test_export_month_end_to_end_with_lineage_late_rows_and_idempotent_reruns(
    services: Services, export_table: ExportTable, service_account_key: dict[str, str]
) -> None:
    export_table.load(nested_rows())
    credential_id = await _credential(services, export_table, service_account_key)

    _, first = await run_pipeline(services.settings, ORG, credential_id, MAR_2024, provider="gcp")
    raw_first = read_table(services.settings, ORG, RAW)
    _, second = await run_pipeline(services.settings, ORG, credential_id, MAR_2024, provider="gcp")
    raw_second = read_table(services.settings, ORG, RAW)

    kinds = len(nested_rows())
    for result in (first, second):
        assert (result.files_read, result.rows_read, result.raw_rows_written, result.rows_quarantined) == (
            1,
            kinds,
            kinds,
            0,
        )
        # The promotion becomes a Credit row; CUD and sustained use credits net into their usage row.
        assert result.focus_rows_written == kinds + 1
    assert _content(raw_second) == _content(raw_first), "a re-run must rewrite the same month, not add to it"
    assert _billed(services.settings) == Decimal("12.4")  # gross 19.9 and credits -7.5, once

    for table in (raw_second, read_table(services.settings, ORG, FOCUS)):
        assert set(table.column("x_run_id").to_pylist()) == {second.lineage.run_id}
        assert set(table.column("x_credential_id").to_pylist()) == {credential_id}
        assert set(table.column("x_pipeline_id").to_pylist()) == {"gcp/cost/billing"}
        assert None not in table.column("x_ingested_at").to_pylist()
        assert None not in table.column("x_pipeline_run_date").to_pylist()
    assert set(read_table(services.settings, ORG, FOCUS).column("x_source_provider").to_pylist()) == {"gcp"}
    (source,) = set(raw_second.column("source_object").to_pylist())
    assert source.startswith(f"bigquery://{export_table.emulator.project}/") and "invoice.month=202403" in source

    # A correction for March exported after the month closed: the next run reads it, once.
    late = {**nested_rows()[0], "export_time": datetime(2024, 4, 9, 3, tzinfo=UTC), "cost": 0.75, "credits": []}
    export_table.load([late])
    _, third = await run_pipeline(services.settings, ORG, credential_id, MAR_2024, provider="gcp")

    assert third.rows_read == kinds + 1 and third.focus_rows_written == kinds + 2
    assert read_table(services.settings, ORG, RAW).num_rows == kinds + 1
    assert _billed(services.settings) == Decimal("12.4") + Decimal("0.75")


async def test_missing_table_fails_the_run_over_grpc_and_writes_nothing(
    services: Services, export_table: ExportTable, service_account_key: dict[str, str]
) -> None:
    credential_id = await _credential(services, export_table, service_account_key, table="gcp_billing_export_v1_GONE")

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await run_pipeline(services.settings, ORG, credential_id, MAR_2024, provider="gcp")

    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    assert error_reason(caught.value) == "SOURCE_NOT_FOUND"
    assert "gcp_billing_export_v1_GONE" in (caught.value.details() or "")
    assert not (services.settings.data_dir / f"{ORG}_prod" / RAW).exists()


@pytest.mark.timeout(960)
async def test_focus_output_of_the_bigquery_path_conforms(
    services: Services, export_table: ExportTable, service_account_key: dict[str, str], tmp_path: Path
) -> None:
    export_table.load(nested_rows())
    credential_id = await _credential(services, export_table, service_account_key)
    await run_pipeline(services.settings, ORG, credential_id, MAR_2024, provider="gcp")
    output = tmp_path / "focus.parquet"

    rows = await export_focus(services.caller(ORG), focus_pb.ExportFocusRequest(org_slug=ORG), output)

    assert rows == len(nested_rows()) + 1
    assert_conforms(output)
