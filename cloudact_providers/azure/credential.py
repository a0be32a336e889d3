"""An Azure credential: where the exports are delivered (config) and how to read them (secret).

The secret is one of: a storage connection string, a SAS token, or a Microsoft Entra service
principal (tenant_id, client_id, client_secret). No SDK here: credential_svc validates credentials
with these models when they are created, and the connector reads them with the same models.

Official endpoints (what production accepts; see ``cloudact_providers.endpoints``): the Blob
endpoint of a storage account in the public cloud or a sovereign cloud (Azure China, Azure US
Government), or its Azure DNS zone endpoint; the Microsoft Entra authority hosts of those clouds.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from cloudact_providers.endpoints import Endpoint, HttpsUrl, HttpUrl, official_host, url_problem
from cloudact_providers.validation import fields_error

# https://<account>.blob.core.windows.net (public), .chinacloudapi.cn (Azure China, 21Vianet),
# .usgovcloudapi.net (Azure US Government); https://<account>.z<NN>.blob.storage.azure.net (DNS zones).
ACCOUNT_HOST = (
    r"[a-z0-9]{3,24}\.(?:blob\.core\.windows\.net|blob\.core\.chinacloudapi\.cn|blob\.core\.usgovcloudapi\.net"
    r"|z[0-9]{2}\.blob\.storage\.azure\.net)"
)
AUTHORITY_HOSTS = ("login.microsoftonline.com", "login.chinacloudapi.cn", "login.microsoftonline.us")
"""Microsoft Entra ID of the public cloud, Azure China and Azure US Government (azure-identity's
AzureAuthorityHosts; Azure Germany's closed in 2021)."""
PRINCIPAL_FIELDS = ("tenant_id", "client_id", "client_secret")
_official_account = official_host(ACCOUNT_HOST)
_official_authority = official_host("|".join(h.replace(".", r"\.") for h in AUTHORITY_HOSTS))
_ACCOUNT_EXPECTED = "https://<account>.blob.core.windows.net (or a sovereign cloud's blob endpoint)"


class AzureSourceConfig(BaseModel):
    """Where the exports are delivered; stored as the credential's non-secret config."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    ENDPOINTS: ClassVar[Mapping[str, Endpoint]] = {
        "account_url": Endpoint(_official_account, _ACCOUNT_EXPECTED),
        "authority_host": Endpoint(_official_authority, "one of " + ", ".join(AUTHORITY_HOSTS)),
        # A file on the server: a credential must not make ingest_svc read (or trust) one of its files.
        "ca_bundle": Endpoint(expected="unset (the system's trusted CA certificates are used)"),
    }

    container: str = Field(min_length=1, pattern=r"^[^/\s]+$")
    export_name: str
    """One export name, or several separated by commas (e.g. the actual and the amortized export)."""
    root_path: str = ""
    account_url: HttpUrl | None = None
    """Blob endpoint, e.g. https://acct.blob.core.windows.net or an Azurite URL; needed with a SAS
    token or a service principal."""
    authority_host: HttpsUrl | None = None
    """Microsoft Entra authority for a service principal (default login.microsoftonline.com; a
    sovereign cloud's, or a local token endpoint in tests). A bare host name means https."""
    ca_bundle: str | None = Field(default=None, min_length=1)
    """PEM file of extra CA certificates to trust (a TLS-inspecting proxy, or a test server)."""
    max_attempts: int | None = Field(default=None, ge=1, le=10)
    """Tries per request (1: no retries); default: the Azure SDK's retry policy."""

    @field_validator("export_name")
    @classmethod
    def _names_an_export(cls, value: str) -> str:
        if not any(name.strip() for name in value.split(",")):
            raise ValueError("names no export (at least one export name)")
        return value

    @field_validator("authority_host", mode="before")
    @classmethod
    def _host_means_https(cls, value: Any) -> Any:
        # azure-identity takes a bare host too (AzureAuthorityHosts.AZURE_GOVERNMENT): it means https.
        if isinstance(value, str) and value and "://" not in value:
            return f"https://{value}"
        return value

    @property
    def export_names(self) -> list[str]:
        return [n.strip() for n in self.export_name.split(",") if n.strip()]


class AzureSecret(BaseModel):
    """The secret of an Azure credential: a storage connection string, a SAS token, or a service
    principal (tenant_id, client_id, client_secret) with read access to the container."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    ENDPOINTS: ClassVar[Mapping[str, Endpoint]] = {
        "connection_string": Endpoint(
            lambda value: all(_official_account(url) for url in connection_string_endpoints(value)),
            "a connection string of an Azure storage account (https, its blob.core.windows.net endpoint "
            "or a sovereign cloud's), not a development storage or custom endpoint",
        )
    }

    connection_string: str | None = Field(default=None, min_length=1)
    sas_token: str | None = Field(default=None, min_length=1)
    tenant_id: str | None = Field(default=None, pattern=r"^[A-Za-z0-9.-]+$")
    """The directory (tenant) id or domain; azure-identity's rule for it."""
    client_id: str | None = Field(default=None, min_length=1)
    client_secret: str | None = Field(default=None, min_length=1)

    @field_validator("connection_string")
    @classmethod
    def _a_connection_string(cls, value: str | None) -> str | None:
        if value is not None and (problem := connection_string_problem(value)) is not None:
            raise ValueError(problem)
        return value

    @field_validator("sas_token")
    @classmethod
    def _a_sas_token(cls, value: str | None) -> str | None:
        if value is not None and "sig=" not in value:
            raise ValueError("is not a SAS token (it has no sig= signature)")
        return value

    @model_validator(mode="after")
    def _one_kind(self) -> AzureSecret:
        principal = [f for f in PRINCIPAL_FIELDS if getattr(self, f) is not None]
        if principal and len(principal) < len(PRINCIPAL_FIELDS):
            missing = [f for f in PRINCIPAL_FIELDS if f not in principal]
            raise fields_error(missing, "missing: a service principal needs tenant_id, client_id and client_secret")
        given = [f for f in ("connection_string", "sas_token") if getattr(self, f) is not None] + principal
        kinds = (self.connection_string is not None) + (self.sas_token is not None) + bool(principal)
        if kinds != 1:
            message = (
                "exactly one of connection_string, sas_token or a service principal "
                "(tenant_id, client_id, client_secret) is required"
            )
            raise fields_error(given, message) if given else ValueError(message)
        return self

    @property
    def is_principal(self) -> bool:
        return self.client_secret is not None


def check_pair(config: AzureSourceConfig, secret: AzureSecret) -> list[tuple[str, str]]:
    """Rules across config and secret: (field, what is wrong) with ``config.``/``secret.`` fields."""
    if secret.connection_string is None and not config.account_url:
        return [("config.account_url", "required with sas_token or a service principal")]
    return []


def _connection_settings(value: str) -> dict[str, str] | None:
    """The settings of a connection string by upper-case key (as the SDK reads it); None if malformed."""
    pairs = [part.split("=", 1) for part in value.rstrip(";").split(";")]
    if any(len(pair) != 2 or not pair[0].strip() for pair in pairs):
        return None
    return {key.strip().upper(): val for key, val in pairs}


def connection_string_endpoints(value: str) -> list[str]:
    """The Blob endpoints a connection string makes the SDK connect to (derived as the SDK does)."""
    settings = _connection_settings(value) or {}
    if settings.get("USEDEVELOPMENTSTORAGE", "").lower() == "true":
        return ["http://127.0.0.1:10000/devstoreaccount1"]
    endpoints = [settings[k] for k in ("BLOBENDPOINT", "BLOBSECONDARYENDPOINT") if k in settings]
    if not endpoints:
        account = settings.get("ACCOUNTNAME", "")
        suffix = settings.get("ENDPOINTSUFFIX", "core.windows.net")
        # The SDK honours DefaultEndpointsProtocol only together with EndpointSuffix.
        both = {"DEFAULTENDPOINTSPROTOCOL", "ENDPOINTSUFFIX"} <= set(settings)
        protocol = settings["DEFAULTENDPOINTSPROTOCOL"] if both else "https"
        endpoints.append(f"{protocol}://{account}.blob.{suffix}")
    return endpoints


def connection_string_problem(value: str) -> str | None:
    """What is wrong with a storage connection string, or None. Never quotes it (it holds the key)."""
    settings = _connection_settings(value)
    if settings is None:
        return "is not a storage connection string (Key=Value pairs separated by ;)"
    if settings.get("USEDEVELOPMENTSTORAGE", "").lower() == "true":
        return None
    if not ({"ACCOUNTNAME", "ACCOUNTKEY"} <= set(settings) or "SHAREDACCESSSIGNATURE" in settings):
        return "names neither AccountName and AccountKey nor a SharedAccessSignature"
    if not settings.get("ACCOUNTNAME") and not settings.get("BLOBENDPOINT"):
        return "names neither an AccountName nor a BlobEndpoint"
    for endpoint in connection_string_endpoints(value):
        if (problem := url_problem(endpoint)) is not None:
            return f"its Blob endpoint {problem}"
    return None
