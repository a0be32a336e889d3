"""Pipeline configs: ingest_svc/configs/{cloud|saas|genai}/{provider}/{domain}/{pipeline}.yml."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field

from cloudact_shared.errors import NotFound

CONFIG_ROOT = Path(__file__).resolve().parent / "configs"


class PipelineConfig(BaseModel):
    """One pipeline's YAML; a misspelt key fails at load time."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    provider: str
    domain: str
    pipeline: str
    description: str
    connector: str
    raw_schema: str
    quarantine_schema: str
    revision_window_months: int = Field(ge=1, le=24)

    @property
    def pipeline_id(self) -> str:
        return f"{self.provider}/{self.domain}/{self.pipeline}"


@cache
def all_pipeline_configs() -> dict[str, PipelineConfig]:
    """Every pipeline config under configs/, keyed by pipeline id."""
    configs: dict[str, PipelineConfig] = {}
    for path in sorted(CONFIG_ROOT.glob("*/*/*/*.yml")):
        config = PipelineConfig.model_validate(yaml.safe_load(path.read_text()))
        expected = (path.parent.parent.name, path.parent.name, path.stem)
        if (config.provider, config.domain, config.pipeline) != expected:
            raise ValueError(f"{path}: provider/domain/pipeline do not match the file's path")
        configs[config.pipeline_id] = config
    return configs


def pipeline_config(provider: str, domain: str, pipeline: str) -> PipelineConfig:
    """The config of ``{provider}/{domain}/{pipeline}``.

    Raises:
        NotFound: when no such pipeline is configured.
    """
    pipeline_id = f"{provider}/{domain}/{pipeline}"
    try:
        return all_pipeline_configs()[pipeline_id]
    except KeyError:
        known = ", ".join(sorted(all_pipeline_configs()))
        raise NotFound(f"no pipeline {pipeline_id!r}; configured: {known}", reason="UNKNOWN_PIPELINE") from None
