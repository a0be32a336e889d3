"""What a provider's raw SELECT makes of one file, outside the pipeline: the shared test helper."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import duckdb

from cloudact_providers.registry import registration
from cloudact_shared import duck
from cloudact_shared.lineage import Lineage


def raw_rows(provider: str, path: Path, source_object: str) -> list[dict[str, Any]]:
    """The rows (good and quarantined) ``provider``'s ``build_raw_select`` makes of ``path``, under a
    fixed lineage set as the pipeline sets it."""
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    lineage = Lineage(
        f"{provider}/cost/billing",
        "00000000-0000-4000-8000-000000000000",
        "11111111-1111-4111-8111-111111111111",
        datetime(2026, 1, 1, tzinfo=UTC),
        date(2026, 1, 1),
    )
    duck.set_lineage(con, lineage)
    cursor = con.execute(registration(provider).raw_select_builder()(con, path, source_object=source_object))
    names = [d[0] for d in cursor.description or []]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
