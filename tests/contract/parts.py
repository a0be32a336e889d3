"""What every provider must have, checked from its registration alone (the completeness contract).

``missing_parts`` walks one ``ProviderSpec`` and names each part that is absent or does not fit the
services: the shared completeness test runs it on every registered provider, and the throwaway
provider's test on its own registration.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from pydantic import BaseModel

from cloudact_providers.spec import ProviderSpec
from cloudact_shared.lineage import LINEAGE_COLUMNS
from cloudact_shared.naming import raw_table_name
from cloudact_shared.storage import read_schema
from focus_svc import conversion
from ingest_svc.config import pipeline_config
from tests.conftest import DATA

RAW_COLUMNS = {*LINEAGE_COLUMNS, "ingestion_date", "billing_period", "source_object"}
"""What ingest_svc writes on every raw row, and slices by."""
QUARANTINE_COLUMNS = {*RAW_COLUMNS, "source_row_number", "reason", "record"}
"""What ingest_svc writes on every quarantined row."""


def missing_parts(spec: ProviderSpec) -> list[str]:
    """Every part of ``spec`` that is missing or does not fit, as readable lines (empty: complete)."""
    checks: list[Callable[[ProviderSpec], list[str]]] = [
        _models,
        _pipeline,
        _schemas,
        _mapping,
        _reference,
        _entry_points,
        _samples,
    ]
    return [f"{spec.slug}: {problem}" for check in checks for problem in check(spec)]


def _models(spec: ProviderSpec) -> list[str]:
    problems = []
    for part, model in (("config", spec.config), ("secret", spec.secret)):
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            problems.append(f"{part} model is not a pydantic model")
        elif model.model_config.get("extra") != "forbid":
            problems.append(f"{part} model must forbid unknown fields (a misspelt key fails at once)")
    return problems


def _pipeline(spec: ProviderSpec) -> list[str]:
    pipeline = spec.pipeline
    config = pipeline_config(spec.slug, pipeline.domain, pipeline.pipeline)
    problems = [] if pipeline.description.strip() else ["pipeline has no description"]
    if not 1 <= pipeline.revision_window_months <= 24:
        problems.append("revision window must be 1..24 months")
    if (config.raw_schema_path, config.quarantine_schema_path) != (spec.raw_schema_path, spec.quarantine_schema_path):
        problems.append("ingest_svc's pipeline config does not read the registration's schemas")
    return problems


def _schemas(spec: ProviderSpec) -> list[str]:
    problems = []
    for path, expected, columns in (
        (spec.raw_schema_path, raw_table_name(spec.slug), RAW_COLUMNS),
        (spec.quarantine_schema_path, f"cloud_{spec.slug}_billing_quarantine", QUARANTINE_COLUMNS),
    ):
        if not path.is_file():
            problems.append(f"schema {path} is missing")
            continue
        schema = read_schema(path)
        if schema.table != expected or path.stem != expected:
            problems.append(f"{path} must define table {expected}")
        if lacking := sorted(columns - set(schema.column_names)):
            problems.append(f"{path} lacks the pipeline's columns {lacking}")
        if schema.partition_by != ("ingestion_date",):
            problems.append(f"{path} must be partitioned by ingestion_date")
    return problems


def _mapping(spec: ProviderSpec) -> list[str]:
    if not spec.mapping_path.is_file():
        return [f"mapping {spec.mapping_path} is missing"]
    problems = [] if conversion.RAW_PLACEHOLDER in spec.mapping_path.read_text() else ["mapping never reads {{raw}}"]
    if conversion.mappings().get(spec.slug) != spec.mapping_path:
        problems.append("focus_svc does not find the mapping through the registration")
    return problems


def _reference(spec: ProviderSpec) -> list[str]:
    mapping = spec.mapping_path.read_text() if spec.mapping_path.is_file() else ""
    problems = []
    for path in spec.reference_paths:
        if not path.is_file() or path.suffix != ".csv":
            problems.append(f"reference CSV {path} is missing")
        elif not re.search(rf"\bref_{re.escape(path.stem)}\b", mapping):
            problems.append(f"the mapping never joins ref_{path.stem} ({path.name})")
        elif conversion.reference_tables().get(f"ref_{path.stem}") != path:
            problems.append(f"focus_svc does not load {path.name} as ref_{path.stem}")
    return problems


def _entry_points(spec: ProviderSpec) -> list[str]:
    loaders: dict[str, Callable[[], object]] = {
        "connector factory": spec.connector_factory,
        "raw-SELECT builder": spec.raw_select_builder,
        "synthetic generator": spec.synthetic_generator,
        **{f"sample {s.name!r} writer": _writer(spec, s.name) for s in spec.samples if s.make is not None},
    }
    problems = []
    for what, load in loaders.items():
        try:
            if not callable(load()):
                problems.append(f"{what} is not callable")
        except (ImportError, AttributeError, ValueError) as exc:
            problems.append(f"{what} cannot be imported: {exc}")
    return problems


def _writer(spec: ProviderSpec, name: str) -> Callable[[], object]:
    sample = next(s for s in spec.samples if s.name == name)
    return lambda: spec.sample_writer(sample)


def _samples(spec: ProviderSpec) -> list[str]:
    problems = [] if spec.samples else ["no vendored sample, fixture or generated sample to validate"]
    for sample in spec.samples:
        if bool(sample.files) == (sample.make is not None):
            problems.append(f"sample {sample.name!r} must name files or a writer, not both or neither")
        problems += [f"sample file tests/data/{f} is missing" for f in sample.files if not (DATA / f).is_file()]
    return problems


def provider_files(root: Path) -> set[str]:
    """The files under ``root`` (relative, POSIX), bytecode caches aside."""
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts}
