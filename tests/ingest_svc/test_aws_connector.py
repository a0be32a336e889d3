"""The S3 connector's errors against endpoints that are not S3: status and code only, never the body."""

from __future__ import annotations

from datetime import date

import pytest

from cloudact_providers.aws.connector import AwsS3Connector
from cloudact_providers.connector import ResolvedCredential
from cloudact_shared.errors import CloudactError, FailedPrecondition, InvalidArgument, Unavailable
from tests.providers.loopback import BODY_MARKER, GARBAGE, GARBAGE_MARKER, answering, marker_bodies

JAN = date(2024, 1, 1)
SECRET_KEY = "wJalrXUtnFEMI-K7MDENG-CANARY"


def _credential(endpoint: str, **config: str) -> ResolvedCredential:
    return ResolvedCredential(
        "cred-aws",
        "aws",
        {"bucket": "b", "export_name": "e", "endpoint_url": endpoint, "max_attempts": "1", **config},
        {"aws_access_key_id": "AKIAIOSFODNN7EXAMPLE", "aws_secret_access_key": SECRET_KEY},
    )


async def _listing_error(endpoint: str) -> CloudactError:
    with pytest.raises(CloudactError) as caught:
        async with AwsS3Connector(_credential(endpoint)) as source:
            await source.list_objects([JAN])
    return caught.value


async def test_an_endpoint_answering_garbage_is_unavailable_and_not_echoed() -> None:
    with answering(GARBAGE) as endpoint:
        error = await _listing_error(endpoint)
    assert isinstance(error, Unavailable) and error.reason == "SOURCE_UNAVAILABLE"
    assert GARBAGE_MARKER not in str(error) and "\\x00" not in str(error)
    assert "s3://b/e/metadata/BILLING_PERIOD=2024-01/" in str(error)


@pytest.mark.parametrize("status", [400, 500])
@pytest.mark.parametrize("variant", range(3))
async def test_an_http_error_body_is_never_echoed(status: int, variant: int) -> None:
    with answering(marker_bodies(status)[variant]) as endpoint:
        error = await _listing_error(endpoint)
    assert isinstance(error, FailedPrecondition if status < 500 else Unavailable)
    assert BODY_MARKER not in str(error) and "10.0.0.7" not in str(error)
    assert f"HTTP {status}" in str(error) and "s3://b/e/" in str(error)


def test_an_endpoint_url_with_a_password_is_refused_without_echoing_it() -> None:
    with pytest.raises(InvalidArgument) as caught:
        AwsS3Connector(_credential(f"http://admin:{SECRET_KEY}@127.0.0.1:9000"))
    assert [v.field for v in caught.value.violations] == ["credential.config.endpoint_url"]
    assert SECRET_KEY not in str(caught.value) and "admin" not in str(caught.value)
