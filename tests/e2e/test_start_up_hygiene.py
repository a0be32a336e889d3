"""What a killed process left behind is gone once the services start again.

After a ``kill -9`` testers found download folders (~39 MB each), DuckDB spill folders and Parquet
files that were written but never committed, and no start-up ever cleaned them.
"""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from cloudact_cli.supervisor import start_in_process
from cloudact_shared.settings import CloudactSettings
from cloudact_shared.storage import load_schema
from cloudact_shared.storage.embedded import EmbeddedTableStore


def _abandoned_run_dir(tmp_root: Path) -> Path:
    """A run's scratch folder as a kill -9 leaves it: a download and a spill file, untouched for an hour."""
    run_dir = tmp_root / f"run-{uuid.uuid4()}-x1y2"
    (run_dir / "spill").mkdir(parents=True)
    (run_dir / "00000-export.csv.gz").write_bytes(os.urandom(4096))
    (run_dir / "spill" / "duckdb_temp_block.tmp").write_bytes(os.urandom(1024))
    an_hour_ago = time.time() - 3600
    for path in (run_dir / "spill" / "duckdb_temp_block.tmp", run_dir / "00000-export.csv.gz", run_dir / "spill"):
        os.utime(path, (an_hour_ago, an_hour_ago))
    os.utime(run_dir, (an_hour_ago, an_hour_ago))
    return run_dir


def _uncommitted_write(table_root: Path) -> Path:
    """A write killed between its first Parquet file and its commit: the file, and its unheld marker."""
    token = uuid.uuid4().hex
    (table_root / "_pending_writes").mkdir(exist_ok=True)
    (table_root / "_pending_writes" / f"{token}.lock").write_text('{"pid": 999999}')
    orphan = table_root / "ingestion_date=2025-01-02" / f"part-{token}-00000.zstd.parquet"
    orphan.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table({"x": [1, 2, 3]}), orphan)
    return orphan


async def test_services_remove_abandoned_work_dirs_and_uncommitted_files_at_start(tmp_path: Path) -> None:
    settings = CloudactSettings(data_dir=tmp_path / "data")
    store = EmbeddedTableStore(settings.data_dir)
    raw, focus = load_schema("cloud_aws_billing_raw_daily"), load_schema("cost_data_standard_1_3")
    for schema in (raw, focus):
        store.ensure_table("acme_prod", schema)
    run_dir = _abandoned_run_dir(settings.data_dir / "tmp")
    orphans = [_uncommitted_write(settings.data_dir / "acme_prod" / schema.table) for schema in (raw, focus)]

    settings, servers = await start_in_process(settings)
    try:
        assert not run_dir.exists()
        assert not any(orphan.exists() for orphan in orphans)
        assert store.version("acme_prod", raw.table) == 0  # the committed table itself untouched
    finally:
        for server in servers.values():
            await server.stop(0)
