"""What the Azure connector lets out: no SAS token in object URIs, progress, errors or raw rows; no
response body in errors; a bad service principal named as such."""

from __future__ import annotations

import functools
import uuid
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from azure.storage.blob import ContainerSasPermissions, generate_container_sas

from cloudact_providers.azure.connector import AzureBlobConnector
from cloudact_providers.connector import ResolvedCredential
from cloudact_providers.registry import validate_credential
from cloudact_shared.errors import CloudactError, InvalidArgument, NotFound, Unavailable
from cloudact_shared.lineage import Lineage
from cloudact_shared.storage.embedded import EmbeddedTableStore
from cloudact_shared.workspace import WorkDirs
from ingest_svc.adapters.focus import ConversionResult
from ingest_svc.adapters.runs import SqliteRunLog
from ingest_svc.service import PipelineRunner, Progress, RunRequest
from tests.azure.conftest import ACCOUNT, ACCOUNT_KEY, EA_ACTUAL, Azurite, put_run
from tests.providers.loopback import BODY_MARKER, GARBAGE, GARBAGE_MARKER, answering, closed_port, marker_bodies

SEP_2023 = date(2023, 9, 1)
# A SAS token's parts that must never be shown or stored (sig is the secret; the rest describe it).
_SAS_PARTS = ("sig=", "se=", "sv=", "sp=", "%3D")


def _sas(container: str) -> str:
    return generate_container_sas(
        ACCOUNT,
        container,
        account_key=ACCOUNT_KEY,
        permission=ContainerSasPermissions(read=True, list=True),
        expiry=datetime.now(UTC) + timedelta(hours=1),
    )


def _credential(account_url: str, container: str, sas: str, **config: str) -> ResolvedCredential:
    base = {"container": container, "export_name": "exp", "root_path": "costexports", "account_url": account_url}
    return ResolvedCredential(str(uuid.uuid4()), "azure", {**base, **config}, {"sas_token": sas})


def _assert_no_sas(text: str, sas: str) -> None:
    signature = sas.split("sig=", 1)[1].split("&", 1)[0]
    assert signature not in text and "sig=" not in text, text
    assert not any(part in text for part in _SAS_PARTS[1:4]), text


async def test_object_uris_and_errors_never_carry_the_sas_token(
    azurite: Azurite, container: str, tmp_path: Path
) -> None:
    await put_run(azurite, container, "exp", b"a,b\n1,2\n", SEP_2023)
    sas = _sas(container)
    async with AzureBlobConnector(_credential(azurite.account_url, container, sas)) as source:
        (obj,) = await source.list_objects([SEP_2023])
        _assert_no_sas(obj.uri, sas)
        assert obj.uri.startswith(f"{azurite.account_url}/{container}/costexports/exp/")
        assert obj.uri.partition("#")[0].endswith(".csv.gz") and "?" not in obj.uri
        await source.download(obj, tmp_path / "part.csv.gz")  # the token still authorizes the reads
        with pytest.raises(NotFound) as missing:
            await source.list_objects([date(2023, 10, 1)])
    _assert_no_sas(str(missing.value), sas)
    assert f"{azurite.account_url}/{container}/costexports/" in str(missing.value)


async def test_an_unreachable_endpoint_error_carries_no_sas_token() -> None:
    sas = _sas("exports")
    credential = _credential(f"http://127.0.0.1:{closed_port()}/acct", "exports", sas, max_attempts="1")
    with pytest.raises(Unavailable) as caught:
        async with AzureBlobConnector(credential) as source:
            await source.list_objects([SEP_2023])
    _assert_no_sas(str(caught.value), sas)
    assert "http://127.0.0.1:" in str(caught.value) and "/acct/exports/costexports/" in str(caught.value)


@pytest.mark.parametrize("payload", [GARBAGE, *marker_bodies(400), *marker_bodies(500), *marker_bodies(403)])
async def test_an_endpoint_answering_garbage_or_an_error_body_is_not_echoed(payload: bytes) -> None:
    sas = _sas("exports")
    with answering(payload) as endpoint, pytest.raises(CloudactError) as caught:
        async with AzureBlobConnector(_credential(f"{endpoint}/acct", "exports", sas, max_attempts="1")) as source:
            await source.list_objects([SEP_2023])
    message = str(caught.value)
    assert GARBAGE_MARKER not in message and BODY_MARKER not in message and "10.0.0.7" not in message
    _assert_no_sas(message, sas)


@pytest.mark.parametrize(
    ("secret", "field"),
    [
        ({"tenant_id": "contoso tenant/../x", "client_id": "app", "client_secret": "pr1ncipal-CANARY"}, "tenant_id"),
        (
            {"tenant_id": "72f988bf-86f1-41af-91ab-2d7cd011db47", "client_id": "", "client_secret": "pr1ncipal-CANARY"},
            "client_id",
        ),
        ({"tenant_id": "72f988bf-86f1-41af-91ab-2d7cd011db47", "client_id": "app"}, "client_secret"),
    ],
)
async def test_a_bad_service_principal_is_named_as_such(secret: dict[str, str], field: str) -> None:
    config = {"container": "c", "export_name": "e", "account_url": "https://acme.blob.core.windows.net"}
    with pytest.raises(InvalidArgument) as caught:
        async with AzureBlobConnector(ResolvedCredential("c-sp", "azure", config, secret)):
            pass
    assert [v.field for v in caught.value.violations] == [f"credential.secret.{field}"]
    assert "connection_string" not in str(caught.value)
    assert all(value not in str(caught.value) for value in secret.values() if len(value) > 4)


# -- through the pipeline runner: progress and stored rows -------------------------------------------
class _Credentials:
    def __init__(self, credential: ResolvedCredential) -> None:
        self._credential = credential

    async def decrypt(self, org_slug: str, credential_id: str, *, timeout: float) -> ResolvedCredential:
        return self._credential


class _Focus:
    async def convert(
        self, org_slug: str, provider: str, lineage: Lineage, periods: Sequence[date], *, timeout: float
    ) -> ConversionResult:
        return ConversionResult(0, 0, 0)


async def test_progress_and_raw_rows_carry_no_sas_token(azurite: Azurite, container: str, tmp_path: Path) -> None:
    await put_run(azurite, container, "exp", EA_ACTUAL.read_bytes(), SEP_2023)
    sas = _sas(container)
    credential = _credential(azurite.account_url, container, sas)
    store = EmbeddedTableStore(tmp_path / "data")
    runs = await SqliteRunLog.open(tmp_path / "runs.sqlite")
    runner = PipelineRunner(
        store,
        _Credentials(credential),
        _Focus(),
        runs,
        work_dirs=WorkDirs(tmp_path / "work"),
        batch_rows=1000,
        memory_limit="256MB",
        owner="test",
        check_credential=functools.partial(validate_credential, allow_endpoint_overrides=True),
    )
    request = RunRequest("contoso", "azure", "cost", "billing", credential.credential_id, [SEP_2023])
    try:
        events = [event async for event in runner.run(request, deadline_seconds=120)]
    finally:
        await runs.close()

    progress = [e for e in events if isinstance(e, Progress)]
    assert any(p.message.startswith("downloading ") for p in progress)
    for event in progress:
        _assert_no_sas(event.message, sas)
        _assert_no_sas(event.source_object, sas)
    raw = store.scan("contoso_prod", "cloud_azure_billing_raw_daily").to_table()
    stored = set(raw.column("source_object").to_pylist())
    assert len(stored) == 1 and raw.num_rows == 11
    (uri,) = stored
    _assert_no_sas(uri, sas)
    assert uri.startswith(f"{azurite.account_url}/{container}/costexports/exp/") and "#" not in uri
