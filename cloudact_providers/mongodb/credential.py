"""A MongoDB Atlas credential: the organization and the Admin API (config), a service account (secret).

No SDK here: credential_svc validates credentials with these models when they are created.

The service account needs the Organization Billing Viewer role (or Billing Admin, or Owner) on the
organization; it signs in with OAuth 2.0 client credentials at ``<api_url>/api/oauth/token``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field

from cloudact_providers.endpoints import MONGODB_ATLAS_HOSTS, Endpoint, HttpUrl, official_hosts

DEFAULT_API_URL = f"https://{MONGODB_ATLAS_HOSTS[0]}"

# Service account ids and secrets are generated tokens (``mdb_sa_id_...``, ``mdb_sa_sk_...`` today);
# the rule refuses blanks, quotes and separators, which a paste of a whole "id:secret" line would bring.
_TOKEN = r"^[A-Za-z0-9_.~-]{8,512}$"


class AtlasSourceConfig(BaseModel):
    """Which organization's invoices to read, and where; stored as the credential's non-secret config."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    ENDPOINTS: ClassVar[Mapping[str, Endpoint]] = {
        "api_url": Endpoint(
            official_hosts(MONGODB_ATLAS_HOSTS), " or ".join(f"https://{host}" for host in MONGODB_ATLAS_HOSTS)
        )
    }

    org_id: str = Field(pattern=r"^[0-9a-f]{24}$")
    """The organization's id (24 hexadecimal digits), as the Atlas console shows it."""
    api_url: HttpUrl = Field(default=DEFAULT_API_URL, pattern=r"^https?://[^\s/?#]+/?$")
    """The Admin API and its token endpoint: Atlas, Atlas for Government, or a loopback server in tests."""
    items_per_page: int = Field(default=100, ge=1, le=500)
    """Invoices per page of the invoice list (Atlas allows 1..500)."""
    max_attempts: int = Field(default=5, ge=1, le=10)
    """Attempts of a request that is throttled (429) or fails (5xx, connection), the first included."""


class AtlasServiceAccount(BaseModel):
    """An Atlas service account's OAuth client credentials."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    client_id: str = Field(pattern=_TOKEN)
    client_secret: str = Field(pattern=_TOKEN)
