"""The FOCUS conversion inside BigQuery (sp_cloud_1_convert_to_focus) against the embedded one.

Every provider's raw rows (its registered samples and its synthetic generator) are converted on the
embedded path (FocusConverter over an EmbeddedTableStore) and by the stored procedure on bqemulator
(FocusConverter over a BigQuery warehouse), and the FOCUS rows are compared column by column.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pytest
import sqlglot
from google.cloud import bigquery
from sqlglot import exp

from cloudact_cli.bigquery_emulator import BigQueryEmulator, bigquery_emulator, bqemulator_available
from cloudact_providers.registry import registration
from cloudact_shared.errors import FailedPrecondition
from cloudact_shared.lineage import Lineage
from cloudact_shared.naming import FOCUS_TABLE, raw_table_name
from cloudact_shared.storage import SliceKey, StoreCapabilities, TableSchema, load_schema
from cloudact_shared.storage.embedded import EmbeddedTableStore
from cloudact_shared.workspace import WorkDirs
from focus_svc import bigquery_sql, conversion
from focus_svc.bigquery import PROCEDURE, BigQueryConversion, job_id, procedure_body, procedure_sql, text_hash
from focus_svc.service import FocusConverter
from ingest_svc.adapters.staging import stage_files
from ingest_svc.adapters.staging_query import ExportFile
from tests.conftest import LEGACY_CUR_SAMPLE, sample_inputs
from tests.focus_svc.bigquery_tables import create_table, load_rows


@pytest.fixture(autouse=True, scope="module")
def _bqemulator_installed() -> None:
    assert bqemulator_available(), "bqemulator is not installed: run `make install` (it builds .venv-bqemulator)"


ORG, DATASET = "acme", "acme_prod"
SYNTHETIC_ROWS = 60
NOW = datetime(2025, 2, 3, tzinfo=UTC)


@dataclass(frozen=True)
class Warehouse:
    """The BigQuery side of a TableStore over bqemulator, as FocusConverter needs it (the
    BigQueryTableStore's conventions: dataset per organisation, the store's column types)."""

    emulator: BigQueryEmulator
    bq: bigquery.Client
    capabilities = StoreCapabilities(sql_dialect="bigquery", supports_procedures=True, max_identifier_length=1024)

    @property
    def client(self) -> bigquery.Client:
        return self.bq

    @property
    def project(self) -> str:
        return self.emulator.project

    def dataset_id(self, dataset: str) -> str:
        return dataset

    def table_exists(self, dataset: str, table: str) -> bool:
        return any(t.table_id == table for t in self.bq.list_tables(f"{self.project}.{dataset}"))

    def ensure_table(self, dataset: str, schema: TableSchema) -> None:
        create_table(self.bq, dataset, schema)

    def version(self, dataset: str, table: str) -> int | None:
        modified = self.bq.get_table(f"{self.project}.{dataset}.{table}").modified
        return None if modified is None else int(modified.timestamp() * 1000)


@pytest.fixture(scope="module")
def warehouse() -> Iterator[Warehouse]:
    with bigquery_emulator() as emulator:
        client = emulator.client()
        client.create_dataset(DATASET)
        for provider in conversion.mappings():
            create_table(client, DATASET, load_schema(raw_table_name(provider)))
        create_table(client, DATASET, load_schema(FOCUS_TABLE))
        yield Warehouse(emulator, client)


@pytest.fixture(scope="module")
def procedure(warehouse: Warehouse) -> BigQueryConversion:
    conversion_in_bq = BigQueryConversion(warehouse)
    conversion_in_bq.ensure_procedure(DATASET)
    return conversion_in_bq


def _converter(store: Any, tmp_path: Path) -> FocusConverter:
    return FocusConverter(store, work_dirs=WorkDirs(tmp_path / "tmp"), batch_rows=1000, memory_limit="256MB")


def _raw_rows(provider: str, lineage: Lineage, directory: Path) -> pa.Table:
    """The good raw rows of the provider's samples and synthetic export, staged as ingest_svc stages them."""
    spec = registration(provider)
    files: list[Path] = []
    for index, sample in enumerate(spec.samples):
        (directory / f"sample{index}").mkdir(parents=True)
        files += sample_inputs(spec, sample, directory / f"sample{index}")
    (directory / "synthetic").mkdir(parents=True)
    files.append(spec.synthetic_generator()(directory / "synthetic", SYNTHETIC_ROWS))
    exports = [ExportFile(path, f"s3://exports/{provider}/{path.name}") for path in files]
    (directory / "staged").mkdir()
    staged = stage_files(
        exports,
        lineage,
        directory / "staged",
        load_schema(raw_table_name(provider)),
        spec.raw_select_builder(),
        memory_limit="256MB",
        batch_rows=1000,
    )
    return pa.Table.from_batches(list(staged.good_rows(1000)))


def _periods(rows: pa.Table) -> list[date]:
    return sorted(set(rows.column("billing_period").to_pylist()))


def _embedded_focus(provider: str, lineage: Lineage, rows: pa.Table, tmp_path: Path) -> list[dict[str, Any]]:
    store = EmbeddedTableStore(tmp_path / "lake")
    key: SliceKey = {"x_credential_id": lineage.credential_id, "billing_period": _periods(rows)}
    store.replace_slice(
        DATASET,
        load_schema(raw_table_name(provider)),
        key,
        pa.RecordBatchReader.from_batches(rows.schema, rows.to_batches()),
    )
    _converter(store, tmp_path).convert(ORG, provider, lineage, _periods(rows))
    table = store.scan(DATASET, FOCUS_TABLE).to_table()
    rows_of_run: list[dict[str, Any]] = table.filter(pc.equal(table.column("x_run_id"), lineage.run_id)).to_pylist()
    return rows_of_run


def _bigquery_focus(warehouse: Warehouse, run_id: str) -> list[dict[str, Any]]:
    sql = f"SELECT * FROM `{warehouse.project}.{DATASET}.{FOCUS_TABLE}` WHERE x_run_id = '{run_id}'"
    return [dict(row.items()) for row in warehouse.bq.query(sql).result()]


def cast_columns(provider: str) -> frozenset[str]:
    """The FOCUS columns whose BigQuery expression CASTs a value to BIGNUMERIC: one DuckDB holds as
    text or a DOUBLE (GCP's list and contracted cost: unit price x quantity in DOUBLE). bqemulator
    runs that CAST at 5 places (real BigQuery: 38, then the ROUND to 12), so exactly these columns
    are compared at 5 places; every other decimal to the last of its 12."""
    raw = sqlglot.parse_one("(SELECT * FROM raw)", read="bigquery")
    tree = sqlglot.parse_one(bigquery_sql.focus_select(provider, raw), read="bigquery")
    focus = set(load_schema(FOCUS_TABLE).column_names)
    return frozenset(
        alias.alias
        for alias in tree.find_all(exp.Alias)
        if alias.alias in focus
        and any(
            c.to.is_type(exp.DataType.Type.BIGDECIMAL) and not c.this.is_string and not isinstance(c.this, exp.Null)
            for c in alias.find_all(exp.Cast)
        )
    )


def _normalized(row: dict[str, Any], json_columns: frozenset[str], five_places: frozenset[str]) -> tuple[Any, ...]:
    """A row as comparable values: JSON parsed, decimals exact (trailing zeros aside), in schema order."""
    values = []
    for name in load_schema(FOCUS_TABLE).column_names:
        value = row.get(name)
        if name in json_columns and value is not None:
            value = json.loads(value)
        elif isinstance(value, Decimal):
            if name in five_places:  # as DuckDB rounds: half away from zero
                value = value.quantize(Decimal("0.00001"), rounding=ROUND_HALF_UP)
            value = value.normalize()
        values.append(value)
    return tuple(values)


def _differences(
    embedded: list[dict[str, Any]], in_bigquery: list[dict[str, Any]], five_places: frozenset[str] = frozenset()
) -> list[str]:
    """Column-by-column differences of two row sets (matched by their sorted order)."""
    schema = load_schema(FOCUS_TABLE)
    json_columns = frozenset(c.name for c in schema.columns if c.type.upper() == "JSON")
    names = schema.column_names
    left = sorted((_normalized(r, json_columns, five_places) for r in embedded), key=repr)
    right = sorted((_normalized(r, json_columns, five_places) for r in in_bigquery), key=repr)
    if len(left) != len(right):
        return [f"{len(left)} embedded rows, {len(right)} BigQuery rows"]
    found = []
    for a, b in zip(left, right, strict=True):
        found += [f"{names[i]}: {a[i]!r} != {b[i]!r}" for i in range(len(names)) if a[i] != b[i]]
    return sorted(set(found))[:60]


@pytest.mark.parametrize("provider", sorted(conversion.mappings()))
def test_the_procedure_converts_as_the_embedded_path(
    provider: str, warehouse: Warehouse, procedure: BigQueryConversion, tmp_path: Path
) -> None:
    lineage = Lineage.new_run(f"{provider}/cost/billing", str(uuid.uuid4()), now=NOW)
    rows = _raw_rows(provider, lineage, tmp_path / "inputs")
    assert rows.num_rows > 0
    embedded = _embedded_focus(provider, lineage, rows, tmp_path)
    _assert_procedure_parses(provider)
    load_rows(warehouse.bq, DATASET, raw_table_name(provider), rows)

    result = _converter(warehouse, tmp_path).convert(ORG, provider, lineage, _periods(rows))

    in_bigquery = _bigquery_focus(warehouse, lineage.run_id)
    assert (result.raw_rows_read, result.focus_rows_written) == (rows.num_rows, len(in_bigquery))
    five_places = cast_columns(provider)
    # Only GCP's DOUBLE-valued list and contracted cost, never BilledCost or EffectiveCost.
    assert five_places == ({"ContractedCost", "ListCost"} if provider == "gcp" else set())
    differences = _differences(embedded, in_bigquery, five_places)
    assert embedded
    assert differences == [], "\n".join(differences)


def _assert_procedure_parses(provider: str) -> None:
    """The procedure is BigQuery SQL holding the statements the conversion relies on, and the
    provider's SELECT parses as BigQuery (every mapping has a BigQuery form: no NO_BIGQUERY_FORM
    branch; tests/focus_svc/test_bigquery_nested.py covers the refusal)."""
    sql = procedure_sql("acme-billing", DATASET, [provider])
    assert [s for s in sqlglot.parse(sql, read="bigquery") if s is not None]
    needed = ["SELECT ERROR(", "STALE_RUN", "COMMIT TRANSACTION;"]
    needed += ["BEGIN TRANSACTION;", "DELETE FROM", "INSERT INTO", "ROLLBACK TRANSACTION;"]
    assert all(statement in sql for statement in needed) and "NO_BIGQUERY_FORM" not in sql
    raw = sqlglot.parse_one("(SELECT * FROM raw WHERE x_credential_id = credential_id)", read="bigquery")
    assert isinstance(sqlglot.parse_one(bigquery_sql.focus_select(provider, raw), read="bigquery"), exp.Select)


# ---- The procedure's guards, job ids and text hash, on AWS rows ------------------------------------
SMALL = "small_prod"
NOV_2023 = date(2023, 11, 1)


@pytest.fixture(scope="module")
def aws_only(warehouse: Warehouse) -> BigQueryConversion:
    """A dataset whose procedure converts AWS only (the emulator runs a smaller body faster)."""
    warehouse.bq.create_dataset(SMALL)
    create_table(warehouse.bq, SMALL, load_schema(raw_table_name("aws")))
    create_table(warehouse.bq, SMALL, load_schema(FOCUS_TABLE))
    procedure = BigQueryConversion(warehouse, providers=["aws"])
    procedure.ensure_procedure(SMALL)
    return procedure


def _cur_rows(lineage: Lineage, work: Path, rows: int = 30) -> pa.Table:
    work.mkdir(parents=True)
    staged = stage_files(
        [ExportFile(LEGACY_CUR_SAMPLE, "s3://b/cur.csv", NOV_2023)],
        lineage,
        work,
        load_schema(raw_table_name("aws")),
        registration("aws").raw_select_builder(),
        memory_limit="256MB",
        batch_rows=1000,
    )
    return pa.Table.from_batches(list(staged.good_rows(1000))).slice(0, rows)


def _replace_raw(warehouse: Warehouse, credential_id: str, rows: pa.Table) -> None:
    raw = f"`{warehouse.project}.{SMALL}.{raw_table_name('aws')}`"
    warehouse.bq.query(f"DELETE FROM {raw} WHERE x_credential_id = '{credential_id}'").result()
    load_rows(warehouse.bq, SMALL, raw_table_name("aws"), rows)


def _focus_runs(warehouse: Warehouse, credential_id: str) -> dict[str, int]:
    focus = f"`{warehouse.project}.{SMALL}.{FOCUS_TABLE}`"
    sql = f"SELECT x_run_id, COUNT(*) AS n FROM {focus} WHERE x_credential_id = '{credential_id}' GROUP BY x_run_id"
    return {row["x_run_id"]: row["n"] for row in warehouse.bq.query(sql).result()}


def _with(rows: pa.Table, column: str, value: Any) -> pa.Table:
    index = rows.schema.get_field_index(column)
    return rows.set_column(index, column, pa.array([value] * rows.num_rows, rows.schema.field(column).type))


def test_a_row_outside_the_periods_rolls_back_and_keeps_the_previous_slice(
    warehouse: Warehouse, aws_only: BigQueryConversion, tmp_path: Path
) -> None:
    first = Lineage.new_run("aws/cost/billing", str(uuid.uuid4()), now=NOW)
    rows = _cur_rows(first, tmp_path / "first")
    _replace_raw(warehouse, first.credential_id, rows)
    done = aws_only.call(SMALL, "aws", first.credential_id, first.run_id, [NOV_2023])
    # The next run's rows say November (their slice) but are October's: FOCUS rows outside the run.
    second = Lineage(first.pipeline_id, first.credential_id, str(uuid.uuid4()), NOW, NOW.date())
    october = datetime(2023, 10, 1, tzinfo=UTC)
    shifted = _with(_with(rows, "x_run_id", second.run_id), "bill_billing_period_start_date", october)
    _replace_raw(warehouse, first.credential_id, shifted)

    with pytest.raises(FailedPrecondition) as refused:
        aws_only.call(SMALL, "aws", second.credential_id, second.run_id, [NOV_2023])

    assert refused.value.reason == "FOCUS_ROW_OUTSIDE_PERIODS"
    assert _focus_runs(warehouse, first.credential_id) == {first.run_id: done.focus_rows_written}
    assert done.focus_rows_written == rows.num_rows


def test_a_slice_another_run_replaced_is_not_converted(
    warehouse: Warehouse, aws_only: BigQueryConversion, tmp_path: Path
) -> None:
    newer = Lineage.new_run("aws/cost/billing", str(uuid.uuid4()), now=NOW)
    _replace_raw(warehouse, newer.credential_id, _cur_rows(newer, tmp_path / "newer"))
    older_run = str(uuid.uuid4())

    with pytest.raises(FailedPrecondition) as refused:
        aws_only.call(SMALL, "aws", newer.credential_id, older_run, [NOV_2023])

    assert refused.value.reason == "STALE_RUN"
    assert older_run in str(refused.value)
    assert _focus_runs(warehouse, newer.credential_id) == {}


def test_a_retried_call_joins_the_first_job_instead_of_converting_again(
    warehouse: Warehouse, aws_only: BigQueryConversion, tmp_path: Path
) -> None:
    lineage = Lineage.new_run("aws/cost/billing", str(uuid.uuid4()), now=NOW)
    rows = _cur_rows(lineage, tmp_path / "rows")
    _replace_raw(warehouse, lineage.credential_id, rows)
    first = aws_only.call(SMALL, "aws", lineage.credential_id, lineage.run_id, [NOV_2023])
    # Run again, the procedure would read no raw row now; the retry must return the first job's result.
    _replace_raw(warehouse, lineage.credential_id, rows.slice(0, 0))

    retried = aws_only.call(SMALL, "aws", lineage.credential_id, lineage.run_id, [NOV_2023])

    assert retried == first and first.raw_rows_read == rows.num_rows
    assert _focus_runs(warehouse, lineage.credential_id) == {lineage.run_id: rows.num_rows}
    ident = job_id(lineage.run_id, "aws", lineage.credential_id, [NOV_2023])
    assert warehouse.bq.get_job(ident).state == "DONE"
    assert job_id(lineage.run_id, "aws", lineage.credential_id, [date(2023, 12, 1)]) != ident


def test_the_procedure_is_recreated_only_when_its_text_changes(
    warehouse: Warehouse, aws_only: BigQueryConversion
) -> None:
    routine = f"{warehouse.project}.{SMALL}.{PROCEDURE}"
    only_aws = BigQueryConversion(warehouse, providers=["aws"])
    assert only_aws.ensure_procedure(SMALL) is False  # the fixture's, same text
    described = warehouse.bq.get_routine(routine).description
    assert described == text_hash(procedure_sql(warehouse.project, SMALL, ["aws"]))

    assert BigQueryConversion(warehouse, providers=["aws", "oci"]).ensure_procedure(SMALL) is True
    changed = warehouse.bq.get_routine(routine)
    assert changed.description == text_hash(procedure_sql(warehouse.project, SMALL, ["aws", "oci"]))
    assert "'oci'" in (changed.body or "") and changed.body == procedure_body(warehouse.project, SMALL, ["aws", "oci"])

    assert only_aws.ensure_procedure(SMALL) is True
    assert only_aws.ensure_procedure(SMALL) is False
    assert "'oci'" not in (warehouse.bq.get_routine(routine).body or "")


def test_the_hand_written_unit_word_case_holds_the_duckdb_map() -> None:
    """focus_unit_word's BigQuery CASE maps exactly the spellings of the DuckDB macro's MAP literal."""
    duck = re.findall(r"'([^']*)': '([^']*)'", conversion.PROCEDURE.read_text().split("MAP {", 1)[1].split("}[", 1)[0])
    body = bigquery_sql.macros()["focus_unit_word"].body
    lookup = next(case for case in body.find_all(exp.Case) if isinstance(case.this, exp.Lower))
    written = [(str(when.this.this), str(when.args["true"].this)) for when in lookup.args["ifs"]]
    assert written == duck and len(duck) > 80


def test_money_is_rounded_to_the_schema_scale_without_a_lossy_cast() -> None:
    """AWS's money columns are exact decimals in the raw table: each DECIMAL(38, 12) cast of the
    DuckDB SQL is a ROUND to 12 places of the exact sum with a BIGNUMERIC zero in BigQuery's, with no
    value CAST to BIGNUMERIC (which keeps 5 places on bqemulator); the FOCUS columns get every digit."""
    raw = sqlglot.parse_one("(SELECT * FROM raw)", read="bigquery")
    tree = sqlglot.parse_one(bigquery_sql.focus_select("aws", raw), read="bigquery")
    rounds = [r for r in tree.find_all(exp.Round) if r.args["decimals"].this == "12"]
    assert len(rounds) >= 20
    bignumeric = [c for c in tree.find_all(exp.Cast) if c.to.is_type(exp.DataType.Type.BIGDECIMAL)]
    assert [c.sql("bigquery") for c in bignumeric if not c.this.is_string] == []
