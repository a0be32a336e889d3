"""Pipeline configs: each registered provider's pipeline, ``{provider}/{domain}/{pipeline}``.

The pipelines are part of the providers' registrations (``cloudact_providers.registry``): a provider
registered is a pipeline configured, with nothing else to keep in step.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cloudact_providers.registry import PROVIDERS
from cloudact_providers.spec import ProviderSpec
from cloudact_shared.errors import NotFound


@dataclass(frozen=True)
class PipelineConfig:
    """One pipeline as ingest_svc runs it: where it writes, and how far back it re-reads."""

    provider: str
    domain: str
    pipeline: str
    description: str
    raw_schema: str
    quarantine_schema: str
    raw_schema_path: Path
    quarantine_schema_path: Path
    revision_window_months: int

    @property
    def pipeline_id(self) -> str:
        return f"{self.provider}/{self.domain}/{self.pipeline}"


def _config(spec: ProviderSpec) -> PipelineConfig:
    return PipelineConfig(
        provider=spec.slug,
        domain=spec.pipeline.domain,
        pipeline=spec.pipeline.pipeline,
        description=spec.pipeline.description,
        raw_schema=spec.raw_schema,
        quarantine_schema=spec.quarantine_schema,
        raw_schema_path=spec.raw_schema_path,
        quarantine_schema_path=spec.quarantine_schema_path,
        revision_window_months=spec.pipeline.revision_window_months,
    )


def all_pipeline_configs() -> dict[str, PipelineConfig]:
    """Every registered provider's pipeline, keyed by pipeline id, sorted."""
    configs = (_config(spec) for spec in PROVIDERS.values())
    return {c.pipeline_id: c for c in sorted(configs, key=lambda c: c.pipeline_id)}


def pipeline_config(provider: str, domain: str, pipeline: str) -> PipelineConfig:
    """The config of ``{provider}/{domain}/{pipeline}``.

    Raises:
        NotFound: when no such pipeline is configured.
    """
    pipeline_id = f"{provider}/{domain}/{pipeline}"
    configs = all_pipeline_configs()
    try:
        return configs[pipeline_id]
    except KeyError:
        known = ", ".join(configs)
        raise NotFound(f"no pipeline {pipeline_id!r}; configured: {known}", reason="UNKNOWN_PIPELINE") from None
