"""What a provider registers: one ``ProviderSpec``, plain data that every service can read.

A spec holds strings, paths and pydantic models only: reading it imports no cloud SDK, no DuckDB and
no service. The provider's code is named by entry points, dotted strings ``package.module:attribute``
imported the first time they are used (``load``), so importing the registry, the CLI or focus_svc
costs only what is used, and importing one provider's connector never imports another's SDK.

The SQL of a provider stays under ``sql/`` (``ProviderSpec.sql_root``): its raw and quarantine schemas
(``schemas/<name>.json``), its FOCUS mapping and the reference CSVs the mapping joins. A provider kept
elsewhere (a test's throwaway provider) points ``sql_root`` at its own folder.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, cast

from pydantic import BaseModel

if TYPE_CHECKING:
    from cloudact_providers.connector import (
        ConnectorFactory,
        DemoSource,
        RawSelectBuilder,
        SampleWriter,
        SyntheticGenerator,
    )

Category = Literal["cloud", "saas", "genai", "custom"]
"""What a provider bills for: a cloud, a SaaS platform, a generative AI API, or anything (``custom``:
cost events its customers push, DataHub)."""

SQL_ROOT = Path(__file__).resolve().parents[1] / "sql"
"""The repository's ``sql/``: where the built-in providers' schemas, mappings and reference data live."""

PairCheck = Callable[[Any, Any], list[tuple[str, str]]]
"""Rules across a validated config and secret: (``config.x`` / ``secret.y`` field, what is wrong)."""


@dataclass(frozen=True)
class PipelineSpec:
    """The provider's one pipeline, ``{slug}/{domain}/{pipeline}``: what ingest_svc runs."""

    description: str
    """What the pipeline reads, for people (ListPipelines)."""
    revision_window_months: int
    """How many billing months, ending with the current one, a run with no explicit period re-reads:
    the months the provider may still restate."""
    domain: str = "cost"
    pipeline: str = "billing"


@dataclass(frozen=True)
class Sample:
    """Inputs the shared tests convert to FOCUS and validate: vendored public samples or fixtures.

    Either ``files`` (paths relative to the repository's ``tests/data``; vendored public samples
    under ``samples/`` with their SOURCES) or ``make`` (an entry point ``SampleWriter`` that writes
    generated input into a directory).
    """

    name: str
    files: tuple[str, ...] = ()
    make: str | None = None
    focus_rows: int | None = None
    """The FOCUS rows the input must convert to, when the tests pin it."""


@dataclass(frozen=True)
class ProviderSpec:
    """One provider's registration: everything the services, the CLI and the tests know about it."""

    slug: str
    """The provider's name in APIs, table names, pipeline ids and folders (``aws``)."""
    name: str
    """Its name for people (``AWS``)."""
    category: Category
    config: type[BaseModel]
    """The non-secret config of a credential (where the export is)."""
    secret: type[BaseModel]
    """The secret of a credential (how to read the export)."""
    pipeline: PipelineSpec
    raw_schema: str
    """The raw table's schema, ``schemas/<raw_schema>.json`` (always ``cloud_<slug>_billing_raw_daily``)."""
    quarantine_schema: str
    """The quarantine table's schema (always ``cloud_<slug>_billing_quarantine``)."""
    mapping: str
    """The raw -> FOCUS 1.3 SELECT, relative to ``sql_root`` (``mappings/<slug>.sql``)."""
    reference: tuple[str, ...]
    """The reference CSVs the mapping joins, relative to ``sql_root``; each is table ``ref_<file stem>``."""
    connector: str
    """Entry point of the ``ConnectorFactory``: builds the connector from a decrypted credential."""
    raw_select: str
    """Entry point of the ``RawSelectBuilder``: one export file -> a DuckDB SELECT of raw rows."""
    generator: str
    """Entry point of the ``SyntheticGenerator``: writes a synthetic export file of N rows."""
    samples: tuple[Sample, ...]
    """What the conformance tests convert and validate (at least one)."""
    sdk: tuple[str, ...] = ()
    """The modules of the provider's SDK (``boto3``, ``google.cloud.bigquery``): only its connector
    imports them, never the registry, a service at start-up, the CLI or another provider."""
    check_pair: PairCheck | None = None
    """Rules across config and secret, beyond each model's own."""
    demo: str | None = None
    """Entry point of a ``DemoSource``: the vendor's API on loopback holding generated bills, and a
    credential for it. ``make demo`` and the end-to-end tests run every provider that has one (the
    clouds' emulators are set up by the demo itself)."""
    sql_root: Path = SQL_ROOT

    @property
    def pipeline_id(self) -> str:
        return f"{self.slug}/{self.pipeline.domain}/{self.pipeline.pipeline}"

    @property
    def raw_schema_path(self) -> Path:
        return self.sql_root / "schemas" / f"{self.raw_schema}.json"

    @property
    def quarantine_schema_path(self) -> Path:
        return self.sql_root / "schemas" / f"{self.quarantine_schema}.json"

    @property
    def mapping_path(self) -> Path:
        return self.sql_root / self.mapping

    @property
    def reference_paths(self) -> tuple[Path, ...]:
        return tuple(self.sql_root / name for name in self.reference)

    def connector_factory(self) -> ConnectorFactory:
        """The connector factory (imports the provider's connector module and its SDK)."""
        return cast("ConnectorFactory", load(self.connector))

    def raw_select_builder(self) -> RawSelectBuilder:
        """The raw-SELECT builder (imports the provider's file formats module: DuckDB, no SDK)."""
        return cast("RawSelectBuilder", load(self.raw_select))

    def synthetic_generator(self) -> SyntheticGenerator:
        """The synthetic export generator (for tests, the demo and benchmarks)."""
        return cast("SyntheticGenerator", load(self.generator))

    def demo_source(self) -> DemoSource | None:
        """The demo source (imports the provider's loopback server), or None when it has none."""
        return None if self.demo is None else cast("DemoSource", load(self.demo))

    def sample_writer(self, sample: Sample) -> SampleWriter:
        """The writer of a generated ``sample`` (its ``make`` entry point)."""
        if sample.make is None:
            raise ValueError(f"{self.slug} sample {sample.name!r} is made of files, not generated")
        return cast("SampleWriter", load(sample.make))


@cache
def load(entry_point: str) -> object:
    """Imports ``package.module:attribute`` and returns the attribute (once; later calls are a lookup).

    Raises:
        ValueError: ``entry_point`` is not of the form ``module:attribute``.
        ImportError: the module cannot be imported.
        AttributeError: the module has no such attribute.
    """
    module, _, attribute = entry_point.partition(":")
    if not module or not attribute:
        raise ValueError(f"entry point {entry_point!r} is not 'package.module:attribute'")
    return getattr(importlib.import_module(module), attribute)
