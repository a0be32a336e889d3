"""Every registered connector has everything a provider needs: config, schemas, FOCUS mapping."""

from __future__ import annotations

import pytest

from cloudact_shared.naming import raw_table_name
from cloudact_shared.storage.schema import SCHEMA_DIR, load_schema
from focus_svc import conversion
from ingest_svc.config import all_pipeline_configs
from ingest_svc.connectors.registry import CONNECTORS

PROVIDERS = sorted(CONNECTORS)


@pytest.mark.parametrize("provider", PROVIDERS)
def test_provider_has_schemas_mapping_and_a_config_when_it_has_a_source(provider: str) -> None:
    configs = [c for c in all_pipeline_configs().values() if c.connector == provider]
    has_source = CONNECTORS[provider].factory is not None
    assert [c.pipeline_id for c in configs] == ([f"{provider}/cost/billing"] if has_source else [])

    raw = load_schema(raw_table_name(provider))
    lineage = {"x_pipeline_id", "x_credential_id", "x_run_id", "x_ingested_at", "x_pipeline_run_date"}
    assert lineage | {"ingestion_date", "billing_period", "source_object"} <= set(raw.column_names)
    assert raw.partition_by == ("ingestion_date",)
    assert (SCHEMA_DIR / f"cloud_{provider}_billing_quarantine.json").is_file()
    assert all(c.raw_schema == raw_table_name(provider) for c in configs)
    assert provider in conversion.mappings(), f"sql/mappings/{provider}.sql is missing"


def test_every_pipeline_config_names_a_connector_with_a_source() -> None:
    for config in all_pipeline_configs().values():
        assert CONNECTORS[config.connector].factory is not None, config.pipeline_id
