"""CUR 2.0 (Parquet and gzip CSV) through the pipeline, and the FOCUS export round trip."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from cloudact_cli.main import export_focus
from cloudact_providers.aws.synthetic import generate_cur2
from cloudact_shared.gen.cloudact.focus.v1 import focus_service_pb2 as focus_pb
from tests.conftest import Services
from tests.e2e.helpers import Delivery, create_credential, read_table, run_pipeline

ORG = "acme"
JAN_2025 = date(2025, 1, 1)


def _upload(s3: Any, bucket: str, root: Path, files: list[Path]) -> None:
    for path in files:
        s3.upload_file(str(path), bucket, path.relative_to(root).as_posix())


@pytest.mark.parametrize("file_format", ["parquet", "csv.gz"])
async def test_cur2_delivery_end_to_end(
    services: Services, s3_client: Any, s3_endpoint: str, tmp_path: Path, file_format: Literal["parquet", "csv.gz"]
) -> None:
    bucket = f"cur2-{file_format.replace('.', '-')}"
    s3_client.create_bucket(Bucket=bucket)
    export = generate_cur2(
        tmp_path / "cur2",
        3_000,
        export_name="prod-cur2",
        billing_period=JAN_2025,
        file_format=file_format,
        rows_per_file=1_000,
        bucket=bucket,
        prefix="exports",
    )
    _upload(s3_client, bucket, tmp_path / "cur2", [*export.data_files, export.manifest_path])
    delivery = Delivery(bucket, "prod-cur2", "exports", "cur2")
    credential_id = await create_credential(services.settings, ORG, delivery, s3_endpoint)

    _, result = await run_pipeline(services.settings, ORG, credential_id, JAN_2025)

    assert result.files_read == len(export.data_files) == 3
    assert result.rows_read == 3_000 == result.raw_rows_written + result.rows_quarantined
    assert result.rows_quarantined == 0
    focus = read_table(services.settings, ORG, "cost_data_standard_1_3")
    # Commitment fee rows also yield their unused-commitment Usage row (CommitmentDiscountStatus Unused).
    unused = pc.sum(pc.equal(focus.column("CommitmentDiscountStatus"), "Unused")).as_py() or 0
    assert focus.num_rows == result.focus_rows_written == 3_000 + unused
    raw = read_table(services.settings, ORG, "cloud_aws_billing_raw_daily")
    assert set(pc.unique(raw.column("line_item_line_item_type")).to_pylist()) >= {
        "Usage",
        "DiscountedUsage",
        "SavingsPlanCoveredUsage",
        "RIFee",
        "Tax",
    }
    assert set(pc.unique(focus.column("ChargeCategory")).to_pylist()) <= {
        "Usage",
        "Purchase",
        "Tax",
        "Credit",
        "Adjustment",
    }
    # The invoice is conserved: summed BilledCost equals summed (net) unblended cost, row types and all.
    raw_billed = sum(
        (Decimal(n) if n is not None else Decimal(u))
        for n, u in zip(
            raw.column("line_item_net_unblended_cost").to_pylist(),
            raw.column("line_item_unblended_cost").to_pylist(),
            strict=True,
        )
        if (n if n is not None else u) is not None
    )
    focus_billed = sum(Decimal(v) for v in focus.column("BilledCost").to_pylist())
    assert focus_billed == raw_billed


async def test_focus_export_round_trips_the_table(
    services: Services, s3_client: Any, s3_endpoint: str, tmp_path: Path
) -> None:
    s3_client.create_bucket(Bucket="export-test")
    export = generate_cur2(
        tmp_path / "cur2",
        500,
        export_name="cur2",
        billing_period=JAN_2025,
        bucket="export-test",
        prefix="exports",
        rows_per_file=500,
    )
    _upload(s3_client, "export-test", tmp_path / "cur2", [*export.data_files, export.manifest_path])
    credential_id = await create_credential(
        services.settings, ORG, Delivery("export-test", "cur2", "exports", "cur2"), s3_endpoint
    )
    await run_pipeline(services.settings, ORG, credential_id, JAN_2025)

    out = tmp_path / "focus.parquet"
    rows = await export_focus(services.caller(ORG), focus_pb.ExportFocusRequest(org_slug=ORG), out)

    exported = pq.read_table(out)
    stored = read_table(services.settings, ORG, "cost_data_standard_1_3")
    assert rows == exported.num_rows == stored.num_rows >= 500
    assert exported.schema.equals(stored.schema)
    assert exported.sort_by("BilledCost").equals(stored.sort_by("BilledCost"))
