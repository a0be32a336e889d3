"""The OCI connector with the real ``oci`` SDK against the stdlib Object Storage fake (signed requests)."""

from __future__ import annotations

import gzip
from datetime import UTC, date, datetime
from pathlib import Path
from urllib.parse import unquote

import duckdb
import pytest

from cloudact_cli.oci_object_storage import ApiKey, FakeObjectStorage
from cloudact_providers.connector import ResolvedCredential
from cloudact_providers.oci.connector import OciObjectStorageConnector
from cloudact_providers.oci.credential import OciSourceConfig
from cloudact_shared.errors import (
    CloudactError,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    Unauthenticated,
    Unavailable,
)
from tests.oci.conftest import FOCUS_FIXTURE, FOCUS_PREFIX, PREFIX, csv_bytes, focus_rows, sample_rows
from tests.providers.loopback import BODY_MARKER, GARBAGE, GARBAGE_MARKER, answering, marker_bodies

NOV, DEC = date(2023, 11, 1), date(2023, 12, 1)


def _credential(key: ApiKey, storage: FakeObjectStorage, **config: str) -> ResolvedCredential:
    return ResolvedCredential(
        "cred-1", "oci", {"endpoint": storage.endpoint, "max_attempts": "1", **config}, key.secret()
    )


def _report(start: str, end: str, ref: str) -> dict[str, str]:
    row = dict(sample_rows()[0])
    row.update({"lineItem/referenceNo": ref, "lineItem/intervalUsageStart": start, "lineItem/intervalUsageEnd": end})
    return row


async def test_lists_pages_selects_months_and_splits_a_file_spanning_two(
    api_key: ApiKey, object_storage: FakeObjectStorage, tmp_path: Path
) -> None:
    bucket = api_key.tenancy
    nov = csv_bytes([_report("2023-11-13T10:00Z", "2023-11-13T11:00Z", "a")])
    both = csv_bytes(
        [_report("2023-11-30T23:00Z", "2023-12-01T00:00Z", "b"), _report("2023-12-01T00:00Z", "2023-12-01T01:00Z", "c")]
    )
    dec = csv_bytes([_report("2023-12-02T00:00Z", "2023-12-02T01:00Z", "d")])
    object_storage.put(
        bucket, f"{PREFIX}0000000000000001.csv.gz", gzip.compress(nov), datetime(2023, 11, 13, 17, tzinfo=UTC)
    )
    object_storage.put(
        bucket, f"{PREFIX}0000000000000002.csv.gz", gzip.compress(both), datetime(2023, 12, 1, 6, tzinfo=UTC)
    )
    object_storage.put(
        bucket, f"{PREFIX}0000000000000003.csv.gz", gzip.compress(dec), datetime(2023, 12, 2, 6, tzinfo=UTC)
    )
    # Created long before November: never downloaded for it.
    object_storage.put(bucket, f"{PREFIX}0000000000000000.csv.gz", b"junk", datetime(2023, 6, 1, tzinfo=UTC))
    object_storage.put(
        bucket, "reports/usage-csv/0000000000000009.csv.gz", b"other prefix", datetime(2023, 11, 20, tzinfo=UTC)
    )

    async with OciObjectStorageConnector(_credential(api_key, object_storage)) as source:
        objects = await source.list_objects([NOV])
        assert [(o.key.removeprefix(PREFIX), o.billing_period) for o in objects] == [
            ("0000000000000001.csv.gz", NOV),
            ("0000000000000002.csv.gz", NOV),
        ]
        assert objects[0].uri == f"oci://bling/{bucket}/{PREFIX}0000000000000001.csv.gz"
        for index, obj in enumerate(objects):
            await source.download(obj, tmp_path / f"{index}.csv.gz")

    refs = [
        duckdb.connect()
        .execute(f"SELECT \"lineItem/referenceNo\" FROM read_csv('{tmp_path / f'{i}.csv.gz'}', all_varchar=true)")
        .fetchall()
        for i in range(2)
    ]
    assert refs == [[("a",)], [("b",)]]  # the December row of file 2 is left for December
    assert gzip.decompress((tmp_path / "0.csv.gz").read_bytes()) == nov  # single-month files are byte copies
    lists = [q for m, p, q in object_storage.requests if p.endswith("/o")]
    assert len(lists) == 2 and lists[0]["prefix"] == PREFIX and lists[1]["start"]  # paginated via nextStartWith
    downloaded = {p.rsplit("%2F", 1)[-1] for m, p, q in object_storage.requests if not p.endswith("/o")}
    assert downloaded == {"0000000000000001.csv.gz", "0000000000000002.csv.gz", "0000000000000003.csv.gz"}


async def test_wrong_key_is_unauthenticated_without_leaking_it(
    api_key: ApiKey, object_storage: FakeObjectStorage
) -> None:
    object_storage.put(api_key.tenancy, f"{PREFIX}1.csv.gz", b"x")
    stranger = ApiKey(tenancy=api_key.tenancy, user=api_key.user)
    with pytest.raises(Unauthenticated) as caught:
        async with OciObjectStorageConnector(_credential(stranger, object_storage)) as source:
            await source.list_objects([NOV])
    assert "NotAuthenticated" in str(caught.value)
    assert stranger.fingerprint not in str(caught.value) and "PRIVATE KEY" not in str(caught.value)


async def test_missing_bucket_is_not_found(api_key: ApiKey, object_storage: FakeObjectStorage) -> None:
    with pytest.raises(NotFound) as caught:
        async with OciObjectStorageConnector(_credential(api_key, object_storage)) as source:
            await source.list_objects([NOV])
    assert caught.value.reason == "SOURCE_NOT_FOUND" and "BucketNotFound" in str(caught.value)


async def test_server_errors_are_unavailable(api_key: ApiKey, object_storage: FakeObjectStorage) -> None:
    object_storage.put(api_key.tenancy, f"{PREFIX}1.csv.gz", b"x")
    object_storage.fail_status = 503
    with pytest.raises(Unavailable):
        async with OciObjectStorageConnector(_credential(api_key, object_storage)) as source:
            await source.list_objects([NOV])


async def test_unreachable_endpoint_is_unavailable(api_key: ApiKey) -> None:
    storage = FakeObjectStorage(endpoint="http://127.0.0.1:9")
    with pytest.raises(Unavailable):
        async with OciObjectStorageConnector(_credential(api_key, storage)) as source:
            await source.list_objects([NOV])


@pytest.mark.parametrize("payload", [GARBAGE, *marker_bodies(400), *marker_bodies(500), *marker_bodies(401)])
async def test_an_endpoint_answering_garbage_or_an_error_body_is_not_echoed(api_key: ApiKey, payload: bytes) -> None:
    with answering(payload) as endpoint, pytest.raises(CloudactError) as caught:
        credential = ResolvedCredential("c", "oci", {"endpoint": endpoint, "max_attempts": "1"}, api_key.secret())
        async with OciObjectStorageConnector(credential) as source:
            await source.list_objects([NOV])
    message = str(caught.value)
    assert GARBAGE_MARKER not in message and BODY_MARKER not in message and "10.0.0.7" not in message
    assert f"oci://bling/{api_key.tenancy}/{PREFIX}" in message


def test_an_endpoint_with_a_password_is_refused_without_echoing_it(api_key: ApiKey) -> None:
    config = {"endpoint": "https://admin:hunter2-CANARY@objectstorage.us-ashburn-1.oraclecloud.com"}
    with pytest.raises(InvalidArgument) as caught:
        OciObjectStorageConnector(ResolvedCredential("c", "oci", config, api_key.secret()))
    assert [v.field for v in caught.value.violations] == ["credential.config.endpoint"]
    assert "hunter2-CANARY" not in str(caught.value)


def test_bad_secret_is_invalid_argument_naming_fields_only(api_key: ApiKey) -> None:
    secret = {**api_key.secret(), "fingerprint": "aa:bb"}
    with pytest.raises(InvalidArgument) as caught:
        OciObjectStorageConnector(ResolvedCredential("c", "oci", {}, secret))
    assert "fingerprint" in str(caught.value) and "aa:bb" not in str(caught.value)
    with pytest.raises(InvalidArgument, match="user"):
        OciObjectStorageConnector(ResolvedCredential("c", "oci", {}, {k: v for k, v in secret.items() if k != "user"}))


def _focus_report(billing_month: str, ref: str) -> bytes:
    row = dict(focus_rows()[0])
    row.update({"oci_ReferenceNumber": ref, "BillingPeriodStart": f"{billing_month}-01T00:00:00.000Z"})
    row.update({"ChargePeriodStart": f"{billing_month}-10T00:00Z", "ChargePeriodEnd": f"{billing_month}-10T01:00Z"})
    return gzip.compress(csv_bytes([row]))


async def test_focus_reports_are_listed_by_their_dated_folders(
    api_key: ApiKey, object_storage: FakeObjectStorage, tmp_path: Path
) -> None:
    bucket, jan = api_key.tenancy, date(2025, 1, 1)
    object_storage.put(bucket, f"{FOCUS_PREFIX}2025/01/14/0001.csv.gz", _focus_report("2025-01", "a"))
    # Delivered on February 1st, still about January (late rows are read for their month).
    object_storage.put(bucket, f"{FOCUS_PREFIX}2025/02/01/0001.csv.gz", _focus_report("2025-01", "b"))
    object_storage.put(bucket, f"{FOCUS_PREFIX}2025/02/02/0001.csv.gz", _focus_report("2025-02", "c"))
    # Outside the window by their path: never listed, or listed and never downloaded.
    object_storage.put(bucket, f"{FOCUS_PREFIX}2024/11/30/0001.csv.gz", b"junk")
    object_storage.put(bucket, f"{FOCUS_PREFIX}2025/03/20/0001.csv.gz", b"junk")
    object_storage.put(bucket, f"{PREFIX}0000000000000001.csv.gz", b"the other report kind")

    credential = _credential(api_key, object_storage, report="focus", late_days="31")
    async with OciObjectStorageConnector(credential) as source:
        objects = await source.list_objects([jan])
        for index, obj in enumerate(objects):
            await source.download(obj, tmp_path / f"{index}.csv.gz")

    assert [(o.key, o.billing_period) for o in objects] == [
        (f"{FOCUS_PREFIX}2025/01/14/0001.csv.gz", jan),
        (f"{FOCUS_PREFIX}2025/02/01/0001.csv.gz", jan),
    ]
    listed = [q["prefix"] for m, p, q in object_storage.requests if p.endswith("/o") and "start" not in q]
    # December 31st (a day of slack) to March 4th (31 late days): four month folders, never the bucket.
    months = ("2024/12/", "2025/01/", "2025/02/", "2025/03/")
    assert listed == [FOCUS_PREFIX + m for m in months]
    downloaded = {unquote(p.split("/o/", 1)[1]) for m, p, q in object_storage.requests if "/o/" in p}
    days = ("2025/01/14", "2025/02/01", "2025/02/02")
    assert downloaded == {f"{FOCUS_PREFIX}{d}/0001.csv.gz" for d in days}


async def test_a_credential_reads_one_report_kind(api_key: ApiKey, object_storage: FakeObjectStorage) -> None:
    # A cost report put where the credential expects FOCUS reports: refused, not loaded beside them.
    object_storage.put(
        api_key.tenancy, f"{FOCUS_PREFIX}2025/01/14/0001.csv.gz", gzip.compress(FOCUS_FIXTURE.read_bytes())
    )
    object_storage.put(
        api_key.tenancy, f"{FOCUS_PREFIX}2025/01/15/0001.csv.gz", gzip.compress(csv_bytes([_cost_row()]))
    )
    credential = _credential(api_key, object_storage, report="focus")
    with pytest.raises(FailedPrecondition, match="is an OCI cost-csv report, but the credential reads focus"):
        async with OciObjectStorageConnector(credential) as source:
            await source.list_objects([date(2025, 1, 1)])


@pytest.mark.parametrize(
    ("config", "prefix"),
    [
        ({}, "reports/cost-csv/"),
        ({"report": "focus"}, "FOCUS Reports/"),
        ({"report": "focus", "prefix": "focus/"}, "focus/"),
    ],
)
def test_the_prefix_defaults_to_the_report_kind(config: dict[str, str], prefix: str) -> None:
    assert OciSourceConfig.model_validate(config).prefix == prefix


@pytest.mark.parametrize(
    "config",
    [
        {"report": "focus", "prefix": "reports/cost-csv/"},
        {"report": "cost-csv", "prefix": "FOCUS Reports/2025/"},
        {"report": "focus", "prefix": "/"},
        {"report": "both"},
    ],
)
def test_a_prefix_reaching_the_other_kind_is_refused(api_key: ApiKey, config: dict[str, str]) -> None:
    with pytest.raises(InvalidArgument) as caught:
        OciObjectStorageConnector(ResolvedCredential("c", "oci", config, api_key.secret()))
    assert caught.value.reason == "BAD_CREDENTIAL_CONFIG"


def _cost_row() -> dict[str, str]:
    return {
        "lineItem/referenceNo": "r1",
        "lineItem/tenantId": "ocid1.tenancy.oc1..t",
        "lineItem/intervalUsageStart": "2025-01-15T00:00Z",
        "lineItem/intervalUsageEnd": "2025-01-15T01:00Z",
        "product/service": "COMPUTE",
        "cost/myCost": "1",
        "cost/currencyCode": "USD",
    }
