"""`cloudact warehouse onboard`: an organisation's dataset ahead of its first run, idempotent."""

from __future__ import annotations

import uuid

import pytest
from typer.testing import CliRunner

from cloudact_cli.bigquery_emulator import BigQueryEmulator
from cloudact_cli.main import app
from cloudact_cli.warehouse import org_schemas
from cloudact_shared.storage.bigquery import BigQueryTableStore
from focus_svc.bigquery import PROCEDURE
from query_svc.adhoc.views import SEED_VIEWS


def test_onboard_creates_every_table_the_procedure_and_the_views(
    emulator: BigQueryEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    prefix = f"o{uuid.uuid4().hex[:8]}_"
    for name, value in {**emulator.settings_overrides(), "CLOUDACT_BIGQUERY_DATASET_PREFIX": prefix}.items():
        monkeypatch.setenv(name, value)
    store = BigQueryTableStore(
        emulator.project, endpoint=emulator.endpoint, read_endpoint=emulator.grpc_endpoint, dataset_prefix=prefix
    )

    first = CliRunner().invoke(app, ["warehouse", "onboard", "--org", "acme"])
    again = CliRunner().invoke(app, ["warehouse", "onboard", "--org", "acme"])

    assert first.exit_code == 0, first.output
    assert again.exit_code == 0, again.output
    tables = {table for dataset, table in store.list_tables() if dataset == "acme_prod"}
    assert {schema.table for schema in org_schemas()} <= tables
    dataset = f"{emulator.project}.{prefix}acme_prod"
    assert store.client.get_routine(f"{dataset}.{PROCEDURE}").type_ == "PROCEDURE"
    for view in SEED_VIEWS:
        assert store.client.get_table(f"{dataset}.{view}").table_type == "VIEW"


def test_onboard_refuses_a_bad_org_slug(emulator: BigQueryEmulator, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in emulator.settings_overrides().items():
        monkeypatch.setenv(name, value)

    result = CliRunner().invoke(app, ["warehouse", "onboard", "--org", "Acme-Corp"])

    assert result.exit_code == 1
    assert "invalid org slug" in result.output
