"""The SQL the BigQuery store sends where bqemulator cannot show its effect, read back with sqlglot.

bqemulator 1.4.0 drops from DDL: CLUSTER BY, column OPTIONS(description) (the store patches both
through tables.patch, checked on the emulator) and a table's expiration_timestamp; it ignores query
parameters in multi-statement scripts (the store inlines quoted literals against it, and sends
parameters to BigQuery). These tests parse what BigQuery would receive.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import sqlglot
from sqlglot import exp

from cloudact_shared.storage.bigquery import Bindings, create_table_ddl, quote_string, replace_script, stage_table_ddl
from cloudact_shared.storage.protocol import SliceKey
from cloudact_shared.storage.schema import load_schema

REF = "`proj.acme_prod.cost_data_standard_1_3`"


def test_create_table_ddl_partitions_expires_clusters_and_describes() -> None:
    schema = load_schema("cloud_gcp_billing_raw_daily")
    ddl = create_table_ddl("`proj.acme_prod.cloud_gcp_billing_raw_daily`", schema)
    tree = sqlglot.parse_one(ddl, read="bigquery")
    assert isinstance(tree, exp.Create) and tree.args.get("exists")
    partition = tree.find(exp.PartitionedByProperty)
    assert partition is not None and partition.sql("bigquery") == "PARTITION BY `ingestion_date`"
    cluster = tree.find(exp.ClusterProperty)
    assert cluster is not None
    assert [e.name for e in cluster.expressions] == list(schema.sort_by)
    table_options = tree.sql("bigquery").rsplit("CLUSTER BY", 1)[1]
    assert "partition_expiration_days=730" in table_options
    assert f"description={quote_string(schema.description)}" in table_options
    columns = {c.name: c for c in tree.this.expressions if isinstance(c, exp.ColumnDef)}
    assert list(columns) == schema.column_names
    assert columns["labels"].args["kind"].sql("bigquery") == "ARRAY<STRUCT<key STRING, value STRING>>"
    assert columns["billing_period"].find(exp.NotNullColumnConstraint) is not None
    described = columns["billing_period"].sql("bigquery")
    assert "First day of invoice.month" in described


def test_money_columns_are_exact_and_focus_is_clustered_and_partitioned_by_month() -> None:
    schema = load_schema("cost_data_standard_1_3")
    tree = sqlglot.parse_one(create_table_ddl(REF, schema), read="bigquery")
    partition = tree.find(exp.PartitionedByProperty)
    assert partition is not None
    assert partition.this.sql("bigquery") == "TIMESTAMP_TRUNC(`ChargePeriodStart`, MONTH)"
    assert "partition_expiration_days" not in tree.sql("bigquery")  # FOCUS history is kept
    cluster = tree.find(exp.ClusterProperty)
    assert cluster is not None
    assert [e.name for e in cluster.expressions] == ["x_source_provider", "BillingPeriodStart", "ServiceName"]
    kinds = {c.name: c.args["kind"].sql("bigquery") for c in tree.find_all(exp.ColumnDef)}
    assert kinds["BilledCost"] == "BIGNUMERIC(38, 12)"
    assert kinds["x_run_id"] == "STRING"


def test_staging_table_expires() -> None:
    when = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    ddl = stage_table_ddl("`p.d._stage_x`", load_schema("cost_data_standard_1_3"), when)
    tree = sqlglot.parse_one(ddl, read="bigquery")
    options = {
        p.name.lower(): p.args["value"].sql("bigquery") for p in tree.find_all(exp.Property) if type(p) is exp.Property
    }
    assert "2026-01-02 03:04:05" in options["expiration_timestamp"]
    assert tree.find(exp.NotNullColumnConstraint) is None  # NOT NULL is the target's to enforce


def test_the_replace_script_is_one_transaction_with_every_value_a_parameter() -> None:
    schema = load_schema("cost_data_standard_1_3")
    nasty = "gcp'; DROP TABLE x; --"
    key: SliceKey = {
        "x_source_provider": nasty,
        "x_credential_id": ["c1", "c2"],
        "BillingPeriodStart": [date(2025, 1, 1)],
    }
    bindings = Bindings(inline=False)
    script = replace_script(REF, "`p.d._stage_x`", "`p.d._cloudact_versions`", schema, key, bindings)
    statements = sqlglot.parse(script, read="bigquery")
    kinds = [type(s).__name__ for s in statements if s is not None]
    assert kinds[0] == "Transaction" and kinds[-1] == "Commit"
    assert kinds[1:4] == ["Delete", "Insert", "Merge"]
    assert nasty not in script and "c1" not in script and "2025" not in script
    delete = statements[1]
    assert delete is not None
    where = delete.args["where"].sql("bigquery")
    assert "`x_source_provider` = @p0" in where
    assert "`x_credential_id` IN UNNEST(@p1)" in where
    assert "DATE(`BillingPeriodStart`) IN UNNEST(@p2)" in where
    values = {p.name: (p.to_api_repr()) for p in bindings.parameters}
    assert values["p0"]["parameterValue"]["value"] == nasty
    assert [v["value"] for v in values["p1"]["parameterValue"]["arrayValues"]] == ["c1", "c2"]
    assert values["p2"]["parameterType"] == {"type": "ARRAY", "arrayType": {"type": "DATE"}}


def test_inlined_literals_parse_back_to_the_same_values() -> None:
    schema = load_schema("cost_data_standard_1_3")
    odd = "it's a \\ back'slash\nand ünïcode"
    bindings = Bindings(inline=True)
    script = replace_script(REF, "`p.d.s`", "`p.d.v`", schema, {"x_source_provider": odd}, bindings)
    delete = sqlglot.parse(script, read="bigquery")[1]
    assert delete is not None
    literal = delete.args["where"].find(exp.Literal)
    assert literal is not None and literal.this == odd
    assert len(sqlglot.parse(script, read="bigquery")) == 5  # the value could not add a statement
