"""A provider is its own files: a throwaway provider, registered at run time, runs end to end.

``tests/contract/throwaway_provider/`` has exactly the files ``docs/architecture.md`` lists for a new
provider (its SQL in its own ``sql/``) and nothing outside that folder names it. Registered with
``cloudact_providers.registry.registered``, it has every part the completeness contract asks for,
converts with ``cloudact convert`` to FOCUS 1.3 rows that pass the FOCUS validator, and runs through
the four services: credential, pipeline run, raw, quarantine and FOCUS tables, cost query.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from cloudact_cli.convert import convert_files
from cloudact_cli.main import query_costs
from cloudact_providers.registry import known_providers, register, registered, registration
from cloudact_providers.spec import ProviderSpec
from cloudact_shared.errors import NotFound
from cloudact_shared.gen.cloudact.credential.v1 import credential_service_pb2 as cred_pb
from cloudact_shared.gen.cloudact.credential.v1.credential_service_pb2_grpc import CredentialServiceStub
from cloudact_shared.gen.cloudact.pipeline.v1 import pipeline_service_pb2 as pipe_pb
from cloudact_shared.gen.cloudact.pipeline.v1.pipeline_service_pb2_grpc import PipelineServiceStub
from cloudact_shared.gen.cloudact.query.v1 import query_service_pb2 as query_pb
from cloudact_shared.storage import load_schema
from ingest_svc.config import pipeline_config
from tests.channels import org_channel
from tests.conformance.validator import assert_sample_conforms
from tests.conftest import REPO, Services
from tests.contract.parts import missing_parts, provider_files
from tests.contract.throwaway_provider import SPEC
from tests.e2e.helpers import read_table, run_pipeline

HERE = Path(__file__).resolve().parent / "throwaway_provider"
ORG = "acme"
JANUARY = date(2025, 1, 1)
FOCUS_COLUMNS = load_schema("cost_data_standard_1_3").column_names


@pytest.fixture
def throwaway() -> Iterator[ProviderSpec]:
    with registered(SPEC) as spec:
        yield spec


def _listed_files() -> set[str]:
    """The files docs/architecture.md lists for a new provider, as the throwaway's files."""
    doc = (REPO / "docs" / "architecture.md").read_text()
    block = doc.split("## The files of a provider", 1)[1].split("```", 2)[1]
    # A line that starts with a space continues the description above it.
    paths = [line.split()[0] for line in block.splitlines() if line.strip() and not line.startswith(" ")]
    files = set()
    for path in (p.replace("<slug>", SPEC.slug) for p in paths):
        files.add(re.sub(rf"^cloudact_providers/{SPEC.slug}/", "", path))
    return files


def test_its_files_are_the_ones_the_architecture_lists() -> None:
    assert provider_files(HERE) == _listed_files()


def test_nothing_outside_its_folder_names_it() -> None:
    roots = ["cloudact_providers", "cloudact_shared", "cloudact_cli", "credential_svc", "ingest_svc", "focus_svc"]
    roots += ["query_svc", "sql", "benchmarks"]
    naming = re.compile(r"throwaway_provider|cloud_throwaway_|[\"']throwaway[\"']")
    named = [
        str(path)
        for root in roots
        for path in (REPO / root).rglob("*")
        if path.suffix in (".py", ".sql", ".json", ".csv", ".yml") and naming.search(path.read_text())
    ]
    assert named == []


def test_unregistered_it_does_not_exist() -> None:
    assert SPEC.slug not in known_providers()
    with pytest.raises(NotFound):
        pipeline_config(SPEC.slug, "cost", "billing")


MISFITS = {
    "taken slug": dataclasses.replace(
        SPEC, slug="aws", raw_schema="cloud_aws_billing_raw_daily", quarantine_schema="cloud_aws_billing_quarantine"
    ),
    "bad slug": dataclasses.replace(SPEC, slug="Throw Away"),
    "misnamed raw table": dataclasses.replace(SPEC, raw_schema="throwaway_raw"),
}


@pytest.mark.parametrize("misfit", sorted(MISFITS))
def test_register_refuses_a_provider_the_services_could_not_tell_apart(misfit: str) -> None:
    with pytest.raises(ValueError):
        register(MISFITS[misfit])
    assert SPEC.slug not in known_providers() and registration("aws").name == "AWS"


def test_registered_it_has_every_part(throwaway: ProviderSpec) -> None:
    assert missing_parts(throwaway) == []


def test_cloudact_convert_makes_focus_rows_of_its_ledger(throwaway: ProviderSpec, tmp_path: Path) -> None:
    ledger = throwaway.synthetic_generator()(tmp_path, 30)
    bad = tmp_path / "ledger-2025-01-bad.tiny"
    bad.write_text("day;service;amount;currency;account\n2025-01-02;compute;a lot;eur;acct-0\n")
    output = tmp_path / "focus.parquet"

    result = convert_files(throwaway.slug, [ledger, bad], output)

    assert (result.rows_written, result.rows_quarantined) == (30, 1)
    assert result.quarantine_reasons == {"unparsable amount": 1}
    quarantined = (tmp_path / "focus.parquet.quarantine.csv").read_text()
    assert "a lot" in quarantined and str(bad) in quarantined
    table = pq.read_table(output)
    assert table.column_names == FOCUS_COLUMNS
    rows = table.to_pylist()
    assert {r["x_source_provider"] for r in rows} == {"throwaway"}
    # Service names and categories come from its own reference CSV; an unknown service is Other.
    by_service = {r["ServiceName"]: (r["ServiceCategory"], r["ServiceSubcategory"]) for r in rows}
    assert by_service == {
        "Throwaway Compute": ("Compute", "Virtual Machines"),
        "Throwaway Storage": ("Storage", "Object Storage"),
        "support": ("Other", "Other (Other)"),
    }
    assert sum(r["BilledCost"] for r in rows) == Decimal("167.5")


@pytest.mark.timeout(960)
def test_its_sample_passes_the_focus_validator(throwaway: ProviderSpec, tmp_path: Path) -> None:
    (sample,) = throwaway.samples
    assert assert_sample_conforms(throwaway, sample, tmp_path).startswith("Total:")


async def _create_credential(services: Services, ledgers: Path) -> str:
    async with org_channel(services.settings, services.settings.credential_address, ORG, role="operator") as channel:
        created = await CredentialServiceStub(channel).CreateCredential(
            cred_pb.CreateCredentialRequest(
                org_slug=ORG,
                provider=SPEC.slug,
                display_name="ledgers",
                secret={"token": "t0ken"},
                config={"directory": str(ledgers)},
            ),
            timeout=10,
        )
    return str(created.credential.credential_id)


async def _pipelines(services: Services) -> list[str]:
    async with org_channel(services.settings, services.settings.ingest_address, ORG, role="viewer") as channel:
        listed = await PipelineServiceStub(channel).ListPipelines(pipe_pb.ListPipelinesRequest(), timeout=10)
    return [p.pipeline_id for p in listed.pipelines]


async def test_the_services_run_its_pipeline_end_to_end(
    services: Services, throwaway: ProviderSpec, tmp_path: Path
) -> None:
    ledgers = tmp_path / "ledgers"
    ledgers.mkdir()
    throwaway.synthetic_generator()(ledgers, 12)
    (ledgers / "ledger-2025-01-late.tiny").write_text(
        "day;service;amount;currency;account\n2025-01-40;compute;1;eur;a\n"
    )
    (ledgers / "ledger-2025-02.tiny").write_text("day;service;amount;currency;account\n2025-02-01;compute;9;eur;a\n")
    assert "throwaway/cost/billing" in await _pipelines(services)
    credential_id = await _create_credential(services, ledgers)

    _, result = await run_pipeline(services.settings, ORG, credential_id, JANUARY, provider=SPEC.slug)

    assert (result.files_read, result.raw_rows_written, result.rows_quarantined) == (2, 12, 1)
    assert result.focus_rows_written == 12
    raw = read_table(services.settings, ORG, SPEC.raw_schema)
    assert raw.num_rows == 12 and set(raw.column("x_run_id").to_pylist()) == {result.lineage.run_id}
    quarantine = read_table(services.settings, ORG, SPEC.quarantine_schema).to_pylist()
    assert [q["reason"] for q in quarantine] == ["unparsable day: '2025-01-40'"]
    focus = read_table(services.settings, ORG, "cost_data_standard_1_3")
    assert set(focus.column("x_source_provider").to_pylist()) == {"throwaway"}
    assert set(focus.column("x_credential_id").to_pylist()) == {credential_id}
    question = query_pb.QueryCostsRequest(
        org_slug=ORG,
        start_date="2025-01-01",
        end_date="2025-01-31",
        grain=query_pb.TIME_GRAIN_MONTH,
        metrics=[query_pb.COST_METRIC_BILLED_COST],
        group_by=["ServiceName"],
    )
    answer = await query_costs(services.caller(ORG), question)
    billed = {row.dimensions["ServiceName"]: Decimal(row.amounts["BilledCost"]) for row in answer.rows}
    assert billed == {"Throwaway Compute": Decimal("50"), "Throwaway Storage": Decimal("13"), "support": Decimal("4")}
