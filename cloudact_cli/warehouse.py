"""``cloudact warehouse onboard``: an organisation's dataset with every table, the procedure and the views.

The services create what they need on first use (a pipeline run creates its raw and quarantine
tables, a conversion the FOCUS table and, on BigQuery, the procedure; ExecuteSql the views). An
operator onboards an organisation ahead of its first run instead, with the warehouse's own
credentials (on BigQuery: ``roles/bigquery.dataOwner`` on the project, or on a dataset created
beforehand). Every step is idempotent; a schema that grew is migrated by adding its new columns.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, cast

import typer
from rich.console import Console

from cloudact_shared.errors import CloudactError
from cloudact_shared.naming import FOCUS_TABLE, dataset_name, validate_org_slug
from cloudact_shared.settings import CloudactSettings

if TYPE_CHECKING:
    from cloudact_shared.storage import TableSchema, TableStore

warehouse_app = typer.Typer(help="The warehouse: onboard an organisation's dataset.", no_args_is_help=True)
_console = Console()


def org_schemas() -> list[TableSchema]:
    """Every table an organisation's dataset holds: the FOCUS table, then each provider's raw and
    quarantine tables, in the registry's order."""
    from cloudact_providers.registry import PROVIDERS, known_providers
    from cloudact_shared.storage import load_schema, read_schema

    schemas = [load_schema(FOCUS_TABLE)]
    for slug in known_providers():
        spec = PROVIDERS[slug]
        schemas += [read_schema(spec.raw_schema_path), read_schema(spec.quarantine_schema_path)]
    return schemas


def onboard_org(settings: CloudactSettings, org_slug: str) -> list[str]:
    """Creates (or migrates) ``org_slug``'s dataset; returns what it holds, one line each (blocking)."""
    from cloudact_shared.storage import open_store

    dataset = dataset_name(validate_org_slug(org_slug))
    store = open_store(settings)
    schemas = org_schemas()
    store.onboard(dataset, schemas)
    done = [f"{dataset}.{schema.table}" for schema in schemas]
    if store.capabilities.sql_dialect == "bigquery":
        done += _bigquery_routines(store, dataset)
    return done


def _bigquery_routines(store: TableStore, dataset: str) -> list[str]:
    """The stored procedure and the seed views (BigQuery only: the embedded path runs them in DuckDB)."""
    from focus_svc.bigquery import PROCEDURE, BigQueryConversion, ProcedureWarehouse
    from query_svc.adhoc.bigquery import BigQueryWarehouse, ensure_views
    from query_svc.adhoc.views import SEED_VIEWS, load_catalog

    BigQueryConversion(cast(ProcedureWarehouse, store)).ensure_procedure(dataset)
    ensure_views(cast(BigQueryWarehouse, store), load_catalog(), dataset)
    return [f"{dataset}.{PROCEDURE} (procedure)", *(f"{dataset}.{view} (view)" for view in SEED_VIEWS)]


@warehouse_app.command("onboard")
def onboard(org: Annotated[str, typer.Option("--org", help="The organisation's slug.")]) -> None:
    """Creates the organisation's dataset: every raw, quarantine and FOCUS table (and on BigQuery the
    conversion procedure and the seed's views). Safe to run again; new columns are added."""
    settings = CloudactSettings()
    try:
        done = onboard_org(settings, org)
    except CloudactError as error:
        _console.print(f"[red]{error}[/red]")
        raise typer.Exit(1) from None
    for line in done:
        _console.print(line)
    _console.print(f"[green]{org}: {len(done)} objects in the {settings.warehouse} warehouse[/green]")
