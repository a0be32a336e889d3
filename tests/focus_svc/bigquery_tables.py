"""Raw and FOCUS tables in a BigQuery dataset, as the BigQuery TableStore lays them out.

The store's conventions: a table per sql/schemas/*.json with JSON -> STRING, DECIMAL(38,12) ->
BIGNUMERIC(38,12), DECIMAL(p<=38, s<=9) -> NUMERIC(p,s), MAP<K,V> -> REPEATED RECORD<key K, value V>
(what DuckDB's map_entries yields), TIMESTAMP, DATE, INT64, BOOL, FLOAT64 as they are. Rows are
loaded from Parquet (``load_table_from_json`` is broken on bqemulator).
"""

from __future__ import annotations

import io
import re

import pyarrow as pa
import pyarrow.parquet as pq
from google.cloud import bigquery

from cloudact_shared.storage import TableSchema
from cloudact_shared.storage.bigquery import VERSIONS_TABLE

_DECIMAL = re.compile(r"^DECIMAL\((\d+),\s*(\d+)\)$")
_MAP = re.compile(r"^MAP<(.+?),\s*(.+)>$")


def column_type(type_name: str) -> str:
    """The BigQuery type of a schema type, as DDL."""
    upper = type_name.strip().upper()
    if match := _MAP.match(upper):
        return f"ARRAY<STRUCT<key {column_type(match[1])}, value {column_type(match[2])}>>"
    if match := _DECIMAL.match(upper):
        precision, scale = int(match[1]), int(match[2])
        kind = "NUMERIC" if scale <= 9 and precision - scale <= 29 else "BIGNUMERIC"
        return f"{kind}({precision}, {scale})"
    return {"JSON": "STRING"}.get(upper, upper)


def create_table(client: bigquery.Client, dataset_id: str, schema: TableSchema) -> None:
    """Creates ``dataset_id.<schema's table>`` with the store's column types.

    By DDL: bqemulator answers 500 to a tables.insert with a parameterized NUMERIC/BIGNUMERIC.
    """
    columns = ", ".join(f"`{c.name}` {column_type(c.type)}{'' if c.nullable else ' NOT NULL'}" for c in schema.columns)
    client.query(f"CREATE TABLE IF NOT EXISTS `{client.project}.{dataset_id}.{schema.table}` ({columns})").result()
    # The write counter every write bumps: the store's onboarding creates it, the procedure's MERGE needs it.
    client.query(
        f"CREATE TABLE IF NOT EXISTS `{client.project}.{dataset_id}.{VERSIONS_TABLE}` "
        "(table_name STRING NOT NULL, version INT64 NOT NULL)"
    ).result()


def _bigquery_arrow(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """A MAP column as the list of {key, value} structs BigQuery holds (a NULL map: no entries)."""
    if not pa.types.is_map(column.type):
        return column
    chunks = []
    for chunk in column.chunks:
        entries = pa.StructArray.from_arrays([chunk.keys, chunk.items], names=["key", "value"])
        offsets = chunk.offsets
        chunks.append(pa.ListArray.from_arrays(offsets, entries))
    return pa.chunked_array(
        chunks, pa.list_(pa.struct([("key", column.type.key_type), ("value", column.type.item_type)]))
    )


def load_rows(client: bigquery.Client, dataset_id: str, table: str, rows: pa.Table) -> None:
    """Appends ``rows`` (Arrow, the embedded store's types) to the table, through a Parquet load job."""
    converted = pa.table({name: _bigquery_arrow(rows.column(name)) for name in rows.column_names})
    buffer = io.BytesIO()
    pq.write_table(converted, buffer)
    buffer.seek(0)
    config = bigquery.LoadJobConfig(
        source_format=bigquery.SourceFormat.PARQUET, write_disposition=bigquery.WriteDisposition.WRITE_APPEND
    )
    client.load_table_from_file(buffer, f"{client.project}.{dataset_id}.{table}", job_config=config).result()
