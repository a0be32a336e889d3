"""Every registered provider has every part, found through its one registration.

The parts (``tests/contract/parts.py``): credential models, pipeline, raw and quarantine schemas,
mapping, the reference CSVs it joins, importable connector factory, raw-SELECT builder and generator,
samples to validate. Beyond those: a README provider row, the one-package layout, a generator whose
output converts cleanly, and no SQL file under ``sql/`` that no provider claims.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from cloudact_cli.convert import convert_files
from cloudact_providers.rawselect.currency import CODES_CSV
from cloudact_providers.registry import PROVIDER_PACKAGES, known_providers, registration
from cloudact_providers.spec import SQL_ROOT
from focus_svc.conversion import SHARED_REFERENCE
from tests.conftest import REPO
from tests.contract.parts import missing_parts

PROVIDERS = known_providers()


@pytest.mark.parametrize("provider", PROVIDERS)
def test_provider_has_every_part(provider: str) -> None:
    assert missing_parts(registration(provider)) == []


@pytest.mark.parametrize("provider", PROVIDERS)
def test_provider_has_a_readme_row(provider: str) -> None:
    spec = registration(provider)
    rows = [line for line in (REPO / "README.md").read_text().splitlines() if line.startswith("| ")]
    assert any(row.startswith(f"| {spec.name} | `{spec.pipeline_id}` |") for row in rows), spec.name


@pytest.mark.parametrize("provider", PROVIDERS)
def test_provider_is_one_package_with_its_code_inside(provider: str) -> None:
    spec = registration(provider)
    package = f"cloudact_providers.{provider}"
    assert package in PROVIDER_PACKAGES
    for entry_point in (spec.connector, spec.raw_select, spec.generator):
        assert entry_point.startswith(f"{package}."), entry_point
    assert spec.sql_root == SQL_ROOT
    assert spec.mapping == f"mappings/{provider}.sql"


@pytest.mark.parametrize("provider", PROVIDERS)
def test_generator_output_converts_without_quarantine(provider: str, tmp_path: Path) -> None:
    export = registration(provider).synthetic_generator()(tmp_path, 500)

    result = convert_files(provider, [export], tmp_path / "focus.parquet", threads=2)

    assert result.rows_written >= 500 and result.rows_quarantined == 0, result.quarantine_reasons
    assert registration(provider).synthetic_generator()(tmp_path, 500) == export  # the same file again


def test_every_sql_file_belongs_to_a_registered_provider() -> None:
    specs = [registration(p) for p in PROVIDERS]
    claimed = {path for spec in specs for path in (*spec.reference_paths, spec.mapping_path)}
    claimed |= {path for spec in specs for path in (spec.raw_schema_path, spec.quarantine_schema_path)}
    claimed |= {CODES_CSV, *SHARED_REFERENCE}  # the reference data every provider shares
    files = [*SQL_ROOT.glob("mappings/*.sql"), *SQL_ROOT.glob("reference/*.csv"), *SQL_ROOT.glob("schemas/cloud_*")]
    assert sorted(str(f) for f in files if f not in claimed) == []
