"""The DataHub "credential": where an org's uploaded events are (config); no secret at all.

Custom cost events are pushed to CloudAct (EventsService.UploadEvents), not read from a source with a
key, so there is nothing secret to vault. The pipeline still runs each load under a credential id
(the raw table's slice is keyed by it): ingest_svc derives it from the org
(``events.credential_id_for``) and resolves it itself, with this config pointing at the org's inbox
under its data directory. credential_svc never stores one: its vault needs at least one secret field
and ``DataHubSecret`` admits none, so no caller can point a DataHub load at a folder of its choosing.
"""

from __future__ import annotations

from pathlib import PurePosixPath

from pydantic import BaseModel, ConfigDict, Field, field_validator


class DataHubConfig(BaseModel):
    """The org's inbox, as ingest_svc resolves the org's DataHub credential."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    inbox: str = Field(min_length=2, max_length=4096)
    """The absolute path of the org's inbox folder (``<data dir>/inbox/datahub/<org>``)."""

    @field_validator("inbox")
    @classmethod
    def _absolute(cls, value: str) -> str:
        path = PurePosixPath(value)
        if not path.is_absolute() or ".." in path.parts:
            raise ValueError("must be an absolute path without '..'")
        return value


class DataHubSecret(BaseModel):
    """Empty: events are pushed with a bearer token, nothing reads them with a secret."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)
