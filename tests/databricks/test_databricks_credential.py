"""The Databricks credential models: one way to sign in, an official workspace URL in production."""

from __future__ import annotations

import pytest

from cloudact_providers.registry import validate_credential
from cloudact_shared.errors import InvalidArgument

CONFIG = {"host": "https://acme.cloud.databricks.com", "warehouse_id": "4b9f0c2d7e8a1f36"}
SECRET = "dapi-S3cr3t-CANARY-0c5f1d9e"


def _fields(config: dict[str, str], secret: dict[str, str]) -> list[str]:
    with pytest.raises(InvalidArgument) as caught:
        validate_credential("databricks", config, secret, allow_endpoint_overrides=False)
    assert SECRET not in str(caught.value.to_status())
    return [v.field for v in caught.value.violations]


def test_a_token_or_a_service_principal_never_both_nor_half() -> None:
    validate_credential("databricks", CONFIG, {"token": SECRET}, allow_endpoint_overrides=False)
    validate_credential(
        "databricks", CONFIG, {"client_id": "sp-1", "client_secret": SECRET}, allow_endpoint_overrides=False
    )
    assert _fields(CONFIG, {"client_id": "sp-1"}) == ["secret.client_secret"]
    assert _fields(CONFIG, {"token": SECRET, "client_id": "sp-1", "client_secret": SECRET}) == [
        "secret.token",
        "secret.client_id",
        "secret.client_secret",
    ]
    assert _fields(CONFIG, {}) == ["secret"]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("host", "https://acme.cloud.databricks.com/sql/1.0"),  # a path: the workspace URL is a host only
        ("warehouse_id", "wh id; DROP"),
        ("statement_timeout_seconds", "5"),
    ],
)
def test_a_bad_config_field_is_named(field: str, value: str) -> None:
    assert _fields({**CONFIG, field: value}, {"token": SECRET}) == [f"config.{field}"]
