"""A Databricks credential: the workspace and SQL warehouse to query (config), and how to sign in (secret).

No SDK here: credential_svc validates credentials with these models when they are created, and the
connector reads them with the same models.

The secret is one of: a personal access token (``token``), or a service principal's OAuth
machine-to-machine secret (``client_id`` + ``client_secret``), which Databricks recommends for
automation. Either identity needs ``USE CATALOG system``, ``USE SCHEMA`` and ``SELECT`` on
``system.billing`` and ``CAN USE`` on the warehouse.

Official endpoints (what production accepts; see ``cloudact_providers.endpoints``): a workspace URL
on AWS (``<name>.cloud.databricks.com``, GovCloud ``.cloud.databricks.us``), Azure
(``adb-<id>.<n>.azuredatabricks.net``, Azure China ``.databricks.azure.cn``, Azure Government
``.databricks.azure.us``) or GCP (``<id>.<n>.gcp.databricks.com``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field, model_validator

from cloudact_providers.endpoints import DATABRICKS_WORKSPACE_HOST, Endpoint, HttpUrl, official_host
from cloudact_providers.validation import fields_error

_EXPECTED = (
    "https://<workspace>.cloud.databricks.com, https://adb-<id>.<n>.azuredatabricks.net or "
    "https://<id>.<n>.gcp.databricks.com (or a sovereign cloud's workspace URL)"
)
OAUTH_FIELDS = ("client_id", "client_secret")


class DatabricksSourceConfig(BaseModel):
    """The workspace and the SQL warehouse that run the billing query; the credential's non-secret config."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    ENDPOINTS: ClassVar[Mapping[str, Endpoint]] = {
        "host": Endpoint(official_host(DATABRICKS_WORKSPACE_HOST), _EXPECTED)
    }

    host: HttpUrl = Field(pattern=r"^https?://[^\s/?#]+/?$")
    """The workspace URL (system tables are account-wide: any workspace of the account reads them all);
    a loopback server's URL in tests and the demo."""
    warehouse_id: str = Field(pattern=r"^[A-Za-z0-9]{1,64}$")
    """The SQL warehouse (any type: serverless, pro or classic) that runs the statements."""
    statement_timeout_seconds: int = Field(default=900, ge=10, le=3600)
    """How long one statement may run (queued on a stopped warehouse included) before it is cancelled."""
    retry_seconds: int = Field(default=120, ge=0, le=1800)
    """How long throttled (429) and failing (5xx) requests are retried; 0: not at all."""


class DatabricksSecret(BaseModel):
    """A personal access token, or a service principal's OAuth client id and secret."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    token: str | None = Field(default=None, min_length=1, pattern=r"^\S+$", repr=False)
    client_id: str | None = Field(default=None, pattern=r"^[A-Za-z0-9._-]{1,128}$")
    """The service principal's application id (not secret, but only meaningful with its secret)."""
    client_secret: str | None = Field(default=None, min_length=1, pattern=r"^\S+$", repr=False)

    @model_validator(mode="after")
    def _one_kind(self) -> DatabricksSecret:
        oauth = [f for f in OAUTH_FIELDS if getattr(self, f) is not None]
        if oauth and len(oauth) < len(OAUTH_FIELDS):
            missing = [f for f in OAUTH_FIELDS if f not in oauth]
            raise fields_error(missing, "missing: a service principal needs client_id and client_secret")
        if (self.token is not None) == bool(oauth):
            message = "exactly one of token or a service principal (client_id, client_secret) is required"
            given = (["token"] if self.token is not None else []) + oauth
            raise fields_error(given, message) if given else ValueError(message)
        return self

    @property
    def is_service_principal(self) -> bool:
        return self.client_secret is not None
