"""An Anthropic credential: the API endpoint and which report to read (config) and an admin key (secret).

No SDK here: credential_svc validates credentials with these models when they are created.

The usage and cost reports answer to an Admin API key (``sk-ant-admin01-...``), an Analytics API key of
a Claude Enterprise organization, or an unscoped service-account key; a workspace key is refused by
Anthropic (403). The organization is not configured: ``/v1/organizations/me`` names the key's own.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from cloudact_providers.endpoints import ANTHROPIC_API_HOSTS, Endpoint, HttpUrl, official_hosts

OFFICIAL_ENDPOINT = f"https://{ANTHROPIC_API_HOSTS[0]}"

ReportApi = Literal["auto", "analytics", "legacy"]
"""Which report is read: the Usage and Cost Analytics API (beta, recommended since 2026-10-29), the
legacy cost and usage reports, or ``auto``: analytics, and legacy for a month the analytics API does
not serve (before 2026-01-01, or starting more than 365 days ago) or when it answers 404 / 403."""


class AnthropicSourceConfig(BaseModel):
    """Where the reports are and how to read them; stored as the credential's non-secret config."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    ENDPOINTS: ClassVar[Mapping[str, Endpoint]] = {
        "endpoint": Endpoint(official_hosts(ANTHROPIC_API_HOSTS), OFFICIAL_ENDPOINT)
    }

    endpoint: HttpUrl = Field(default=OFFICIAL_ENDPOINT, pattern=r"^https?://[^\s/?#]+/?$")
    """Anthropic's API host (a loopback server in tests and the demo)."""
    api: ReportApi = "auto"
    page_rows: int = Field(default=1000, ge=1, le=1000)
    """Rows per page of the analytics reports (1-1000); the legacy reports page by day (31 a page)."""
    max_retries: int = Field(default=4, ge=0, le=10)
    """Retries of a throttled (429) or failing (5xx, 529 overloaded, timeout) request, after Retry-After
    when Anthropic sends one (the SDK's own retry)."""
    timeout_seconds: float = Field(default=60.0, gt=0, le=600)
    """Per request."""


class AnthropicAdminKey(BaseModel):
    """The secret of an Anthropic credential: a key that may read the organization's usage and cost."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    admin_api_key: str = Field(
        pattern=r"^sk-ant-[A-Za-z0-9_-]{8,}$",
        description="an Anthropic Admin API key (sk-ant-admin01-...) or Analytics API key",
    )
