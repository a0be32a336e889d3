"""A Datadog credential: the site's API endpoint and how costs are read (config), the keys (secret).

No SDK here: credential_svc validates credentials with these models when they are created.

The cost endpoints answer a parent organization only, for keys whose user or service account holds
the ``usage_read`` and ``billing_read`` permissions.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from cloudact_providers.endpoints import DATADOG_API_HOSTS, Endpoint, HttpUrl, official_hosts

DEFAULT_API_URL = f"https://{DATADOG_API_HOSTS[0]}"

# Datadog's keys are hex today (API keys 32 characters, application keys 40); the rule is looser so
# a longer key format does not lock a customer out, but a pasted key with blanks, quotes or a
# "DD-API-KEY:" prefix is caught when the credential is created.
_KEY = r"^[A-Za-z0-9_-]{16,256}$"


class DatadogSourceConfig(BaseModel):
    """Which Datadog site to read, and how; stored as the credential's non-secret config."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    ENDPOINTS: ClassVar[Mapping[str, Endpoint]] = {
        "api_url": Endpoint(official_hosts(DATADOG_API_HOSTS), "https://<the site's API host, e.g. api.datadoghq.eu>")
    }

    api_url: HttpUrl = Field(default=DEFAULT_API_URL, pattern=r"^https?://[^\s/?#]+/?$")
    """The site's API endpoint (``https://api.datadoghq.eu`` for EU1); a loopback server in tests."""
    view: Literal["sub-org", "summary"] = "sub-org"
    """``sub-org``: one cost per organization of the account (chargeback); ``summary``: the parent's total."""
    max_retries: int = Field(default=3, ge=0, le=10)
    """How often the client retries a throttled (429) or failed (5xx) request before the run fails."""


class DatadogKeys(BaseModel):
    """The API key and application key of a parent organization (``usage_read`` + ``billing_read``)."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    api_key: str = Field(pattern=_KEY)
    application_key: str = Field(pattern=_KEY)
