"""cloudact_shared.redact: credentials in URLs and in SDK messages never get through."""

from __future__ import annotations

import json
import logging

import pytest

from cloudact_shared.logs import configure_logging
from cloudact_shared.redact import REDACTED, redact_text, redact_url, strip_url

SIG = "Xq7%2BcanarySIG%3D"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            f"https://acme.blob.core.windows.net/c/part_1.csv?sv=2023-01-03&se=2030-01-01&sr=c&sp=rl&sig={SIG}",
            "https://acme.blob.core.windows.net/c/part_1.csv?sv=REDACTED&se=REDACTED&sr=REDACTED&sp=REDACTED&sig=REDACTED",
        ),
        (
            f"http://127.0.0.1:10000/acct/c?restype=container&comp=list&prefix=&st=2024&skoid=abc&sig={SIG}",
            "http://127.0.0.1:10000/acct/c?restype=container&comp=list&prefix=&st=REDACTED&skoid=REDACTED&sig=REDACTED",
        ),
        (
            "https://b.s3.amazonaws.com/k?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIA%2F20240101"
            f"&X-Amz-Signature={SIG}&X-Amz-Security-Token=tok&x-id=GetObject",
            "https://b.s3.amazonaws.com/k?X-Amz-Algorithm=REDACTED&X-Amz-Credential=REDACTED"
            "&X-Amz-Signature=REDACTED&X-Amz-Security-Token=REDACTED&x-id=GetObject",
        ),
        (
            f"https://b.s3.amazonaws.com/k?AWSAccessKeyId=AKIA&Expires=1700000000&Signature={SIG}",
            "https://b.s3.amazonaws.com/k?AWSAccessKeyId=REDACTED&Expires=REDACTED&Signature=REDACTED",
        ),
        (f"https://api.example.com/v1?token={SIG}&page=2", "https://api.example.com/v1?token=REDACTED&page=2"),
        (
            f"https://api.example.com/v1?x-custom-auth-token={SIG}",
            "https://api.example.com/v1?x-custom-auth-token=REDACTED",
        ),
        (f"http://admin:{SIG}@10.0.0.7:8443/metrics", "http://REDACTED@10.0.0.7:8443/metrics"),
        (f"http://{SIG}@10.0.0.7/", "http://REDACTED@10.0.0.7/"),
        (
            f"https://objectstorage.us-ashburn-1.oraclecloud.com/p/{SIG}/n/bling/b/t/o/x.csv",
            "https://objectstorage.us-ashburn-1.oraclecloud.com/p/REDACTED/n/bling/b/t/o/x.csv",
        ),
        ("s3://bucket/exports/part.csv", "s3://bucket/exports/part.csv"),
        (
            "bigquery://p/d/t?invoice.month=202403&export_time<=2024-04-02T00:00:00Z",
            "bigquery://p/d/t?invoice.month=202403&export_time<=2024-04-02T00:00:00Z",
        ),
    ],
)
def test_redact_url(url: str, expected: str) -> None:
    assert redact_url(url) == expected
    assert redact_url(expected) == expected  # idempotent


def test_redact_text_finds_every_url_and_bare_credential_pairs() -> None:
    message = (
        f"400, message='Bad status line', url='http://127.0.0.1:9/acct/c?restype=container&sv=2023&sig={SIG}' "
        f"after GET https://u:{SIG}@h.example/x; also sv=2023&sig={SIG} and "
        f"DefaultEndpointsProtocol=https;AccountName=acme;AccountKey={SIG};EndpointSuffix=core.windows.net"
    )
    redacted = redact_text(message)
    assert SIG not in redacted and "u:" not in redacted
    assert "url='http://127.0.0.1:9/acct/c?restype=container&sv=REDACTED&sig=REDACTED'" in redacted
    assert f"https://{REDACTED}@h.example/x;" in redacted
    assert "AccountName=acme;AccountKey=REDACTED;EndpointSuffix=core.windows.net" in redacted
    assert redact_text("no credential here: s3://b/k (NoSuchKey)") == "no credential here: s3://b/k (NoSuchKey)"


def test_redact_url_never_lets_a_signature_through_an_unparsable_url() -> None:
    assert SIG not in redact_url(f"http://[::1/x?sig={SIG}")


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            f"https://u:p@acme.blob.core.windows.net/c/dir/part_1.csv?sv=2023&sig={SIG}#dataset=actual",
            "https://acme.blob.core.windows.net/c/dir/part_1.csv",
        ),
        ("http://127.0.0.1:10000/devstoreaccount1/c", "http://127.0.0.1:10000/devstoreaccount1/c"),
    ],
)
def test_strip_url_keeps_only_what_names_the_object(url: str, expected: str) -> None:
    assert strip_url(url) == expected


def test_service_log_lines_redact_signed_urls_in_messages_and_tracebacks(capsys: pytest.CaptureFixture[str]) -> None:
    signed = "https://acct.blob.core.windows.net/c/part_1.csv?sv=2024-01-01&se=2030&sig=SECRETSIG%3D"
    handlers, level = logging.root.handlers[:], logging.root.level
    configure_logging("INFO", "ingest_svc")
    log = logging.getLogger("tests.redact")
    try:
        log.warning("downloading %s", signed)
        try:
            raise RuntimeError(f"unexpected failure reading {signed}")
        except RuntimeError:
            log.exception("unexpected error")
    finally:
        logging.root.handlers[:] = handlers
        logging.root.setLevel(level)
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert len(lines) == 2 and "SECRETSIG" not in json.dumps(lines)
    assert "acct.blob.core.windows.net/c/part_1.csv" in lines[0]["msg"] and "exc" in lines[1]
