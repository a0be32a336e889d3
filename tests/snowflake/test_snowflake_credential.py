"""The Snowflake credential models: a password or a key pair that loads, identifiers Snowflake takes."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from cloudact_providers.registry import validate_credential
from cloudact_shared.errors import InvalidArgument

CONFIG = {"account": "acme-org", "user": "CLOUDACT_SVC", "warehouse": "BILLING_WH"}
PASSWORD = "S3cr3t-CANARY-pw-0c5f1d9e"
_KEY = ec.generate_private_key(ec.SECP256R1())
ENCRYPTED = _KEY.private_bytes(
    serialization.Encoding.PEM,
    serialization.PrivateFormat.PKCS8,
    serialization.BestAvailableEncryption(PASSWORD.encode()),
).decode()


def _fields(config: dict[str, str], secret: dict[str, str]) -> list[str]:
    with pytest.raises(InvalidArgument) as caught:
        validate_credential("snowflake", config, secret, allow_endpoint_overrides=False)
    assert PASSWORD not in str(caught.value.to_status())
    return [v.field for v in caught.value.violations]


def test_a_password_or_a_key_pair() -> None:
    validate_credential("snowflake", CONFIG, {"password": PASSWORD}, allow_endpoint_overrides=False)
    validate_credential(
        "snowflake",
        CONFIG,
        {"private_key": ENCRYPTED, "private_key_passphrase": PASSWORD},
        allow_endpoint_overrides=False,
    )
    assert _fields(CONFIG, {}) == ["secret"]
    assert _fields(CONFIG, {"password": PASSWORD, "private_key": ENCRYPTED}) == ["secret.password"]
    assert _fields(CONFIG, {"private_key": ENCRYPTED}) == ["secret.private_key"]  # encrypted: passphrase needed
    assert _fields(CONFIG, {"password": PASSWORD, "private_key_passphrase": PASSWORD}) == [
        "secret.private_key_passphrase"
    ]
    assert _fields(CONFIG, {"private_key": "MIIEvQIBADANBg"}) == ["secret.private_key"]


@pytest.mark.parametrize(
    ("field", "value"),
    [("role", "FINOPS; DROP TABLE"), ("warehouse", "wh-1"), ("source", "invoices"), ("account", "acme org")],
)
def test_a_bad_config_field_is_named(field: str, value: str) -> None:
    assert _fields({**CONFIG, field: value}, {"password": PASSWORD}) == [f"config.{field}"]
