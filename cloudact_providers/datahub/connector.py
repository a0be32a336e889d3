"""The DataHub connector: an org's uploaded cost events, from its inbox, one extract per upload and month.

The inbox (``events.inbox_dir``) holds one JSON-lines file per upload, in upload order. Listing a run's
months reads the event_id, usage time and row of every record of every upload (DuckDB, no other
column) and keeps each event_id's latest record: the last upload holding it, its last row there
(``events.LATEST_SQL``). Each upload holding latest records of a requested month is one
``SourceObject`` of that month (its URI, ``datahub://<org>/<upload file>``, is what the raw rows
record as their source); downloading it writes those records only, as CSV with every value as text
(``formats`` reads it without guessing a type). A requested month without events gets one
header-only extract: a month whose last event moved to another month is replaced with no rows,
instead of the run failing for want of files.

So a month's slice is rebuilt from the whole inbox each time: uploading the same events again, or
running a month again, gives the same rows, and an event sent again with other values (another
month included) replaces the old one. Reading every upload's ids is the price (DuckDB reads millions
of short records a second); nothing is cached between runs.

No SDK: the inbox is local files. DuckDB calls run in a worker thread.
"""

from __future__ import annotations

import asyncio
import csv
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import duckdb

from cloudact_providers.connector import ResolvedCredential, SourceObject, parse_credential_part
from cloudact_providers.datahub.credential import DataHubConfig, DataHubSecret
from cloudact_providers.datahub.events import INBOX_COLUMNS, LATEST_SQL, credential_id_for, read_json_sql, upload_files
from cloudact_providers.sqltext import sql_literal
from cloudact_shared.errors import FailedPrecondition, PermissionDenied

_KEYS = ("event_id", "usage_date_time", "upload_row")


@dataclass(frozen=True)
class _Extract:
    """What one SourceObject's download writes: the latest records of ``month`` in ``upload``."""

    upload: Path | None
    """None: the month has no events (a header-only extract)."""
    month: date


class DataHubInboxConnector:
    """Lists and extracts the latest record of every event_id of an org's inbox, by month."""

    def __init__(self, credential: ResolvedCredential) -> None:
        config = parse_credential_part(DataHubConfig, credential.config, "credential.config", "DataHub")
        parse_credential_part(DataHubSecret, credential.secret, "credential.secret", "DataHub")
        self._inbox = Path(config.inbox)
        self._org = self._inbox.name
        # The inbox and the credential id both name the org: a credential can only read its own org's.
        if credential.credential_id != credential_id_for(self._org):
            raise PermissionDenied(
                f"credential {credential.credential_id} is not the DataHub credential of the inbox it names",
                reason="DATAHUB_CREDENTIAL_MISMATCH",
            )
        self._con: duckdb.DuckDBPyConnection | None = None
        self._extracts: dict[str, _Extract] = {}

    async def __aenter__(self) -> DataHubInboxConnector:
        self._con = duckdb.connect()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._con is not None:
            self._con.close()
            self._con = None

    async def list_objects(self, periods: Sequence[date]) -> list[SourceObject]:
        """One object per upload holding latest events of a requested month, and one per empty month."""
        return await asyncio.to_thread(self._list, sorted(set(periods)))

    async def download(self, obj: SourceObject, dest: Path) -> None:
        """Writes the object's extract (CSV with a header) to ``dest``."""
        extract = self._extracts.get(obj.key)
        if extract is None:
            raise FailedPrecondition(f"{obj.uri} was not listed by this connector", reason="NOT_DATAHUB_EVENTS")
        await asyncio.to_thread(self._write, extract, dest)

    def _list(self, periods: list[date]) -> list[SourceObject]:
        con = self._connection()
        uploads = upload_files(self._inbox)
        found: dict[date, list[tuple[Path, int]]] = {p: [] for p in periods}
        if uploads and periods:
            files = "[" + ", ".join(sql_literal(str(p)) for p in uploads) + "]"
            con.execute(
                "CREATE OR REPLACE TEMP TABLE latest AS "
                + LATEST_SQL.format(source=read_json_sql(files, ("event_id", "usage_date_time", "upload_row")))
            )
            months = [f"{p:%Y-%m}" for p in periods]
            rows = con.execute(
                "SELECT filename, month, count(*) FROM latest WHERE list_contains(?, month) "
                "GROUP BY ALL ORDER BY filename, month",
                [months],
            ).fetchall()
            for filename, month, count in rows:
                found[date.fromisoformat(f"{month}-01")].append((Path(filename), int(count)))
        objects = []
        for period in periods:
            for upload, _count in found[period]:
                key = f"{upload.stem}-{period:%Y-%m}.csv"
                self._extracts[key] = _Extract(upload, period)
                objects.append(SourceObject(f"datahub://{self._org}/{upload.name}", key, upload.stat().st_size, period))
            if not found[period]:
                key = f"no-events-{period:%Y-%m}.csv"
                self._extracts[key] = _Extract(None, period)
                objects.append(SourceObject(f"datahub://{self._org}/no-events/{period:%Y-%m}", key, 0, period))
        return objects

    def _write(self, extract: _Extract, dest: Path) -> None:
        if extract.upload is None:
            with dest.open("w", newline="", encoding="utf-8") as handle:
                csv.writer(handle).writerow(INBOX_COLUMNS)
            return
        source = read_json_sql(sql_literal(str(extract.upload)), INBOX_COLUMNS)
        columns = ", ".join(f'e."{name}"' for name in INBOX_COLUMNS)
        self._connection().execute(
            f"COPY (SELECT {columns} FROM {source} AS e "
            "JOIN latest AS l ON l.filename = e.filename AND l.upload_row = e.upload_row AND l.event_id = e.event_id "
            f"WHERE l.month = {sql_literal(f'{extract.month:%Y-%m}')} ORDER BY e.upload_row) "
            f"TO {sql_literal(str(dest))} (FORMAT csv, HEADER true)"
        )

    def _connection(self) -> duckdb.DuckDBPyConnection:
        assert self._con is not None, "use the connector as an async context manager"
        return self._con
