"""The BigQuery billing export connector: the real google-cloud-bigquery client against bqemulator."""

from __future__ import annotations

import json
import threading
import urllib.parse
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest
from cryptography.hazmat.primitives import serialization
from google.auth import jwt

from cloudact_cli.bigquery_emulator import BigQueryEmulator, create_billing_export_table, throwaway_service_account
from cloudact_providers.connector import ResolvedCredential
from cloudact_providers.gcp.connector import BigQueryBillingExportConnector
from cloudact_providers.gcp.synthetic import month_rows, nested_rows, write_nested_parquet
from cloudact_shared.errors import (
    CloudactError,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    Unauthenticated,
    Unavailable,
)
from tests.gcp.conftest import ExportTable, new_export_table, raw_rows
from tests.providers.loopback import BODY_MARKER, GARBAGE, GARBAGE_MARKER, answering, http_error, marker_bodies

FEB, MAR, APR = date(2024, 2, 1), date(2024, 3, 1), date(2024, 4, 1)
# Set by the pipeline or derived from where a file came from: not part of the export's content.
_NOT_CONTENT = {"source_format", "source_object", "_source_row_number", "_record"}


def _credential(export: ExportTable, key: dict[str, str], **config: str) -> ResolvedCredential:
    return ResolvedCredential("cred-gcp", "gcp", export.config(**config), key)


async def _extract(credential: ResolvedCredential, periods: list[date], work: Path) -> dict[date, list[dict[str, Any]]]:
    """One run of the connector: list, download each month, parse it as the pipeline does."""
    rows: dict[date, list[dict[str, Any]]] = {}
    async with BigQueryBillingExportConnector(credential) as source:
        objects = await source.list_objects(periods)
        for index, obj in enumerate(objects):
            dest = work / f"{index:05d}-{Path(obj.key).name}"
            await source.download(obj, dest)
            rows[obj.billing_period] = raw_rows(dest)
    return rows


def _content(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    kept = [{k: v for k, v in r.items() if k not in _NOT_CONTENT} for r in rows]
    return sorted(kept, key=lambda r: (r["sku_description"], r["project_id"], r["usage_start_time"], r["export_time"]))


async def test_detailed_table_months_come_whole_and_equal_the_extracted_file(
    export_table: ExportTable, service_account_key: dict[str, str], tmp_path: Path
) -> None:
    february = month_rows(FEB, projects=1)
    export_table.load([*february, *nested_rows()])
    credential = _credential(export_table, service_account_key)

    async with BigQueryBillingExportConnector(credential) as source:
        objects = await source.list_objects([FEB, MAR, APR])
    assert [o.billing_period for o in objects] == [FEB, MAR]  # April has no rows: nothing to read
    table = f"{export_table.emulator.project}/{export_table.table.dataset_id}/{export_table.table.table_id}"
    assert all(o.uri.startswith(f"bigquery://{table}?invoice.month=2024") for o in objects)
    assert "&export_time<=20" in objects[0].uri and objects[1].key.endswith("-202403.parquet")

    rows = await _extract(credential, [FEB, MAR, APR], tmp_path)
    assert len(rows[FEB]) == len(february) and len(rows[MAR]) == len(nested_rows())
    assert all(r["_quarantine_reason"] is None for month in rows.values() for r in month)
    assert {r["billing_period"] for r in rows[FEB]} == {FEB}
    # The month read from BigQuery is the same raw data as Google's own extract of those rows.
    extracted = raw_rows(write_nested_parquet(tmp_path / "extract.parquet"))
    assert _content(rows[MAR]) == _content(extracted)
    cud = next(r for r in rows[MAR] if r["sku_description"].startswith("cud"))
    assert cud["project_labels"] == {"team": "core", "env": "dev"}
    assert cud["system_labels"] == {"compute.googleapis.com/machine_spec": "n1-standard-1"}
    assert cud["price_effective_price"] == Decimal("1") and cud["resource_name"] == "vm-cud"
    assert json.loads(cud["credits"])[0]["type"] == "COMMITTED_USAGE_DISCOUNT"
    assert cud["project_ancestors"] is not None and "organizations/9" in cud["project_ancestors"]
    assert cud["source_format"] == "gcp_billing_parquet"


async def test_standard_table_has_no_resource_or_price(
    bq: BigQueryEmulator, service_account_key: dict[str, str], tmp_path: Path
) -> None:
    standard = new_export_table(bq, detailed=False)
    assert standard.table.table_id.startswith("gcp_billing_export_v1_")
    standard.load(nested_rows())

    rows = (await _extract(_credential(standard, service_account_key), [MAR], tmp_path))[MAR]

    assert len(rows) == len(nested_rows()) and all(r["_quarantine_reason"] is None for r in rows)
    assert {r["resource_global_name"] for r in rows} == {None} and {r["price_unit"] for r in rows} == {None}
    assert sorted(r["cost"] for r in rows) == sorted(Decimal(str(r["cost"])) for r in nested_rows())
    assert {r["adjustment_info_id"] for r in rows} == {None, "adj-1"}


async def test_late_rows_are_read_by_the_next_run_and_rows_after_the_cutoff_wait(
    export_table: ExportTable, service_account_key: dict[str, str], tmp_path: Path
) -> None:
    export_table.load(nested_rows())
    credential = _credential(export_table, service_account_key)
    first = (await _extract(credential, [MAR], tmp_path))[MAR]
    again = (await _extract(credential, [MAR], tmp_path))[MAR]
    assert _content(again) == _content(first)  # nothing new: the same month, not twice as many rows

    # A correction for March exported after the month closed, and one stamped after any cutoff now.
    late = {**nested_rows()[0], "export_time": datetime(2024, 4, 9, tzinfo=UTC), "cost": 0.75}
    future = {**nested_rows()[0], "export_time": datetime.now(UTC) + timedelta(days=1), "cost": 99.0}
    # Impossible in a real export (March usage exported in January): shows where the scan starts.
    early = {**nested_rows()[0], "export_time": datetime(2024, 1, 31, 23, tzinfo=UTC), "cost": 42.0}
    export_table.load([late, future, early])
    third = (await _extract(credential, [MAR], tmp_path))[MAR]

    assert len(third) == len(first) + 1
    added = [r for r in _content(third) if r not in _content(first)]
    assert [(r["cost"], r["export_time"]) for r in added] == [(Decimal("0.75"), late["export_time"])]


# -- failures --------------------------------------------------------------------------------------
def test_bad_credential_config_and_key_name_the_field_only(
    export_table: ExportTable, service_account_key: dict[str, str]
) -> None:
    def refused(config: dict[str, str], secret: dict[str, str]) -> InvalidArgument:
        with pytest.raises(InvalidArgument) as caught:
            BigQueryBillingExportConnector(ResolvedCredential("c", "gcp", config, secret))
        assert caught.value.reason == "BAD_CREDENTIAL_CONFIG"
        return caught.value

    config = export_table.config()
    no_table = refused({k: v for k, v in config.items() if k != "table"}, service_account_key)
    assert [v.field for v in no_table.violations] == ["credential.config.table"]
    quoted = refused({**config, "dataset": "billing` WHERE 1=1 --"}, service_account_key)
    assert [v.field for v in quoted.violations] == ["credential.config.dataset"]
    user_key = refused(config, {**service_account_key, "type": "authorized_user"})
    assert [v.field for v in user_key.violations] == ["credential.secret.type"]
    pem = service_account_key["private_key"]
    broken = refused(config, {**service_account_key, "private_key": pem[:200]})
    assert [v.field for v in broken.violations] == ["credential.secret.private_key"]
    assert pem[40:80] not in str(broken) and pem[40:80] not in str(broken.violations)


async def test_missing_dataset_and_table_are_not_found_by_name(
    export_table: ExportTable, service_account_key: dict[str, str]
) -> None:
    for override, named in (
        ({"dataset": "no_such_dataset"}, f"BigQuery dataset {export_table.emulator.project}.no_such_dataset "),
        ({"table": "gcp_billing_export_v1_NOPE"}, f".{export_table.table.dataset_id}.gcp_billing_export_v1_NOPE "),
    ):
        credential = ResolvedCredential("c", "gcp", export_table.config(**override), service_account_key)
        with pytest.raises(NotFound) as caught:
            async with BigQueryBillingExportConnector(credential) as source:
                await source.list_objects([MAR])
        assert caught.value.reason == "SOURCE_NOT_FOUND" and named in str(caught.value)


async def test_a_table_that_is_not_a_billing_export_fails_before_reading(
    export_table: ExportTable, service_account_key: dict[str, str]
) -> None:
    import pyarrow as pa

    other = f"{export_table.emulator.project}.{export_table.table.dataset_id}.not_billing"
    create_billing_export_table(export_table.client, other, pa.schema([("cost", pa.float64())]))
    with pytest.raises(FailedPrecondition, match="not a Cloud Billing export: it has no billing_account_id"):
        async with BigQueryBillingExportConnector(
            _credential(export_table, service_account_key, table="not_billing")
        ) as source:
            await source.list_objects([MAR])


async def test_unreachable_endpoint_is_unavailable(
    export_table: ExportTable, service_account_key: dict[str, str]
) -> None:
    credential = _credential(export_table, service_account_key, api_endpoint="http://127.0.0.1:9")
    with pytest.raises(Unavailable) as caught:
        async with BigQueryBillingExportConnector(credential) as source:
            await source.list_objects([MAR])
    assert caught.value.reason == "SOURCE_UNAVAILABLE"


class _TokenEndpoint(BaseHTTPRequestHandler):
    """Google's OAuth token endpoint as it answers a key it does not know (invalid_grant)."""

    assertions: ClassVar[list[str]] = []

    def do_POST(self) -> None:
        form = urllib.parse.parse_qs(self.rfile.read(int(self.headers["Content-Length"])).decode())
        self.assertions.append(form["assertion"][0])
        body = json.dumps({"error": "invalid_grant", "error_description": "Invalid JWT Signature."}).encode()
        self.send_response(400)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        return None


@pytest.fixture
def token_endpoint() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _TokenEndpoint)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/token"
    server.shutdown()
    server.server_close()


async def test_a_key_google_refuses_is_unauthenticated(
    export_table: ExportTable, service_account_key: dict[str, str], token_endpoint: str
) -> None:
    """Without api_endpoint the production flow runs: the key signs a JWT grant posted to token_uri."""
    config = {k: v for k, v in export_table.config().items() if k != "api_endpoint"}
    secret = {**service_account_key, "token_uri": token_endpoint}
    with pytest.raises(Unauthenticated, match="invalid_grant") as caught:
        async with BigQueryBillingExportConnector(ResolvedCredential("c", "gcp", config, secret)) as source:
            await source.list_objects([MAR])
    assert caught.value.reason == "SOURCE_UNAUTHENTICATED"
    assert service_account_key["private_key"][40:80] not in str(caught.value)
    # The grant is a JWT for the service account, signed with the stored key.
    private = serialization.load_pem_private_key(service_account_key["private_key"].encode(), password=None)
    public = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    claims = jwt.decode(_TokenEndpoint.assertions[-1], certs=public)  # type: ignore[no-untyped-call]
    assert claims["iss"] == service_account_key["client_email"]
    assert claims["scope"] == "https://www.googleapis.com/auth/bigquery"


def test_token_uri_must_be_https_except_on_loopback(
    export_table: ExportTable, service_account_key: dict[str, str]
) -> None:
    with pytest.raises(InvalidArgument) as caught:
        BigQueryBillingExportConnector(
            _credential(export_table, {**service_account_key, "token_uri": "http://oauth2.example.com/token"})
        )
    assert [v.field for v in caught.value.violations] == ["credential.secret.token_uri"]


# -- endpoints that are not Google: what answered is never echoed ------------------------------------
_OFFLINE_KEY = throwaway_service_account("acme-billing-1")
_OFFLINE_CONFIG = {
    "project": "acme-billing-1",
    "dataset": "billing",
    "table": "gcp_billing_export_v1_X",
    "retry_seconds": "0",
}


async def _error_of(config: dict[str, str], secret: dict[str, str]) -> CloudactError:
    with pytest.raises(CloudactError) as caught:
        async with BigQueryBillingExportConnector(ResolvedCredential("c", "gcp", config, secret)) as source:
            await source.list_objects([MAR])
    message = str(caught.value)
    assert GARBAGE_MARKER not in message and BODY_MARKER not in message and "10.0.0.7" not in message
    assert "BigQuery dataset acme-billing-1.billing" in message
    return caught.value


@pytest.mark.parametrize("payload", [GARBAGE, *marker_bodies(400), *marker_bodies(500), *marker_bodies(403)])
async def test_an_api_endpoint_answering_garbage_or_an_error_body_is_not_echoed(payload: bytes) -> None:
    with answering(payload) as endpoint:
        await _error_of({**_OFFLINE_CONFIG, "api_endpoint": endpoint}, _OFFLINE_KEY)


@pytest.mark.parametrize(
    "payload",
    [
        GARBAGE,
        *marker_bodies(400),
        http_error(400, json.dumps({"error": "invalid_grant", "error_description": BODY_MARKER}), "application/json"),
    ],
)
async def test_a_token_endpoint_answering_garbage_or_an_error_body_is_not_echoed(payload: bytes) -> None:
    with answering(payload) as endpoint:
        error = await _error_of(_OFFLINE_CONFIG, {**_OFFLINE_KEY, "token_uri": f"{endpoint}/token"})
    if b"invalid_grant" in payload:
        assert isinstance(error, Unauthenticated) and "(invalid_grant)" in str(error)
