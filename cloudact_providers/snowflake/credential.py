"""A Snowflake credential: the organization account, user, role and warehouse (config), a password or key pair (secret).

No SDK here: credential_svc validates credentials with these models when they are created, and the
connector reads them with the same models.

The user signs in with a password or, as Snowflake recommends for service users, a key pair (an RSA
or EC private key in PEM, optionally encrypted; its public key registered on the user). The role
needs the ``SNOWFLAKE.ORGANIZATION_BILLING_VIEWER`` database role to read the FOCUS view, and
ORGADMIN (or the organization usage viewer database role) to read ``ORGANIZATION_USAGE``; the
warehouse runs the queries.

Official endpoints (what production accepts; see ``cloudact_providers.endpoints``): unset (the
connector derives ``https://<account>.snowflakecomputing.com`` from the account), or an account's
own URL on snowflakecomputing.com (privatelink included) or snowflakecomputing.cn.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from cloudact_providers.endpoints import SNOWFLAKE_ACCOUNT_HOST, Endpoint, HttpUrl, official_host
from cloudact_providers.pem import private_key_problem
from cloudact_providers.validation import fields_error

_IDENTIFIER = r"^[A-Za-z_][A-Za-z0-9_$]{0,254}$"
"""An unquoted Snowflake identifier (roles and warehouses are named in SQL and connection settings)."""

Source = Literal["auto", "focus", "usage_in_currency"]
"""Where the cost comes from: the FOCUS view where it can be read, else ORGANIZATION_USAGE (``auto``);
or always one of them."""


class SnowflakeSourceConfig(BaseModel):
    """The organization account to sign in to and what to run the queries as; the non-secret config."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    ENDPOINTS: ClassVar[Mapping[str, Endpoint]] = {
        "endpoint": Endpoint(
            official_host(SNOWFLAKE_ACCOUNT_HOST), "unset, or https://<account>.snowflakecomputing.com"
        )
    }

    account: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,254}$")
    """The account identifier: ``<orgname>-<account_name>`` (preferred) or a legacy account locator
    (``xy12345.us-east-2.aws``); the organization account, which holds ORGANIZATION_USAGE."""
    user: str = Field(pattern=r"^[^\s\"]{1,255}$")
    role: str | None = Field(default=None, pattern=_IDENTIFIER)
    """The role to use (default: the user's default role)."""
    warehouse: str = Field(pattern=_IDENTIFIER)
    source: Source = "auto"
    endpoint: HttpUrl | None = Field(default=None, pattern=r"^https?://[^\s/?#]+/?$")
    """The account URL, when not derived from ``account`` (a loopback server in tests and the demo)."""
    network_timeout_seconds: int = Field(default=300, ge=10, le=3600)
    """How long a query (and the connector's own retries of 429 / 5xx answers) may take."""


class SnowflakeSecret(BaseModel):
    """The user's password, or its private key (with the passphrase of an encrypted key)."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    password: str | None = Field(default=None, min_length=1, repr=False)
    private_key: str | None = Field(default=None, min_length=1, repr=False)
    """A PEM private key (PKCS#8 or traditional), RSA or EC, whose public key is set on the user."""
    private_key_passphrase: str | None = Field(default=None, min_length=1, repr=False)

    @field_validator("private_key")
    @classmethod
    def _key_shape(cls, value: str | None) -> str | None:
        if value is not None and "-----BEGIN" not in value:
            raise ValueError("is not a PEM private key")
        return value

    @model_validator(mode="after")
    def _one_kind(self) -> SnowflakeSecret:
        if self.password is None and self.private_key is None:
            raise ValueError("a password or a private_key is required")
        if self.password is not None and self.private_key is not None:
            # The key pair is what Snowflake wants of service users: the password is the one to drop.
            raise fields_error(["password"], "is not used with a private_key: give one of them")
        if self.private_key_passphrase is not None and self.private_key is None:
            raise fields_error(["private_key_passphrase"], "is only used with a private_key")
        if self.private_key is not None:
            problem = private_key_problem(self.private_key, self.private_key_passphrase)
            if problem is not None:
                raise fields_error(["private_key"], problem)
        return self
