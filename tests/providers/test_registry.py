"""cloudact_providers.registry: credentials validated at creation, with the outbound URL policy."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Mapping

import pytest

from cloudact_cli.oci_object_storage import ApiKey
from cloudact_providers.registry import PROVIDER_PACKAGES, known_providers, validate_credential
from cloudact_shared.errors import InvalidArgument

SECRET = "S3cr3t-CANARY-0c5f1d"
"""A secret value no error may ever repeat."""
_OCI_KEY = ApiKey()


def _gcp_key() -> dict[str, str]:
    from cloudact_cli.bigquery_emulator import throwaway_service_account

    return throwaway_service_account("acme-billing")


_GCP_KEY = _gcp_key()
AZURITE = (
    "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=" + SECRET + ";"
    "BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1;"
)
GOOD: dict[str, tuple[dict[str, str], dict[str, str]]] = {
    "aws": (
        {"bucket": "acme-billing", "export_name": "prod-cur", "prefix": "exports", "layout": "cur2"},
        {"aws_access_key_id": "AKIAIOSFODNN7EXAMPLE", "aws_secret_access_key": SECRET},
    ),
    "azure": (
        {
            "container": "exports",
            "export_name": "ea-actual,ea-amortized",
            "account_url": "https://acme.blob.core.windows.net",
        },
        {"sas_token": f"sv=2023-01-03&sr=c&sp=rl&se=2030-01-01&sig={SECRET}"},
    ),
    "gcp": (
        {"project": "acme-billing", "dataset": "billing", "table": "gcp_billing_export_v1_0123AB_CDEF01_234567"},
        _GCP_KEY,
    ),
    "oci": ({"report": "focus"}, _OCI_KEY.secret()),
    "databricks": (
        {"host": "https://dbc-4b9f0c2d-7e8a.cloud.databricks.com", "warehouse_id": "4b9f0c2d7e8a1f36"},
        {"token": f"dapi{SECRET}"},
    ),
    "snowflake": (
        {"account": "acme-org", "user": "CLOUDACT_SVC", "role": "FINOPS_READER", "warehouse": "BILLING_WH"},
        {"private_key": _OCI_KEY.secret()["key_content"]},  # a key pair: what Snowflake wants of service users
    ),
    # Resolved by ingest_svc for the org itself (no secret exists); credential_svc never stores one.
    "datahub": ({"inbox": "/var/lib/cloudact/inbox/datahub/acme"}, {}),
    "datadog": ({"api_url": "https://api.datadoghq.eu"}, {"api_key": SECRET, "application_key": f"app-{SECRET}"}),
    "mongodb": (
        {"org_id": "5f1e2d3c4b5a69788796a5b4"},
        {"client_id": "mdb_sa_id_65f0c1d2e3a4b5c6d7e8f901", "client_secret": f"mdb_sa_sk_{SECRET}"},
    ),
    "openai": ({"organization_id": "org-AcmeBilling01"}, {"admin_api_key": f"sk-admin-{SECRET}"}),
    "anthropic": ({"api": "auto"}, {"admin_api_key": f"sk-ant-admin01-{SECRET}"}),
}


def _refused(
    provider: str, config: Mapping[str, str], secret: Mapping[str, str] | None, *, overrides: bool = True
) -> InvalidArgument:
    with pytest.raises(InvalidArgument) as caught:
        validate_credential(provider, config, secret, allow_endpoint_overrides=overrides)
    _assert_no_secret(caught.value, secret)
    return caught.value


# Fields of a secret that are not secret themselves (a key file's descriptive fields, the region).
_PUBLIC = {"type", "project_id", "client_email", "client_id", "auth_uri", "token_uri", "universe_domain", "region"}
_PUBLIC |= {"auth_provider_x509_cert_url", "client_x509_cert_url", "user", "tenancy"}


def _assert_no_secret(error: InvalidArgument, secret: Mapping[str, str] | None) -> None:
    """No secret value (nor a telling piece of one) is in the message, a violation or the status."""
    shown = [error.message, str(error), str(error.to_status())]
    shown += [f"{v.field} {v.description}" for v in error.violations]
    for value in [SECRET, *(v for k, v in (secret or {}).items() if k not in _PUBLIC)]:
        pieces = [value] if len(value) < 40 else [value[i : i + 24] for i in range(20, len(value) - 24, 24)]
        for piece in pieces:
            if len(piece) >= 8:
                assert all(piece not in text for text in shown), f"a secret value leaked: {error}"


def _fields(error: InvalidArgument) -> list[str]:
    return [v.field for v in error.violations]


def test_known_providers_are_the_registered_ones() -> None:
    assert known_providers() == sorted(package.rsplit(".", 1)[-1] for package in PROVIDER_PACKAGES)
    assert {"aws", "azure", "datahub", "gcp", "oci"} <= set(known_providers())


@pytest.mark.parametrize("provider", sorted(GOOD))
@pytest.mark.parametrize("overrides", [False, True])
def test_every_provider_accepts_a_good_credential(provider: str, overrides: bool) -> None:
    config, secret = GOOD[provider]
    validate_credential(provider, config, secret, allow_endpoint_overrides=overrides)
    validate_credential(provider, config, None, allow_endpoint_overrides=overrides)  # config alone


def test_good_credentials_cover_every_registered_provider() -> None:
    assert sorted(GOOD) == known_providers()


@pytest.mark.parametrize("provider", ["gcs", "", "AWS", "x" * 500])
def test_unknown_provider(provider: str) -> None:
    error = _refused(provider, GOOD["aws"][0], GOOD["aws"][1])
    assert error.reason == "UNKNOWN_PROVIDER" and _fields(error) == ["provider"]
    assert ", ".join(known_providers()) in error.message and len(error.message) < 300


@pytest.mark.parametrize("provider", sorted(GOOD))
def test_garbage_config_unknown_key_and_missing_key(provider: str) -> None:
    config, secret = GOOD[provider]
    unknown = _refused(provider, {**config, "bukket": "x"}, secret)
    assert unknown.reason == "BAD_CREDENTIAL_CONFIG" and "config.bukket" in _fields(unknown)
    assert "Extra inputs are not permitted" in unknown.message
    required = {"aws": "bucket", "azure": "container", "gcp": "project"}
    if provider in required:  # every OCI config field has a default
        missing = _refused(provider, {k: v for k, v in config.items() if k != required[provider]}, secret)
        assert _fields(missing) == [f"config.{required[provider]}"] and "Field required" in missing.message
    garbage = _refused(provider, {"": "\x00", "export_name": ""}, secret)
    assert garbage.reason == "BAD_CREDENTIAL_CONFIG" and all(f.startswith("config") for f in _fields(garbage))


@pytest.mark.parametrize(
    ("provider", "drop"),
    [("aws", "aws_secret_access_key"), ("gcp", "private_key"), ("oci", "key_content"), ("oci", "fingerprint")],
)
def test_secret_with_a_missing_field(provider: str, drop: str) -> None:
    config, secret = GOOD[provider]
    error = _refused(provider, config, {k: v for k, v in secret.items() if k != drop})
    assert error.reason == "BAD_CREDENTIAL_CONFIG" and _fields(error) == [f"secret.{drop}"]


@pytest.mark.parametrize("provider", sorted(GOOD))
def test_secret_with_an_extra_field(provider: str) -> None:
    config, secret = GOOD[provider]
    error = _refused(provider, config, {**secret, "password": SECRET})
    assert error.reason == "BAD_CREDENTIAL_CONFIG" and _fields(error) == ["secret.password"]


def test_config_and_secret_violations_come_together() -> None:
    error = _refused("aws", {"export_name": "e"}, {"aws_access_key_id": "k"})
    assert _fields(error) == ["config.bucket", "secret.aws_secret_access_key"]


def test_azure_service_principal_fields_are_named_never_their_values() -> None:
    config = GOOD["azure"][0]
    partial = _refused("azure", config, {"tenant_id": "72f988bf-86f1-41af-91ab-2d7cd011db47", "client_secret": SECRET})
    assert _fields(partial) == ["secret.client_id"]
    bad_tenant = _refused("azure", config, {"tenant_id": f"{SECRET} /x", "client_id": "c", "client_secret": SECRET})
    assert _fields(bad_tenant) == ["secret.tenant_id"] and "connection_string" not in bad_tenant.message
    both = _refused("azure", config, {"sas_token": f"sig={SECRET}", "connection_string": AZURITE})
    assert sorted(_fields(both)) == ["secret.connection_string", "secret.sas_token"]
    assert _fields(_refused("azure", config, {})) == ["secret"]
    no_url = _refused("azure", {"container": "c", "export_name": "e"}, {"sas_token": f"sig={SECRET}"})
    assert _fields(no_url) == ["config.account_url"]


@pytest.mark.parametrize(
    ("provider", "secret"),
    [
        ("azure", {"sas_token": SECRET}),  # no signature: not a SAS token
        ("azure", {"connection_string": SECRET}),
        ("azure", {"connection_string": f"AccountName=acme;Key={SECRET}"}),
        ("azure", {"connection_string": f"AccountName=a;AccountKey={SECRET};BlobEndpoint=http://u:{SECRET}@h/"}),
        ("azure", {"connection_string": f"AccountName=a;AccountKey=k;BlobEndpoint=https://h/?sig={SECRET}"}),
        ("aws", {"aws_access_key_id": "", "aws_secret_access_key": SECRET, "aws_session_token": SECRET}),
        ("oci", {**_OCI_KEY.secret(), "fingerprint": SECRET}),
        ("oci", {**_OCI_KEY.secret(), "key_content": SECRET + "-----BEGIN PRIVATE KEY-----"}),
        ("oci", {**_OCI_KEY.secret(), "user": SECRET + " x"}),
        ("gcp", {**_GCP_KEY, "private_key": _GCP_KEY["private_key"][:300]}),
        ("gcp", {**_GCP_KEY, "token_uri": f"https://u:{SECRET}@oauth2.example.com/token"}),
        ("gcp", {**_GCP_KEY, "type": SECRET}),
    ],
)
def test_no_secret_value_in_any_error(provider: str, secret: dict[str, str]) -> None:
    error = _refused(provider, GOOD[provider][0], secret)
    assert error.reason == "BAD_CREDENTIAL_CONFIG" and all(f.startswith("secret") for f in _fields(error))


# -- the outbound URL policy -------------------------------------------------------------------------
OVERRIDES = [
    ("aws", "config", "endpoint_url", "http://127.0.0.1:9000"),
    ("azure", "config", "account_url", "http://127.0.0.1:10000/devstoreaccount1"),
    ("azure", "config", "account_url", "https://acme.blob.core.windows.net.attacker.example"),
    ("azure", "config", "account_url", "http://acme.blob.core.windows.net"),
    ("azure", "config", "account_url", "https://acme.blob.core.windows.net:8443"),
    ("azure", "config", "account_url", "https://acme.blob.core.windows.net/other/path"),
    ("azure", "config", "authority_host", "https://127.0.0.1:8443"),
    ("azure", "config", "authority_host", "login.microsoftonline.com.attacker.example"),
    ("azure", "config", "ca_bundle", "/etc/ssl/private/server.pem"),
    ("azure", "secret", "connection_string", AZURITE),
    ("azure", "secret", "connection_string", "UseDevelopmentStorage=true"),
    ("azure", "secret", "connection_string", f"AccountName=acme;AccountKey={SECRET};EndpointSuffix=attacker.example"),
    ("azure", "secret", "connection_string", f"AccountName=evil.example/x;AccountKey={SECRET}"),
    ("oci", "config", "endpoint", "http://127.0.0.1:8080"),
    ("oci", "config", "endpoint", "https://objectstorage.us-ashburn-1.oraclecloud.com.attacker.example"),
    ("gcp", "config", "api_endpoint", "http://127.0.0.1:9050"),
    ("gcp", "secret", "token_uri", "http://127.0.0.1:8080/token"),
    ("gcp", "secret", "token_uri", "https://oauth2.attacker.example/token"),
    ("gcp", "secret", "universe_domain", "attacker.example"),
    ("databricks", "config", "host", "http://127.0.0.1:8443"),
    ("databricks", "config", "host", "https://acme.cloud.databricks.com.attacker.example"),
    ("databricks", "config", "host", "http://acme.cloud.databricks.com"),
    ("snowflake", "config", "endpoint", "http://127.0.0.1:8080"),
    ("snowflake", "config", "endpoint", "https://acme-org.snowflakecomputing.com.attacker.example"),
    ("datadog", "config", "api_url", "http://127.0.0.1:8126"),
    ("datadog", "config", "api_url", "https://api.datadoghq.com.attacker.example"),
    ("datadog", "config", "api_url", "http://api.datadoghq.com"),
    ("mongodb", "config", "api_url", "http://127.0.0.1:8080"),
    ("mongodb", "config", "api_url", "https://cloud.mongodb.com.attacker.example"),
    ("mongodb", "config", "api_url", "https://cloud.mongodb.com:8443"),
    ("openai", "config", "endpoint", "http://127.0.0.1:8080"),
    ("openai", "config", "endpoint", "https://api.openai.com.attacker.example"),
    ("openai", "config", "endpoint", "http://api.openai.com"),
    ("anthropic", "config", "endpoint", "http://127.0.0.1:8080"),
    ("anthropic", "config", "endpoint", "https://api.anthropic.com.attacker.example"),
    ("anthropic", "config", "endpoint", "https://api.anthropic.com:8443"),
]


def _with(provider: str, part: str, field: str, value: str) -> tuple[dict[str, str], dict[str, str]]:
    config, secret = dict(GOOD[provider][0]), dict(GOOD[provider][1])
    if part == "config":
        config[field] = value
    else:
        secret = {field: value} if field == "connection_string" else {**secret, field: value}
    return config, secret


@pytest.mark.parametrize(("provider", "part", "field", "value"), OVERRIDES)
def test_each_endpoint_field_is_refused_without_overrides_and_accepted_with(
    provider: str, part: str, field: str, value: str
) -> None:
    config, secret = _with(provider, part, field, value)
    error = _refused(provider, config, secret, overrides=False)
    assert error.reason == "ENDPOINT_OVERRIDE_DISABLED" and _fields(error) == [f"{part}.{field}"]
    assert "endpoint overrides are disabled" in error.violations[0].description
    if part == "config":  # the config alone is checked the same way (a rotation keeping the secret)
        assert _refused(provider, config, None, overrides=False).reason == "ENDPOINT_OVERRIDE_DISABLED"
    validate_credential(provider, config, secret, allow_endpoint_overrides=True)


@pytest.mark.parametrize(
    ("provider", "part", "field", "value"),
    [
        ("azure", "config", "account_url", "https://acme.blob.core.windows.net"),
        ("azure", "config", "account_url", "https://acme2.blob.core.windows.net/"),
        ("azure", "config", "account_url", "https://acme.blob.core.chinacloudapi.cn"),
        ("azure", "config", "account_url", "https://acme.blob.core.usgovcloudapi.net"),
        ("azure", "config", "account_url", "https://acme.z23.blob.storage.azure.net"),
        ("azure", "config", "authority_host", "https://login.microsoftonline.com"),
        ("azure", "config", "authority_host", "login.microsoftonline.us"),
        ("azure", "config", "authority_host", "https://login.chinacloudapi.cn/"),
        (
            "azure",
            "secret",
            "connection_string",
            f"DefaultEndpointsProtocol=https;AccountName=acme;AccountKey={SECRET}",
        ),
        (
            "azure",
            "secret",
            "connection_string",
            f"AccountName=acme;AccountKey={SECRET};EndpointSuffix=core.chinacloudapi.cn",
        ),
        (
            "azure",
            "secret",
            "connection_string",
            f"BlobEndpoint=https://acme.blob.core.windows.net/;SharedAccessSignature=sv=1&sig={SECRET}",
        ),
        ("oci", "config", "endpoint", "https://objectstorage.us-ashburn-1.oraclecloud.com"),
        ("oci", "config", "endpoint", "https://objectstorage.uk-gov-london-1.oraclegovcloud.uk/"),
        ("gcp", "secret", "token_uri", "https://oauth2.googleapis.com/token"),
        ("gcp", "secret", "token_uri", "https://accounts.google.com/o/oauth2/token"),
        ("gcp", "secret", "universe_domain", "googleapis.com"),
        ("databricks", "config", "host", "https://adb-1234567890123456.7.azuredatabricks.net"),
        ("databricks", "config", "host", "https://1234567890123456.7.gcp.databricks.com/"),
        ("snowflake", "config", "endpoint", "https://acme-org.snowflakecomputing.com"),
        ("snowflake", "config", "endpoint", "https://xy12345.us-east-2.aws.privatelink.snowflakecomputing.com/"),
        ("datadog", "config", "api_url", "https://api.datadoghq.com"),
        ("datadog", "config", "api_url", "https://api.us5.datadoghq.com/"),
        ("datadog", "config", "api_url", "https://api.ddog-gov.com"),
        ("mongodb", "config", "api_url", "https://cloud.mongodb.com"),
        ("mongodb", "config", "api_url", "https://cloud.mongodbgov.com/"),
        ("openai", "config", "endpoint", "https://api.openai.com"),
        ("anthropic", "config", "endpoint", "https://api.anthropic.com/"),
    ],
)
def test_official_endpoints_are_accepted_without_overrides(provider: str, part: str, field: str, value: str) -> None:
    config, secret = _with(provider, part, field, value)
    validate_credential(provider, config, secret, allow_endpoint_overrides=False)


@pytest.mark.parametrize(
    ("provider", "field"),
    [
        ("aws", "endpoint_url"),
        ("azure", "account_url"),
        ("oci", "endpoint"),
        ("gcp", "api_endpoint"),
        ("databricks", "host"),
        ("snowflake", "endpoint"),
        ("datadog", "api_url"),
        ("mongodb", "api_url"),
        ("openai", "endpoint"),
        ("anthropic", "endpoint"),
    ],
)
@pytest.mark.parametrize(
    "value",
    [
        f"http://user:{SECRET}@127.0.0.1:9000",
        f"https://acme.blob.core.windows.net?sv=2023&sig={SECRET}",
        "https://127.0.0.1:9000/#fragment",
        "ftp://127.0.0.1/",
        "file:///etc/passwd",
        "127.0.0.1:9000",
        "http://",
        "http://127.0.0.1:notaport",
    ],
)
def test_an_endpoint_is_an_http_url_without_credentials_even_with_overrides(
    provider: str, field: str, value: str
) -> None:
    config, secret = GOOD[provider]
    error = _refused(provider, {**config, field: value}, secret, overrides=True)
    assert error.reason == "BAD_CREDENTIAL_CONFIG" and _fields(error) == [f"config.{field}"]


def test_authority_host_must_be_https() -> None:
    config, secret = GOOD["azure"]
    error = _refused("azure", {**config, "authority_host": "http://127.0.0.1:8443"}, secret)
    assert _fields(error) == ["config.authority_host"]


def test_credential_models_import_no_cloud_sdk_and_no_service() -> None:
    """credential_svc validates with these models: they must not drag in a cloud SDK or ingest_svc."""
    code = (
        "import sys, cloudact_providers.registry as r\n"
        "heavy = ('boto', 'aioboto3', 'azure', 'oci', 'google.cloud', 'google.auth', 'duckdb', 'ingest_svc')\n"
        "print([m for m in sys.modules if m.split('.')[0] in heavy or m.startswith(heavy)])\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
