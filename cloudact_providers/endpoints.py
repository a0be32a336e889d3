"""The outbound URL policy: which credential fields name an endpoint, and which endpoints are official.

A credential decides where ingest_svc connects. Every URL field is checked for its shape whenever a
credential is read (http or https, a host, no ``user:password@``, no query string, no fragment), so a
SAS token or a password never hides in a URL. Which hosts are allowed is a server setting
(``allow_endpoint_overrides``): off, as in production, only the providers' official endpoints pass
(``cloudact_providers.registry.validate_credential`` checks it); on, as in tests and the demo, any
well-formed URL does, so local emulators can stand in for the clouds.

A config or secret model declares its endpoint fields in an ``ENDPOINTS`` class variable: field
name -> ``Endpoint`` (what is official for it, and how to say so). Messages never quote a value.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel

from cloudact_shared.errors import FieldViolation


@dataclass(frozen=True)
class Endpoint:
    """One credential field that decides where a connector connects (or what server file it reads)."""

    official: Callable[[str], bool] | None = None
    """Whether a value is one of the provider's official endpoints; None: only leaving it unset is."""
    expected: str = "unset"
    """What the official values look like, for the field violation (``https://<account>.blob...``)."""


def official_host(pattern: str) -> Callable[[str], bool]:
    """A predicate: the URL is ``https://<host>`` (optionally ``/``), its host matching ``pattern``."""
    compiled = re.compile(pattern)

    def check(value: str) -> bool:
        parts = urlsplit(value)
        return (
            parts.scheme == "https"
            and parts.path in ("", "/")
            and "@" not in parts.netloc
            and ":" not in parts.netloc
            and compiled.fullmatch(parts.netloc.lower()) is not None
        )

    return check


def one_of(*values: str) -> Callable[[str], bool]:
    """A predicate: the value is exactly one of ``values`` (a trailing ``/`` aside)."""
    allowed = {v.rstrip("/") for v in values}
    return lambda value: value.rstrip("/") in allowed


def url_problem(value: str, *, https_only: bool = False) -> str | None:
    """What is wrong with an endpoint URL's shape, or None. Never quotes the value."""
    if not value or any(c.isspace() or ord(c) < 32 for c in value):
        return "must be a URL without blanks"
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        return "is not a valid URL"
    schemes = ("https",) if https_only else ("http", "https")
    if parts.scheme not in schemes:
        return "must be an https URL" if https_only else "must be an http or https URL"
    if "@" in parts.netloc:
        return "must not carry credentials (user:password@); they belong in the secret"
    if not parts.hostname:
        return "must name a host"
    if parts.query or "?" in value:
        return "must not have a query string (a SAS token or signature belongs in the secret)"
    if parts.fragment or "#" in value:
        return "must not have a fragment"
    return None


def _http_url(value: str) -> str:
    if (problem := url_problem(value)) is not None:
        raise ValueError(problem)
    return value


def _https_url(value: str) -> str:
    if (problem := url_problem(value, https_only=True)) is not None:
        raise ValueError(problem)
    return value


HttpUrl = Annotated[str, AfterValidator(_http_url)]
"""An http(s) endpoint URL with a host and no userinfo, query or fragment."""
HttpsUrl = Annotated[str, AfterValidator(_https_url)]
"""As ``HttpUrl``, https only."""


def endpoint_violations(model: BaseModel, where: str) -> list[FieldViolation]:
    """The endpoint fields of ``model`` that are set to something other than an official endpoint.

    Args:
        model: a validated config or secret model (its class may declare ``ENDPOINTS``).
        where: the prefix of violation fields, e.g. ``config``.
    """
    endpoints: Mapping[str, Endpoint] = getattr(type(model), "ENDPOINTS", {})
    violations = []
    for name, rule in endpoints.items():
        value: Any = getattr(model, name)
        if value is None or (rule.official is not None and rule.official(str(value))):
            continue
        description = f"endpoint overrides are disabled on this server: must be {rule.expected}"
        violations.append(FieldViolation(f"{where}.{name}", description))
    return violations


# -- The official endpoints of the API sources (SaaS, GenAI): each provider's credential names them ----

DATADOG_API_HOSTS = (
    "api.datadoghq.com",
    "api.us3.datadoghq.com",
    "api.us5.datadoghq.com",
    "api.datadoghq.eu",
    "api.ap1.datadoghq.com",
    "api.ap2.datadoghq.com",
    "api.uk1.datadoghq.com",
    "api.ddog-gov.com",
    "api.us2.ddog-gov.com",
)
"""The API host of each Datadog site (docs.datadoghq.com/getting_started/site/): US1, US3, US5, EU1,
AP1, AP2, UK1, US1-FED and US2-FED."""

MONGODB_ATLAS_HOSTS = ("cloud.mongodb.com", "cloud.mongodbgov.com")
"""MongoDB Atlas's Admin API (and its OAuth token endpoint): commercial Atlas and Atlas for Government."""

OPENAI_API_HOSTS = ("api.openai.com",)
"""OpenAI's API, which serves the organization Costs and Usage endpoints (``/v1/organization/...``)."""

ANTHROPIC_API_HOSTS = ("api.anthropic.com",)
"""Anthropic's API, which serves the Admin API's usage and cost reports (``/v1/organizations/...``)."""


def official_hosts(hosts: tuple[str, ...]) -> Callable[[str], bool]:
    """A predicate: the URL is ``https://<host>`` for exactly one of ``hosts`` (see ``official_host``)."""
    return official_host("|".join(re.escape(host) for host in hosts))


DATABRICKS_WORKSPACE_HOST = (
    r"[a-z0-9][a-z0-9-]*(?:\.[a-z0-9-]+)*\."
    r"(?:cloud\.databricks\.com|cloud\.databricks\.us|azuredatabricks\.net|databricks\.azure\.cn"
    r"|databricks\.azure\.us|gcp\.databricks\.com)"
)
"""A Databricks workspace URL's host (a pattern: one host per workspace): AWS ``<name>.cloud.databricks.com``
(GovCloud ``.cloud.databricks.us``), Azure ``adb-<id>.<n>.azuredatabricks.net`` (Azure China
``.databricks.azure.cn``, Azure Government ``.databricks.azure.us``), GCP ``<id>.<n>.gcp.databricks.com``."""

SNOWFLAKE_ACCOUNT_HOST = (
    r"[a-z0-9][a-z0-9_-]*(?:\.[a-z0-9_-]+)*\.(?:privatelink\.)?(?:snowflakecomputing\.com|snowflakecomputing\.cn)"
)
"""A Snowflake account's host (a pattern: one host per account): ``<orgname>-<account>.snowflakecomputing.com``
or a legacy ``<locator>.<region>.<cloud>.snowflakecomputing.com``, their ``privatelink`` forms, and
Snowflake's China region (``.snowflakecomputing.cn``)."""
