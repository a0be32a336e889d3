"""An OCI credential: which report kind to read and where (config), and the API signing key (secret).

No SDK here: credential_svc validates credentials with these models when they are created; the
rules for user, tenancy and fingerprint are the OCI SDK's (``oci.config.validate_config``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from cloudact_providers.endpoints import Endpoint, HttpUrl, official_host
from cloudact_providers.pem import private_key_problem
from cloudact_providers.validation import fields_error
from cloudact_shared.naming import echo

ReportKind = Literal["cost-csv", "focus"]
"""Which OCI report a file is: the proprietary cost report or OCI's FOCUS report."""

DEFAULT_PREFIX: dict[ReportKind, str] = {"cost-csv": "reports/cost-csv/", "focus": "FOCUS Reports/"}
# The top folder of each kind, to refuse a prefix that points a credential at the other kind.
_KIND_ROOT: dict[ReportKind, str] = {"cost-csv": "reports/", "focus": "focus reports"}
# The Object Storage endpoint of a region, in the realms the OCI SDK knows (oc1 oraclecloud.com,
# the government realms, the EU sovereign realm, and the numbered oraclecloudN.com realms).
_OFFICIAL_HOST = (
    r"objectstorage\.[a-z0-9-]+\.(?:oraclecloud[0-9]*\.com|oraclegovcloud\.com|oraclegovcloud\.uk|oraclecloud\.eu)"
)
_OCID = r"^([0-9a-zA-Z-_]+[.:])([0-9a-zA-Z-_]*[.:]){3,}([0-9a-zA-Z-_]+)$"


class OciSourceConfig(BaseModel):
    """Where the reports are; stored as the credential's non-secret config."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    ENDPOINTS: ClassVar[Mapping[str, Endpoint]] = {
        "endpoint": Endpoint(official_host(_OFFICIAL_HOST), "unset or https://objectstorage.<region>.oraclecloud.com")
    }

    namespace: str = Field(default="bling", pattern=r"^[A-Za-z0-9_-]+$")
    bucket: str | None = Field(default=None, pattern=r"^[^/\s]+$")
    """Default: the tenancy OCID of the secret."""
    report: ReportKind = "cost-csv"
    """Which report the credential reads: the cost report or OCI's FOCUS report, never both."""
    prefix: str = ""
    """Default per report: ``reports/cost-csv/`` or ``FOCUS Reports/`` (OCI's console spelling)."""
    endpoint: HttpUrl | None = None
    """The Object Storage endpoint; default: the one of the secret's region."""
    late_days: int = Field(default=62, ge=0, le=400)
    max_attempts: int = Field(default=5, ge=1, le=10)

    @model_validator(mode="after")
    def _one_report_kind(self) -> OciSourceConfig:
        if not self.prefix:
            object.__setattr__(self, "prefix", DEFAULT_PREFIX[self.report])
        other: ReportKind = "focus" if self.report == "cost-csv" else "cost-csv"
        # Both reports hold the same charges: a prefix reaching into the other kind's folder (or the
        # whole bucket) would count them twice.
        if not self.prefix.strip("/") or self.prefix.lower().startswith(_KIND_ROOT[other]):
            raise fields_error(
                ["prefix"],
                f"{echo(self.prefix)} does not point at the {self.report} reports only "
                f"(default {DEFAULT_PREFIX[self.report]!r}); a credential reads one report kind",
            )
        return self


class OciSecret(BaseModel):
    """An OCI API signing key (the fields of an OCI config file, the key inline)."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    user: str = Field(pattern=_OCID)
    fingerprint: str = Field(pattern=r"^([0-9a-f]{2}:){15}[0-9a-f]{2}$")
    key_content: str = Field(min_length=1)
    tenancy: str = Field(pattern=_OCID)
    region: str = Field(pattern=r"^[A-Za-z][A-Za-z0-9-]{1,39}$")
    """A region identifier (us-ashburn-1) or key (iad): it becomes part of the endpoint's host name."""
    pass_phrase: str | None = None

    @model_validator(mode="after")
    def _key_loads(self) -> OciSecret:
        if (problem := private_key_problem(self.key_content, self.pass_phrase)) is not None:
            field = "pass_phrase" if "pass_phrase is required" in problem else "key_content"
            raise fields_error([field], problem)
        return self
