"""An AWS credential: where the CUR export is delivered (config) and the access key that reads it (secret).

No SDK here: credential_svc validates credentials with these models when they are created.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from cloudact_providers.endpoints import Endpoint, HttpUrl

# botocore's rule for a region name: it becomes part of the S3 host name.
_REGION = r"^[a-zA-Z0-9](?:[a-zA-Z0-9\-]{0,61}[a-zA-Z0-9])?$"


class AwsSourceConfig(BaseModel):
    """Where the export is delivered; stored as the credential's non-secret config."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    ENDPOINTS: ClassVar[Mapping[str, Endpoint]] = {
        "endpoint_url": Endpoint(expected="unset (the AWS S3 endpoint of the region is used)")
    }

    bucket: str = Field(min_length=1, pattern=r"^[^/\s]+$")
    export_name: str = Field(min_length=1)
    prefix: str = ""
    layout: Literal["cur2", "legacy"] = "cur2"
    region: str = Field(default="us-east-1", pattern=_REGION)
    endpoint_url: HttpUrl | None = None
    """Any S3-compatible endpoint (an emulator in tests); unset for AWS itself."""
    max_attempts: int = Field(default=5, ge=1, le=10)
    """Tries per request, the first included (botocore's standard retry mode)."""


class AwsSecret(BaseModel):
    """The secret fields of an AWS credential (access key; optional STS session token)."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    aws_access_key_id: str = Field(min_length=1)
    aws_secret_access_key: str = Field(min_length=1)
    aws_session_token: str | None = None
