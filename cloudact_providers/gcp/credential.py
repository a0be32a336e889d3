"""A GCP credential: the billing export table (config) and a service account key (secret).

No SDK here: credential_svc validates credentials with these models when they are created.

Official endpoints: BigQuery itself (``api_endpoint`` unset), Google's OAuth token endpoint as
written in Google's key files (``token_uri``), and the googleapis.com universe (``universe_domain``,
from which the BigQuery client derives its endpoint).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from cloudact_providers.endpoints import Endpoint, HttpUrl, one_of
from cloudact_providers.pem import private_key_problem

TOKEN_URIS = ("https://oauth2.googleapis.com/token", "https://accounts.google.com/o/oauth2/token")
"""Google's OAuth token endpoint: the current one, and the one older key files name."""


class GcpSourceConfig(BaseModel):
    """Where the export table is; stored as the credential's non-secret config.

    The names are checked against BigQuery's identifier rules: they are quoted into SQL.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    ENDPOINTS: ClassVar[Mapping[str, Endpoint]] = {
        "api_endpoint": Endpoint(expected="unset (BigQuery's own endpoint is used)")
    }

    project: str = Field(pattern=r"^(?:[a-z][a-z0-9.-]{0,61}:)?[a-z][a-z0-9-]{4,28}[a-z0-9]$")
    dataset: str = Field(pattern=r"^[A-Za-z0-9_]+$", max_length=1024)
    table: str = Field(pattern=r"^[\w-]+$", max_length=1024)
    """e.g. gcp_billing_export_resource_v1_0123AB_CDEF01_234567"""
    location: str | None = Field(default=None, pattern=r"^[A-Za-z0-9-]{2,40}$")
    """The dataset's location (US, EU, europe-west1...); default: BigQuery finds it."""
    api_endpoint: HttpUrl | None = Field(default=None, pattern=r"^https?://[^\s/?#]+/?$")
    """A BigQuery emulator's endpoint (tests, demo); unset for BigQuery itself."""
    retry_seconds: int = Field(default=120, ge=0, le=1800)
    """How long the client retries transient errors (0: no retries)."""


class GcpServiceAccountKey(BaseModel):
    """A service account key: the fields of Google's JSON key file.

    Every field of Google's key format is known here; any other is refused, so a pasted file of
    another kind is caught when the credential is created (a field Google adds must be added here).
    """

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    ENDPOINTS: ClassVar[Mapping[str, Endpoint]] = {
        "token_uri": Endpoint(one_of(*TOKEN_URIS), TOKEN_URIS[0]),
        "universe_domain": Endpoint(one_of("googleapis.com"), "googleapis.com"),
    }

    type: Literal["service_account"]
    project_id: str = Field(min_length=1)
    private_key_id: str = Field(min_length=1)
    private_key: str = Field(min_length=1)
    client_email: str = Field(pattern=r"^[^@\s]+@[^@\s]+$")
    token_uri: str = Field(
        default=TOKEN_URIS[0], pattern=r"^(?:https://|http://(?:127\.0\.0\.1|localhost)[:/])[^\s?#@]*$"
    )
    """Where the signed grant is exchanged for an access token: https, or a token endpoint on loopback."""
    client_id: str | None = None
    universe_domain: str = Field(default="googleapis.com", pattern=r"^[a-z0-9.-]+$")
    # Informational fields of the key file; the client does not use them.
    auth_uri: str | None = None
    auth_provider_x509_cert_url: str | None = None
    client_x509_cert_url: str | None = None

    @field_validator("private_key")
    @classmethod
    def _key_loads(cls, value: str) -> str:
        if (problem := private_key_problem(value)) is not None:
            raise ValueError(problem)
        return value
