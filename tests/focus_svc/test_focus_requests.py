"""focus_svc's edge: a lineage names its credential in canonical form only, and dates are bounded."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import grpc
import pytest

from cloudact_shared.auth import ensure_local_pki
from cloudact_shared.errors import InvalidArgument
from cloudact_shared.gen.cloudact.focus.v1 import focus_service_pb2 as pb
from cloudact_shared.gen.cloudact.focus.v1 import focus_service_pb2_grpc as pb_grpc
from cloudact_shared.lineage import Lineage
from cloudact_shared.settings import CloudactSettings
from cloudact_shared.storage.embedded import EmbeddedTableStore
from cloudact_shared.workspace import WorkDirs
from focus_svc.server import FocusServicer, build
from focus_svc.service import FocusConverter
from tests.channels import org_channel

CREDENTIAL = "57175a76-7de3-4c2b-9b1d-1c9f0a6b2e11"
SPELLINGS = [CREDENTIAL.upper(), CREDENTIAL.replace("-", ""), f"urn:uuid:{CREDENTIAL}", f"{{{CREDENTIAL}}}"]


def _lineage(credential_id: str) -> Lineage:
    started = datetime(2025, 2, 3, 4, 5, tzinfo=UTC)
    return Lineage("aws/cost/billing", credential_id, "0b7c2f52-3f4e-4c1a-9d55-6a1f0e2b9c10", started, started.date())


class _Context:
    """The little of a ServicerContext that ConvertToFocus reads."""

    def time_remaining(self) -> float | None:
        return None


@pytest.fixture
def servicer(tmp_path: Path) -> FocusServicer:
    store = EmbeddedTableStore(tmp_path)
    return FocusServicer(
        FocusConverter(store, work_dirs=WorkDirs(tmp_path / "tmp"), batch_rows=1000, memory_limit="256MB")
    )


async def _convert(servicer: FocusServicer, lineage: Any, periods: list[str]) -> None:
    request = pb.ConvertToFocusRequest(org_slug="acme", provider="aws", lineage=lineage, billing_periods=periods)
    await servicer.ConvertToFocus(request, _Context())


@pytest.mark.parametrize("spelling", SPELLINGS)
def test_a_lineage_with_another_spelling_of_the_credential_id_is_refused(spelling: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        Lineage.from_proto(_lineage(spelling).to_proto())

    assert caught.value.reason == "NON_CANONICAL_CREDENTIAL_ID"
    assert [v.field for v in caught.value.violations] == ["lineage.credential_id"]


def test_a_lineage_whose_credential_id_is_no_uuid_is_refused_and_the_canonical_one_read() -> None:
    with pytest.raises(InvalidArgument) as caught:
        Lineage.from_proto(_lineage("cred-1").to_proto())
    assert caught.value.reason == "INVALID_CREDENTIAL_ID"

    assert Lineage.from_proto(_lineage(CREDENTIAL).to_proto()) == _lineage(CREDENTIAL)


@pytest.mark.parametrize("spelling", SPELLINGS)
async def test_convert_to_focus_refuses_a_non_canonical_lineage_before_touching_a_table(
    servicer: FocusServicer, spelling: str
) -> None:
    with pytest.raises(InvalidArgument) as caught:
        await _convert(servicer, _lineage(spelling).to_proto(), ["2025-01"])

    assert caught.value.reason == "NON_CANONICAL_CREDENTIAL_ID"


@pytest.mark.parametrize("period", ["9999-12", "0001-01", "2101-01", "2025-13", "2025-1", "25-01", "2025-01-01"])
async def test_convert_to_focus_refuses_a_month_outside_2000_2100_or_not_yyyy_mm(
    servicer: FocusServicer, period: str
) -> None:
    with pytest.raises(InvalidArgument) as caught:
        await _convert(servicer, _lineage(CREDENTIAL).to_proto(), [period])

    assert [v.field for v in caught.value.violations] == ["billing_periods"]


@pytest.fixture
async def export_stub(tmp_path: Path) -> AsyncIterator[pb_grpc.FocusServiceStub]:
    """A viewer of acme on a real focus_svc."""
    settings = CloudactSettings(data_dir=tmp_path / "data")
    ensure_local_pki(settings)
    built = await build(settings, address="127.0.0.1:0", internal_address="127.0.0.1:0")
    await built.start()
    try:
        async with org_channel(settings, f"127.0.0.1:{built.port}", "acme", role="viewer") as channel:
            yield pb_grpc.FocusServiceStub(channel)
    finally:
        await built.stop()


@pytest.mark.parametrize(
    ("start", "end", "field"),
    [
        ("2025-01-01", "9999-12-31", "end_date"),
        ("9999-12-31", "", "start_date"),
        ("0001-01-01", "", "start_date"),
        ("", "2101-01-01", "end_date"),
    ],
)
async def test_export_focus_dates_outside_2000_2100_are_invalid_argument(
    export_stub: pb_grpc.FocusServiceStub, start: str, end: str, field: str
) -> None:
    request = pb.ExportFocusRequest(org_slug="acme", start_date=start, end_date=end)

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        async for _ in export_stub.ExportFocus(request, timeout=10):
            pass

    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field in (caught.value.details() or "")
