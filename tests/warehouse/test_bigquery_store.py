"""BigQueryTableStore against bqemulator: onboarding, migrations, slice replacement, reads, versions."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal

import pyarrow as pa
import pytest
import sqlglot
from sqlglot import exp

from cloudact_cli.bigquery_emulator import BigQueryEmulator
from cloudact_shared.errors import FailedPrecondition, InvalidArgument, NotFound
from cloudact_shared.settings import CloudactSettings
from cloudact_shared.storage import Condition, open_store
from cloudact_shared.storage.bigquery import STAGE_PREFIX, BigQueryTableStore, clustering_columns, create_table_ddl
from cloudact_shared.storage.protocol import SliceKey
from cloudact_shared.storage.schema import SCHEMA_DIR, Column, TableSchema, load_schema
from tests.warehouse.conftest import make_store

DATASET = "acme_prod"
JAN, FEB = date(2025, 1, 1), date(2025, 2, 1)
TS = datetime(2025, 1, 3, 4, 5, 6, 123456, tzinfo=UTC)

EVERY_TYPE = TableSchema(
    table="every_type",
    description="One column of each schema type.",
    columns=(
        Column("billing_period", "DATE", False, "The slice's month."),
        Column("credential", "STRING", True, 'Whose rows; it\'s "quoted" \\ here.'),
        Column("count", "INT64", True, ""),
        Column("ratio", "FLOAT64", True, ""),
        Column("flag", "BOOL", True, ""),
        Column("seen_at", "TIMESTAMP", True, ""),
        Column("payload", "JSON", True, ""),
        Column("cost9", "DECIMAL(38,9)", True, ""),
        Column("cost12", "DECIMAL(38,12)", True, "Money, exact to 12 places."),
        Column("labels", "MAP<STRING,STRING>", True, ""),
        Column("tags", "ARRAY<STRING>", True, ""),
        Column("ingestion_date", "DATE", True, ""),
    ),
    partition_by=("ingestion_date",),
    sort_by=("credential", "billing_period"),
    retention_days=730,
)


def every_type_rows(credential: str, month: date, n: int, *, base: int = 0) -> list[dict[str, object]]:
    return [
        {
            "billing_period": month,
            "credential": credential,
            "count": base + i,
            "ratio": (base + i) / 8,
            "flag": i % 2 == 0,
            "seen_at": TS if i % 3 else None,
            "payload": '{"a": [1, 2]}' if i % 2 else None,
            "cost9": Decimal("-12345678901234567890.123456789") if i == 0 else Decimal(base + i) / 1000,
            "cost12": Decimal("12345678901234567890123456.000000000001") if i == 0 else Decimal(f"0.{i:012d}"),
            "labels": [("env", "prod"), ("team", None)] if i % 2 == 0 else None,
            "tags": ["a", "b's"] if i % 2 else None,
            "ingestion_date": date(2025, 2, 3),
        }
        for i in range(n)
    ]


def reader(schema: TableSchema, rows: list[dict[str, object]], *, chunk: int = 1000) -> pa.RecordBatchReader:
    table = pa.Table.from_pylist(rows, schema=schema.arrow_schema())
    return pa.RecordBatchReader.from_batches(table.schema, table.to_batches(max_chunksize=chunk))


def stored(rows: list[dict[str, object]]) -> list[dict[str, object]]:
    """What reading back gives: BigQuery has no NULL arrays, so NULL maps and lists come back empty."""
    return [
        {**row, "labels": row["labels"] or [], "tags": row["tags"] or []}
        for row in rows  # maps read back as lists of (key, value) tuples in to_pylist
    ]


def all_rows(store: BigQueryTableStore, schema: TableSchema) -> list[dict[str, object]]:
    rows = store.scan(DATASET, schema.table).to_table().to_pylist()
    return sorted(rows, key=lambda r: (str(r["credential"]), str(r["billing_period"]), r["count"]))


def by_key(rows: list[dict[str, object]]) -> list[dict[str, object]]:
    return sorted(rows, key=lambda r: (str(r["credential"]), str(r["billing_period"]), r["count"]))


# -- onboarding ----------------------------------------------------------------------------------------
def test_onboarding_creates_every_table_of_sql_schemas_and_is_idempotent(store: BigQueryTableStore) -> None:
    schemas = [load_schema(path.stem) for path in sorted(SCHEMA_DIR.glob("*.json"))]
    store.onboard(DATASET, schemas)
    client = store.client
    dataset = client.get_dataset(f"{client.project}.{store.dataset_id(DATASET)}")
    assert dataset.location == "US"
    for schema in schemas:
        table = client.get_table(f"{client.project}.{store.dataset_id(DATASET)}.{schema.table}")
        assert table.description == schema.description
        assert [f.name for f in table.schema] == schema.column_names
        assert {f.name: f.description or "" for f in table.schema} == {c.name: c.description for c in schema.columns}
        required = {f.name for f in table.schema if f.mode == "REQUIRED"}
        assert required == {
            c.name for c in schema.columns if not c.nullable and not c.type.startswith(("MAP", "ARRAY"))
        }
        assert (table.clustering_fields or []) == clustering_columns(schema)
        if schema.table.startswith("cloud_"):
            assert table.time_partitioning.field == "ingestion_date"
            assert table.time_partitioning.type_ == "DAY"
            assert table.time_partitioning.expiration_ms == 730 * 86_400_000
        else:
            # bqemulator records only a bare column as the partitioning (a DATE one, as DAY): the FOCUS
            # table's monthly partitions are asserted on its DDL below. The rollup's partition column
            # is a STRING, not a time: it has none.
            assert table.time_partitioning is None
    focus = client.get_table(f"{client.project}.{store.dataset_id(DATASET)}.cost_data_standard_1_3")
    assert focus.clustering_fields == ["x_source_provider", "BillingPeriodStart", "ServiceName"]
    labels = next(
        f
        for f in client.get_table(f"{client.project}.{store.dataset_id(DATASET)}.cloud_gcp_billing_raw_daily").schema
        if f.name == "labels"
    )
    assert (labels.mode, labels.field_type, [f.name for f in labels.fields]) == ("REPEATED", "RECORD", ["key", "value"])

    before = {
        t: client.get_table(f"{client.project}.{store.dataset_id(DATASET)}.{t}").etag for _, t in store.list_tables()
    }
    store.onboard(DATASET, schemas)  # again: nothing to create, nothing to patch
    after = {
        t: client.get_table(f"{client.project}.{store.dataset_id(DATASET)}.{t}").etag for _, t in store.list_tables()
    }
    assert after == before
    assert store.list_tables() == sorted((DATASET, s.table) for s in schemas)


def test_the_focus_table_is_partitioned_by_month_of_its_charge_period() -> None:
    """The DDL BigQuery runs (bqemulator runs it but does not report function-form partitioning)."""
    focus = load_schema("cost_data_standard_1_3")
    ddl = sqlglot.parse_one(create_table_ddl("`p.acme_prod.cost_data_standard_1_3`", focus), read="bigquery")
    partition = ddl.find(exp.PartitionedByProperty)
    assert partition is not None
    assert partition.this.sql("bigquery") == "TIMESTAMP_TRUNC(`ChargePeriodStart`, MONTH)"
    raw = sqlglot.parse_one(create_table_ddl("`p.d.t`", load_schema("cloud_aws_billing_raw_daily")), read="bigquery")
    assert raw.find(exp.PartitionedByProperty).this.sql("bigquery") == "`ingestion_date`"  # type: ignore[union-attr]


def test_a_table_partitioned_otherwise_is_refused_and_an_unpartitioned_one_kept(
    store: BigQueryTableStore, caplog: pytest.LogCaptureFixture
) -> None:
    partitioned = dataclasses.replace(EVERY_TYPE, table="partitioned")  # DAY of ingestion_date
    store.onboard(DATASET, [partitioned])
    for otherwise in (
        dataclasses.replace(partitioned, partition_by=(), retention_days=None),
        dataclasses.replace(partitioned, partition_by=(), time_partition=("billing_period", "MONTH")),
    ):
        with pytest.raises(FailedPrecondition, match="partitioning cannot change") as refused:
            store.onboard(DATASET, [otherwise])
        assert refused.value.reason == "SCHEMA_PARTITION_CHANGED"
    # A table created unpartitioned (a FOCUS table of an earlier version) is kept, and says how to move it.
    unpartitioned = dataclasses.replace(EVERY_TYPE, table="unpartitioned", partition_by=(), retention_days=None)
    store.onboard(DATASET, [unpartitioned])
    with caplog.at_level("WARNING"):
        store.onboard(DATASET, [dataclasses.replace(unpartitioned, time_partition=("billing_period", "MONTH"))])
    assert "not partitioned" in caplog.text and "PARTITION BY DATE_TRUNC(`billing_period`, MONTH)" in caplog.text


def test_additive_migration_adds_a_column_and_keeps_rows(store: BigQueryTableStore) -> None:
    store.replace_slice(DATASET, EVERY_TYPE, {"credential": "c1"}, reader(EVERY_TYPE, every_type_rows("c1", JAN, 3)))
    grown = dataclasses.replace(
        EVERY_TYPE,
        description="Now with a region.",
        columns=(
            *(dataclasses.replace(c, description="Renamed.") if c.name == "count" else c for c in EVERY_TYPE.columns),
            Column("region", "STRING", True, "Where."),
        ),
    )
    store.onboard(DATASET, [grown])

    table = store.client.get_table(f"{store.client.project}.{store.dataset_id(DATASET)}.every_type")
    assert [f.name for f in table.schema][-1] == "region"
    assert table.description == "Now with a region."
    assert {f.name: f.description for f in table.schema}["count"] == "Renamed."
    rows = store.read(DATASET, "every_type", columns=["count", "region"]).read_all().to_pylist()
    assert sorted(rows, key=lambda r: r["count"]) == [{"count": i, "region": None} for i in range(3)]

    with_region = [{**row, "region": "eu"} for row in every_type_rows("c2", JAN, 2)]
    store.replace_slice(DATASET, grown, {"credential": "c2"}, reader(grown, with_region))
    regions = store.read(DATASET, "every_type", columns=["credential", "region"]).read_all().to_pylist()
    assert sorted(regions, key=lambda r: (r["credential"], str(r["region"]))) == [
        *[{"credential": "c1", "region": None}] * 3,
        *[{"credential": "c2", "region": "eu"}] * 2,
    ]
    store.onboard(DATASET, [grown])  # idempotent after the migration too


def test_changed_or_removed_columns_are_refused_and_nothing_changes(store: BigQueryTableStore) -> None:
    store.onboard(DATASET, [EVERY_TYPE])
    retyped = dataclasses.replace(
        EVERY_TYPE,
        columns=tuple(dataclasses.replace(c, type="STRING") if c.name == "count" else c for c in EVERY_TYPE.columns),
    )
    with pytest.raises(FailedPrecondition, match="column count") as refused:
        store.onboard(DATASET, [retyped])
    assert refused.value.reason == "SCHEMA_COLUMN_CHANGED"
    dropped = dataclasses.replace(EVERY_TYPE, columns=tuple(c for c in EVERY_TYPE.columns if c.name != "tags"))
    with pytest.raises(FailedPrecondition, match="column tags"):
        store.onboard(DATASET, [dropped])
    required = dataclasses.replace(EVERY_TYPE, columns=(*EVERY_TYPE.columns, Column("must", "STRING", False, "")))
    with pytest.raises(FailedPrecondition, match="must"):
        store.onboard(DATASET, [required])
    table = store.client.get_table(f"{store.client.project}.{store.dataset_id(DATASET)}.every_type")
    assert [f.name for f in table.schema] == EVERY_TYPE.column_names
    assert next(f for f in table.schema if f.name == "count").field_type in ("INTEGER", "INT64")


# -- writes ---------------------------------------------------------------------------------------------
def test_round_trip_of_every_type_through_scan_and_read(store: BigQueryTableStore) -> None:
    rows = every_type_rows("c1", JAN, 7)
    store.replace_slice(DATASET, EVERY_TYPE, {"credential": "c1", "billing_period": JAN}, reader(EVERY_TYPE, rows))

    scanned = store.scan(DATASET, "every_type")
    assert scanned.schema == EVERY_TYPE.arrow_schema()
    assert all_rows(store, EVERY_TYPE) == by_key(stored(rows))
    assert scanned.count_rows(filter=pa.compute.field("flag")) == 4
    # Money exact to the last decimal, at both scales.
    costs = {r["count"]: (r["cost9"], r["cost12"]) for r in scanned.to_table().to_pylist()}
    assert costs[0] == (Decimal("-12345678901234567890.123456789"), Decimal("12345678901234567890123456.000000000001"))
    assert costs[6] == (Decimal("0.006"), Decimal("0.000000000006"))
    streamed = store.read(DATASET, "every_type").read_all()
    assert streamed.schema == EVERY_TYPE.arrow_schema()
    assert by_key(streamed.to_pylist()) == by_key(stored(rows))


def test_slices_are_replaced_independently_also_by_fewer_rows(store: BigQueryTableStore) -> None:
    key_jan: SliceKey = {"credential": "c1", "billing_period": [JAN]}
    store.replace_slice(DATASET, EVERY_TYPE, key_jan, reader(EVERY_TYPE, every_type_rows("c1", JAN, 3)))
    feb = every_type_rows("c1", FEB, 2, base=100)
    key_feb: SliceKey = {"credential": "c1", "billing_period": [FEB]}
    store.replace_slice(DATASET, EVERY_TYPE, key_feb, reader(EVERY_TYPE, feb))
    other = every_type_rows("c2", JAN, 2, base=200)
    key_other: SliceKey = {"credential": "c2", "billing_period": [JAN]}
    store.replace_slice(DATASET, EVERY_TYPE, key_other, reader(EVERY_TYPE, other))

    fewer = every_type_rows("c1", JAN, 1, base=50)
    store.replace_slice(DATASET, EVERY_TYPE, key_jan, reader(EVERY_TYPE, fewer))
    assert all_rows(store, EVERY_TYPE) == by_key(stored([*fewer, *feb, *other]))

    store.replace_slice(DATASET, EVERY_TYPE, key_jan, reader(EVERY_TYPE, []))  # an empty slice empties it
    assert all_rows(store, EVERY_TYPE) == by_key(stored([*feb, *other]))


def test_a_date_slice_on_a_timestamp_column_matches_the_day(store: BigQueryTableStore) -> None:
    rows = every_type_rows("c1", JAN, 4)  # seen_at is TS on rows 1, 2 (NULL on 0, 3)
    store.replace_slice(DATASET, EVERY_TYPE, {"credential": "c1"}, reader(EVERY_TYPE, rows))
    store.replace_slice(DATASET, EVERY_TYPE, {"seen_at": [TS.date()]}, reader(EVERY_TYPE, []))
    assert sorted(int(str(r["count"])) for r in all_rows(store, EVERY_TYPE)) == [0, 3]


def test_a_failed_write_keeps_the_previous_slice_and_leaves_no_staging(store: BigQueryTableStore) -> None:
    old = every_type_rows("c1", JAN, 5)
    store.replace_slice(DATASET, EVERY_TYPE, {"credential": "c1"}, reader(EVERY_TYPE, old))
    version = store.version(DATASET, "every_type")
    # A NULL in the REQUIRED billing_period: the staging table takes it, the INSERT of the transaction
    # fails after its DELETE ran, and the rollback must bring the deleted rows back.
    bad = every_type_rows("c1", JAN, 3, base=10)
    bad[1]["billing_period"] = None
    with pytest.raises(FailedPrecondition, match="previous data kept") as failed:
        store.replace_slice(DATASET, EVERY_TYPE, {"credential": "c1"}, reader(EVERY_TYPE, bad))
    assert "billing_period" in failed.value.message
    assert all_rows(store, EVERY_TYPE) == by_key(stored(old))
    assert store.version(DATASET, "every_type") == version
    tables = store.client.list_tables(f"{store.client.project}.{store.dataset_id(DATASET)}")
    assert not [t.table_id for t in tables if t.table_id.startswith(STAGE_PREFIX)]


def test_bad_data_and_bad_keys_are_refused_before_writing(store: BigQueryTableStore) -> None:
    store.replace_slice(DATASET, EVERY_TYPE, {"credential": "c1"}, reader(EVERY_TYPE, every_type_rows("c1", JAN, 2)))
    with pytest.raises(InvalidArgument, match="nope"):
        store.replace_slice(DATASET, EVERY_TYPE, {"nope": "x"}, reader(EVERY_TYPE, []))
    with pytest.raises(InvalidArgument, match="no values"):
        store.replace_slice(DATASET, EVERY_TYPE, {"credential": []}, reader(EVERY_TYPE, []))
    with pytest.raises(InvalidArgument):  # a string for a DATE column
        store.replace_slice(DATASET, EVERY_TYPE, {"billing_period": "2025-01-01"}, reader(EVERY_TYPE, []))
    wrong = pa.table({"other": [1]}).to_reader()
    with pytest.raises(FailedPrecondition, match="do not fit"):
        store.replace_slice(DATASET, EVERY_TYPE, {"credential": "c1"}, wrong)
    assert len(all_rows(store, EVERY_TYPE)) == 2


def test_the_same_job_key_is_applied_once(store: BigQueryTableStore) -> None:
    first = every_type_rows("c1", JAN, 3)
    key = {"credential": "c1"}
    applied = store.replace_slice(DATASET, EVERY_TYPE, key, reader(EVERY_TYPE, first), job_key="run-7/raw")
    # The retry of the step (same key) finds the earlier commit and does not write again, even
    # though it brings other rows; the version it reports is the table's.
    retried = every_type_rows("c1", JAN, 1, base=40)
    again = store.replace_slice(DATASET, EVERY_TYPE, key, reader(EVERY_TYPE, retried), job_key="run-7/raw")
    assert again == applied == store.version(DATASET, "every_type")
    assert all_rows(store, EVERY_TYPE) == by_key(stored(first))
    commit = store.client.get_job(_commit_job_id(store, "run-7/raw"))
    assert commit.state == "DONE" and commit.error_result is None
    # Another step (or run) is a new write.
    store.replace_slice(DATASET, EVERY_TYPE, key, reader(EVERY_TYPE, retried), job_key="run-8/raw")
    assert all_rows(store, EVERY_TYPE) == by_key(stored(retried))


def test_a_job_key_whose_commit_failed_is_written_by_the_retry(store: BigQueryTableStore) -> None:
    bad = every_type_rows("c1", JAN, 2)
    bad[0]["billing_period"] = None
    with pytest.raises(FailedPrecondition):
        store.replace_slice(DATASET, EVERY_TYPE, {"credential": "c1"}, reader(EVERY_TYPE, bad), job_key="run-9/raw")
    good = every_type_rows("c1", JAN, 2)
    store.replace_slice(DATASET, EVERY_TYPE, {"credential": "c1"}, reader(EVERY_TYPE, good), job_key="run-9/raw")
    assert all_rows(store, EVERY_TYPE) == by_key(stored(good))


def _commit_job_id(store: BigQueryTableStore, job_key: str) -> str:
    import hashlib

    digest = hashlib.sha256(f"{store.dataset_id(DATASET)}/every_type/{job_key}".encode()).hexdigest()[:40]
    return f"cloudact_{digest}_0_commit0"


# -- reads and versions ---------------------------------------------------------------------------------
def test_read_pushes_columns_and_conditions_down(store: BigQueryTableStore) -> None:
    rows = [
        *every_type_rows("c1", JAN, 4),
        *every_type_rows("it's \\ odd", FEB, 3, base=10),
        *every_type_rows("c3", FEB, 2, base=20),
    ]
    store.replace_slice(DATASET, EVERY_TYPE, {"credential": ["c1", "it's \\ odd", "c3"]}, reader(EVERY_TYPE, rows))

    def read(columns: list[str], *where: Condition) -> list[dict[str, object]]:
        return sorted(store.read(DATASET, "every_type", columns=columns, where=where).read_all().to_pylist(),
                      key=lambda r: r["count"])  # fmt: skip

    assert read(["count"], Condition("credential", "=", "it's \\ odd")) == [{"count": c} for c in (10, 11, 12)]
    got = read(["count", "credential"], Condition("credential", "in", ["c1", "c3"]), Condition("count", ">=", 2))
    assert got == [{"count": 2, "credential": "c1"}, {"count": 3, "credential": "c1"},
                   {"count": 20, "credential": "c3"}, {"count": 21, "credential": "c3"}]  # fmt: skip
    assert read(["count"], Condition("billing_period", "<", FEB)) == [{"count": c} for c in range(4)]
    assert read(["count"], Condition("billing_period", "in", [FEB]), Condition("count", "<", 11)) == [{"count": 10}]
    assert read(["count"], Condition("seen_at", ">=", TS), Condition("credential", "=", "c1")) == [
        {"count": 1}, {"count": 2}]  # fmt: skip
    assert read(["count"], Condition("cost12", "=", Decimal("0.000000000011"))) == []
    assert read(["count"], Condition("cost12", "=", Decimal("0.000000000001"))) == [{"count": 1}, {"count": 11},
                                                                                     {"count": 21}]  # fmt: skip
    assert read(["count"], Condition("credential", "in", [])) == []
    only = store.read(DATASET, "every_type", columns=["labels", "count"], where=[Condition("count", "=", 0)])
    assert only.schema.names == ["labels", "count"]
    assert only.read_all().to_pylist() == [{"labels": [("env", "prod"), ("team", None)], "count": 0}]

    with pytest.raises(InvalidArgument, match="nope"):
        store.read(DATASET, "every_type", columns=["nope"])
    with pytest.raises(InvalidArgument):
        store.read(DATASET, "every_type", where=[Condition("count", "=", "1")])
    with pytest.raises(InvalidArgument):
        store.read(DATASET, "every_type", where=[Condition("tags", "=", "a")])
    with pytest.raises(NotFound):
        store.read(DATASET, "missing")


def test_version_grows_with_every_write(store: BigQueryTableStore) -> None:
    assert store.version(DATASET, "every_type") is None
    assert not store.table_exists(DATASET, "every_type")
    store.onboard(DATASET, [EVERY_TYPE])
    assert store.table_exists(DATASET, "every_type")
    versions = [store.version(DATASET, "every_type")]
    for n in (2, 2, 0):
        written = store.replace_slice(
            DATASET, EVERY_TYPE, {"credential": "c1"}, reader(EVERY_TYPE, every_type_rows("c1", JAN, n))
        )
        assert written == store.version(DATASET, "every_type")
        versions.append(written)
    numbers = [v for v in versions if isinstance(v, int)]
    assert numbers == versions
    assert numbers == sorted(set(numbers)), numbers  # strictly growing


def test_housekeeping_names_and_capabilities(emulator: BigQueryEmulator) -> None:
    store = make_store(emulator, stage_max_age=__import__("datetime").timedelta(0))
    store.onboard(DATASET, [EVERY_TYPE])
    leftover = f"{store.client.project}.{store.dataset_id(DATASET)}.{STAGE_PREFIX}dead"
    store.client.query(f"CREATE TABLE `{leftover}` (x STRING)").result()
    assert store.list_tables() == [(DATASET, "every_type")]  # staging and version tables are internal
    assert store.recover_abandoned_writes() == 1
    assert store.recover_abandoned_writes() == 0
    assert store.vacuum(DATASET, "every_type", retention_hours=0) == 0
    assert store.relation_sql(DATASET, EVERY_TYPE) == f"`{emulator.project}.{store.dataset_id(DATASET)}.every_type`"
    assert store.capabilities.sql_dialect == "bigquery"
    assert store.capabilities.supports_procedures
    assert store.capabilities.max_identifier_length == 1024


def test_open_store_builds_the_bigquery_store_from_settings(
    emulator: BigQueryEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in emulator.settings_overrides().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("CLOUDACT_BIGQUERY_DATASET_PREFIX", "settings_")
    store = open_store(CloudactSettings())
    assert isinstance(store, BigQueryTableStore)
    store.replace_slice(DATASET, EVERY_TYPE, {"credential": "c1"}, reader(EVERY_TYPE, every_type_rows("c1", JAN, 2)))
    assert store.read(DATASET, "every_type", columns=["count"]).read_all().num_rows == 2
    assert (DATASET, "every_type") in store.list_tables()
    assert store.client.get_dataset(f"{emulator.project}.settings_{DATASET}").dataset_id == f"settings_{DATASET}"


def test_a_remote_endpoint_is_refused_for_anonymous_access() -> None:
    with pytest.raises(ValueError, match="loopback"):
        BigQueryTableStore("p", endpoint="https://bigquery.example.com", read_endpoint="127.0.0.1:1")


# -- a large write ------------------------------------------------------------------------------------
def test_a_large_write_streams_in_bounded_memory(emulator: BigQueryEmulator) -> None:
    store = make_store(emulator, batch_rows=10_000, file_rows=50_000)
    narrow = TableSchema(
        "many",
        "",
        (Column("credential", "STRING", True, ""), Column("n", "INT64", True, ""), Column("note", "STRING", True, "")),
        (),
        (),
    )
    # Notes stay short: bqemulator sends 65,536 rows a message and refuses messages over 11 MB.
    total, per_batch, note = 200_000, 10_000, "x" * 100
    peaks: list[int] = []

    def batches() -> Iterator[pa.RecordBatch]:
        for start in range(0, total, per_batch):
            peaks.append(pa.total_allocated_bytes())
            yield pa.record_batch(
                [
                    pa.array(["c1"] * per_batch),
                    pa.array(range(start, start + per_batch), pa.int64()),
                    pa.array([note] * per_batch),
                ],
                schema=narrow.arrow_schema(),
            )

    data = pa.RecordBatchReader.from_batches(narrow.arrow_schema(), batches())
    store.replace_slice(DATASET, narrow, {"credential": "c1"}, data)
    # ~25 MB of rows went through; Arrow held a few batches (~1.2 MB each) at a time.
    assert max(peaks) < 12 * 1024 * 1024, max(peaks)
    counted = store.read(DATASET, "many", columns=["n"], where=[Condition("n", ">=", total - 10)]).read_all()
    assert sorted(counted.column("n").to_pylist()) == list(range(total - 10, total))
    assert store.scan(DATASET, "many").count_rows() == total
