"""An OpenAI credential: the organization and API endpoint (config) and an Admin API key (secret).

No SDK here: credential_svc validates credentials with these models when they are created.

The organization Costs and Usage endpoints answer only to an Admin API key (``sk-admin-...``, minted by
an organization Owner); a project or user key is refused by OpenAI with 401/403, so the key's prefix is
checked here, where the mistake can be named. The organization id is not in the Costs API's answers
(an Admin key is scoped to one organization): the config states it, for BillingAccountId.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field

from cloudact_providers.endpoints import OPENAI_API_HOSTS, Endpoint, HttpUrl, official_hosts

OFFICIAL_ENDPOINT = f"https://{OPENAI_API_HOSTS[0]}"


class OpenAISourceConfig(BaseModel):
    """Which organization's costs to read, and where; stored as the credential's non-secret config."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    ENDPOINTS: ClassVar[Mapping[str, Endpoint]] = {
        "endpoint": Endpoint(official_hosts(OPENAI_API_HOSTS), OFFICIAL_ENDPOINT)
    }

    organization_id: str = Field(pattern=r"^org-[A-Za-z0-9]{1,64}$")
    """The organization the Admin key belongs to (Settings > Organization > General), e.g. org-AbC123."""
    organization_name: str | None = Field(default=None, min_length=1, max_length=256)
    """Its name for people (BillingAccountName); default: the id."""
    endpoint: HttpUrl = Field(default=OFFICIAL_ENDPOINT, pattern=r"^https?://[^\s/?#]+/?$")
    """OpenAI's API host, without ``/v1`` (a loopback server in tests and the demo)."""
    page_buckets: int = Field(default=31, ge=1, le=31)
    """Daily buckets per page of the Costs and Usage endpoints (the Usage endpoints allow 31 at most):
    31 reads a month in one page per endpoint."""
    max_retries: int = Field(default=4, ge=0, le=10)
    """Retries of a throttled (429) or failing (5xx, timeout) request, after Retry-After when OpenAI
    sends one (the SDK's own retry)."""
    timeout_seconds: float = Field(default=60.0, gt=0, le=600)
    """Per request."""


class OpenAIAdminKey(BaseModel):
    """The secret of an OpenAI credential: an organization Admin API key."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    admin_api_key: str = Field(
        pattern=r"^sk-admin-[A-Za-z0-9_-]{8,}$",
        description="an OpenAI Admin API key (sk-admin-...); project and user keys cannot read costs",
    )
