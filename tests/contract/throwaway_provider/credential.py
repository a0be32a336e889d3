"""A throwaway credential: the folder the ledgers are dropped in (config) and a token (secret)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class ThrowawayConfig(BaseModel):
    """Where the ledgers are."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    directory: str = Field(min_length=1)
    """An absolute local folder holding ``ledger-YYYY-MM*.tiny`` files."""


class ThrowawaySecret(BaseModel):
    """What a real source would authenticate with; the folder needs none, the test checks it travels."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    token: str = Field(min_length=1)
