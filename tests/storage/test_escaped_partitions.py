"""A slice in a partition whose value needs escaping in a file path is replaced, not doubled."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

from cloudact_shared.storage.embedded import EmbeddedTableStore
from cloudact_shared.storage.schema import Column, TableSchema

BY_PROVIDER = TableSchema(
    table="by_provider",
    description="",
    columns=(
        Column("provider", "STRING", True, ""),
        Column("month", "STRING", True, ""),
        Column("n", "INT64", True, ""),
    ),
    partition_by=("provider",),
    sort_by=(),
)


def _rows(provider: str, month: str, values: list[int]) -> pa.RecordBatchReader:
    table = pa.table(
        {"provider": [provider] * len(values), "month": [month] * len(values), "n": values},
        schema=BY_PROVIDER.arrow_schema(),
    )
    return pa.RecordBatchReader.from_batches(table.schema, table.to_batches())


@pytest.mark.parametrize("provider", ["acme/saas", "a b", "100%", "é"])
def test_replacing_a_slice_in_an_escaped_partition_drops_its_old_rows(tmp_path: Path, provider: str) -> None:
    store = EmbeddedTableStore(tmp_path)
    store.ensure_table("acme_prod", BY_PROVIDER)
    key = {"provider": provider, "month": "2025-01"}
    store.replace_slice("acme_prod", BY_PROVIDER, key, _rows(provider, "2025-01", [1, 2]))
    store.replace_slice(
        "acme_prod", BY_PROVIDER, {"provider": provider, "month": "2025-02"}, _rows(provider, "2025-02", [5])
    )
    store.replace_slice("acme_prod", BY_PROVIDER, key, _rows(provider, "2025-01", [3]))

    rows = store.scan("acme_prod", "by_provider").to_table().to_pylist()
    assert sorted((r["month"], r["n"]) for r in rows) == [("2025-01", 3), ("2025-02", 5)]
