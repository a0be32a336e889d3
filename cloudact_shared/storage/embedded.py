"""The embedded backend: Delta Lake tables under $CLOUDACT_DATA_DIR/{dataset}/{table}.

Writes are ours, commits are delta-rs's. ``write_deltalake`` holds roughly a kilobyte per written
row in memory (measured: 1.2 GB at 300k raw rows, 3 GB at 1.8M), so a month of a large account
would not fit. Instead the new rows stream into Parquet files in row groups of a fixed row count
(the memory plan's batch, ``cloudact_shared.settings.MemoryPlan``), DuckDB (under the plan's
memory limit) finds the files that hold the slice being replaced (rewriting the other rows of
any file only partly in it), and one Delta transaction removes those files and adds the new ones.
Files of an uncommitted write are deleted, and are invisible to readers until the commit anyway.

Concurrent writers (threads or processes) are serialised at the commit: each commit must land on
the version its slice was computed from, else the slice is recomputed on the latest version and
committed again, with back-off. Every write holds a claimed marker ``_pending_writes/{token}.lock``
from its first file to its commit; the files of a writer killed in between carry the marker's token
and ``recover_abandoned_writes`` deletes them. ``vacuum`` deletes the files earlier commits removed.
"""

from __future__ import annotations

import json
import logging
import os
import random
import re
import socket
import threading
import time
import uuid
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TypeVar
from urllib.parse import quote, unquote

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as pads
import pyarrow.parquet as pq
from deltalake import DeltaTable
from deltalake.exceptions import DeltaError, TableNotFoundError
from deltalake.transaction import AddAction, CommitProperties, RemoveAction

from cloudact_shared import duck
from cloudact_shared.errors import Aborted, FailedPrecondition, InvalidArgument, NotFound
from cloudact_shared.naming import ORG_SLUG_PATTERN
from cloudact_shared.settings import DEFAULT_MEMORY_BUDGET, MemoryPlan
from cloudact_shared.storage.batches import fixed_size_tables, read_ahead
from cloudact_shared.storage.protocol import Condition, SliceKey, SliceValue, StoreCapabilities
from cloudact_shared.storage.schema import TableSchema, duckdb_type
from cloudact_shared.workspace import FileClaim

_log = logging.getLogger(__name__)
_T = TypeVar("_T")

_ROWS_PER_FILE = 4_000_000
_DEFAULT_PLAN = MemoryPlan.for_budget(DEFAULT_MEMORY_BUDGET)

_PENDING_DIR = "_pending_writes"
_TOKEN_METADATA = "cloudact.writeToken"
_DATA_FILE = re.compile(r"part-([0-9a-f]{32})-\d{5,}\.zstd\.parquet")
_CLAIM_ATTEMPTS = 5
# Files named like ours without any marker were written by code older than the markers (or lost
# their marker in a crash of the machine): removed only when this old, so no such write is running.
_UNMARKED_GRACE_SECONDS = 24 * 3600.0

_COMMIT_ATTEMPTS = 10
_COMMIT_RETRY_SECONDS = 120.0
_BACKOFF_FIRST_SECONDS = 0.05
_BACKOFF_MAX_SECONDS = 5.0
# What delta-rs says when another commit won the race (CommitFailedError, seen as DeltaError):
# conflict-checker verdicts, a taken version, and a lost race to create version 0.
_CONFLICT = re.compile(
    r"concurrent transaction|existing table version|version \d+ already exists|changed since last commit"
    r"|Failed to commit transaction: \d+\s*$",
    re.IGNORECASE,
)

_TABLE_LOCKS: dict[Path, threading.Lock] = {}
_TABLE_LOCKS_GUARD = threading.Lock()


@dataclass(frozen=True)
class _Streaming:
    """How a write streams: rows per batch and row group, and DuckDB's memory limit (the memory plan's)."""

    batch_rows: int
    duckdb_memory_limit: str


class EmbeddedTableStore:
    """Delta Lake tables on local disk; DuckDB reads their Parquet files directly."""

    capabilities = StoreCapabilities(sql_dialect="duckdb", supports_procedures=False, max_identifier_length=255)

    def __init__(
        self,
        data_dir: Path,
        *,
        batch_rows: int = _DEFAULT_PLAN.batch_rows,
        duckdb_memory_limit: str = _DEFAULT_PLAN.duckdb_memory_limit,
    ) -> None:
        """A store under ``data_dir``; writes stream ``batch_rows`` rows at a time, one row group each."""
        self._root = data_dir
        self._streaming = _Streaming(batch_rows, duckdb_memory_limit)

    def _path(self, dataset: str, table: str) -> Path:
        if not _valid_names(dataset, table):
            raise ValueError(f"invalid table {dataset}.{table}")
        return self._root / dataset / table

    def table_dir(self, dataset: str, table: str) -> Path:
        """The folder of ``dataset.table`` on local disk: its Delta log and data files (which may
        not exist yet). For readers that go to the files directly (query_svc's version watch)."""
        return self._path(dataset, table)

    def ensure_table(self, dataset: str, schema: TableSchema) -> None:
        path = self._path(dataset, schema.table)
        if self.table_exists(dataset, schema.table):
            return
        path.mkdir(parents=True, exist_ok=True)
        try:
            DeltaTable.create(
                str(path),
                schema=schema.arrow_schema(),
                partition_by=list(schema.partition_by) or None,
                name=schema.table,
                description=schema.description,
                # With retries, a create that lost the race for version 0 commits a second CREATE
                # TABLE (a new table id) as version 1; without, it fails and the winner's table stays.
                commit_properties=CommitProperties(max_commit_retries=0),
            )
        except DeltaError:
            # Another thread or process created it in the meantime (delta-rs then reports "already
            # exists" or a lost commit): what matters is that the table is there now.
            if not self.table_exists(dataset, schema.table):
                raise

    def onboard(self, dataset: str, schemas: Sequence[TableSchema]) -> None:
        """Creates each table that does not exist (the dataset is the folder holding them)."""
        for schema in schemas:
            self.ensure_table(dataset, schema)

    def replace_slice(
        self,
        dataset: str,
        schema: TableSchema,
        slice_key: SliceKey,
        data: pa.RecordBatchReader,
        *,
        job_key: str | None = None,
    ) -> int:
        # job_key is not needed here: a write runs in the caller's process and dies with it, and an
        # uncommitted one leaves nothing behind, so a retry never meets an earlier attempt still
        # running; a retry after a commit replaces the slice with the same rows again.
        del job_key
        slice_predicate(slice_key)  # a bad key fails before any row is written
        self.ensure_table(dataset, schema)
        root = self._path(dataset, schema.table)
        name = f"{dataset}.{schema.table}"
        with _pending_write(root) as write:
            try:
                # The long step, under no lock: other writers of the table go on meanwhile.
                added = _write_files(write, schema, data, self._streaming.batch_rows)
                return _retry_on_conflict(
                    f"writing {name}",
                    lambda: _commit_replacement(root, schema, slice_key, write, added, self._streaming),
                )
            except (DeltaError, duckdb.Error, pa.ArrowException) as exc:
                # Nothing was committed: say which table and why (the first line; the rest is a backtrace).
                raise FailedPrecondition(
                    f"writing {name} failed, previous data kept: {str(exc).splitlines()[0]}",
                    reason="TABLE_WRITE_FAILED",
                ) from exc

    def recover_abandoned_writes(self) -> int:
        return sum(_recover_table(root) for _, _, root in self._table_dirs())

    def vacuum(self, dataset: str, table: str, *, retention_hours: int) -> int:
        if retention_hours < 0:
            raise ValueError(f"retention_hours must be >= 0, not {retention_hours}")
        root = self._path(dataset, table)
        if not self.table_exists(dataset, table):
            return 0
        try:
            return _retry_on_conflict(f"vacuuming {dataset}.{table}", lambda: _vacuum_once(root, retention_hours))
        except DeltaError as exc:
            raise FailedPrecondition(
                f"vacuuming {dataset}.{table} failed, no live data touched: {str(exc).splitlines()[0]}",
                reason="TABLE_VACUUM_FAILED",
            ) from exc

    def list_tables(self) -> list[tuple[str, str]]:
        return [(dataset, table) for dataset, table, root in self._table_dirs() if DeltaTable.is_deltatable(str(root))]

    def _table_dirs(self) -> Iterator[tuple[str, str, Path]]:
        """Folders under the data dir named like a table and holding a Delta log or write markers."""
        if not self._root.is_dir():
            return
        for dataset in sorted(p for p in self._root.iterdir() if p.is_dir()):
            for root in sorted(p for p in dataset.iterdir() if p.is_dir()):
                has_table = (root / "_delta_log").is_dir() or (root / _PENDING_DIR).is_dir()
                if has_table and _valid_names(dataset.name, root.name):
                    yield dataset.name, root.name, root

    def scan(self, dataset: str, table: str) -> pads.Dataset:
        return DeltaTable(str(self._path(dataset, table))).to_pyarrow_dataset()

    def read(
        self, dataset: str, table: str, *, columns: Sequence[str] | None = None, where: Sequence[Condition] = ()
    ) -> pa.RecordBatchReader:
        """A scanner over the current version with the columns projected and ``where`` as a filter
        expression (both pushed down to the Parquet files: partitions and row groups pruned)."""
        try:
            dataset_ = DeltaTable(str(self._path(dataset, table))).to_pyarrow_dataset()
        except TableNotFoundError as exc:
            raise NotFound(f"table {dataset}.{table} does not exist", reason="TABLE_NOT_FOUND") from exc
        schema = dataset_.schema
        if columns is not None:
            for column in columns:
                _field(schema, column, dataset, table)
        expression: pc.Expression | None = None
        for condition in where:
            term = _condition_expression(_field(schema, condition.column, dataset, table), condition)
            expression = term if expression is None else expression & term
        selected = list(columns) if columns is not None else None
        scanner = dataset_.scanner(columns=selected, filter=expression, batch_size=self._streaming.batch_rows)
        return scanner.to_reader()

    def relation_sql(self, dataset: str, schema: TableSchema) -> str:
        """A DuckDB table expression over the table's current version, columns in schema order."""
        files = DeltaTable(str(self._path(dataset, schema.table))).file_uris()
        return _files_relation(files, schema)

    def version(self, dataset: str, table: str) -> int | None:
        try:
            return DeltaTable(str(self._path(dataset, table))).version()
        except TableNotFoundError:
            return None

    def table_exists(self, dataset: str, table: str) -> bool:
        return DeltaTable.is_deltatable(str(self._path(dataset, table)))


def _field(schema: pa.Schema, column: str, dataset: str, table: str) -> pa.Field:
    index = schema.get_field_index(column)
    if index < 0:
        raise InvalidArgument(f"table {dataset}.{table} has no column {column!r}", reason="UNKNOWN_COLUMN")
    return schema.field(index)


def _condition_expression(field: pa.Field, condition: Condition) -> pc.Expression:
    """``condition`` as a pyarrow.dataset filter, its value(s) cast to the column's type."""
    column = pc.field(field.name)
    if condition.op == "in":
        values = condition.value
        if isinstance(values, str | bytes) or not isinstance(values, Sequence):
            raise InvalidArgument(f"condition 'in' on {field.name} needs a sequence of values", reason="BAD_CONDITION")
        return column.isin(_typed_array(field, list(values)))
    if isinstance(condition.value, Sequence) and not isinstance(condition.value, str):
        raise InvalidArgument(f"condition {condition.op!r} on {field.name} needs one value", reason="BAD_CONDITION")
    value = _typed_array(field, [condition.value])[0]
    if condition.op == "=":
        return column == value
    if condition.op == ">=":
        return column >= value
    if condition.op == "<":
        return column < value
    raise InvalidArgument(f"unknown condition operator {condition.op!r}", reason="BAD_CONDITION")


def _typed_array(field: pa.Field, values: list[object]) -> pa.Array:
    try:
        return pa.array(values).cast(field.type)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError) as exc:
        raise InvalidArgument(
            f"condition value for {field.name} does not fit its type {field.type}", reason="BAD_CONDITION"
        ) from exc


def _valid_names(dataset: str, table: str) -> bool:
    # Dataset and table names are validated before they reach a path (no "..", no "/").
    return bool(ORG_SLUG_PATTERN.fullmatch(dataset.removesuffix("_prod"))) and table.isidentifier()


class _Conflict(Exception):
    """A concurrent commit invalidated this attempt; redone on the latest version it can succeed."""


def _retry_on_conflict(what: str, attempt: Callable[[], _T]) -> _T:
    """Runs ``attempt`` until it raises no _Conflict, with exponential back-off and jitter.

    Raises:
        Aborted: still conflicting after _COMMIT_ATTEMPTS attempts or _COMMIT_RETRY_SECONDS.
    """
    give_up_at = time.monotonic() + _COMMIT_RETRY_SECONDS
    tries = 0
    while True:
        tries += 1
        try:
            return attempt()
        except _Conflict as conflict:
            cause = conflict.__cause__
            ceiling = min(_BACKOFF_MAX_SECONDS, _BACKOFF_FIRST_SECONDS * 2 ** (tries - 1))
            # Jitter keeps writers that collided once from colliding again in lockstep.
            pause = ceiling / 2 + random.uniform(0, ceiling / 2)
            if tries >= _COMMIT_ATTEMPTS or time.monotonic() + pause > give_up_at:
                raise Aborted(
                    f"{what} failed: concurrent commits to the table conflicted {tries} times in a row; "
                    "nothing was changed, retry later",
                    reason="TABLE_COMMIT_CONFLICT",
                ) from cause
            _log.info("%s: commit conflict on attempt %d, retrying in %.2fs: %s", what, tries, pause, cause)
            time.sleep(pause)


def _is_conflict(exc: BaseException, root: Path, read_version: int) -> bool:
    """Whether ``exc`` means another commit won the race for the table since ``read_version``."""
    if isinstance(exc, DeltaError):
        return bool(_CONFLICT.search(str(exc)))
    if isinstance(exc, duckdb.IOException):
        # A file of the version read vanished: a vacuum deleted it after a newer commit removed it.
        return _latest_version(root) != read_version
    return False


def _latest_version(root: Path) -> int:
    return DeltaTable(str(root)).version()


def _table_lock(root: Path) -> threading.Lock:
    """The in-process lock over one table's reload, unslice and commit.

    Two writers of one process committing to one table conflict for certain (each commit must land
    on the version it read), so letting them race would only make all but one redo the reload and
    the unslice after a back-off. The lock makes them take turns instead; it covers no streaming,
    and writers in other processes are still handled by the retries.
    """
    with _TABLE_LOCKS_GUARD:
        return _TABLE_LOCKS.setdefault(root.resolve(), threading.Lock())


def _commit_replacement(
    root: Path,
    schema: TableSchema,
    slice_key: SliceKey,
    write: _PendingWrite,
    added: list[AddAction],
    streaming: _Streaming,
) -> int:
    """One attempt: on the latest version, removes the slice, adds ``added``; returns the new version.

    Raises:
        _Conflict: another commit landed first; the files this attempt rewrote are deleted again.
    """
    with _table_lock(root):
        table = DeltaTable(str(root))
        read_version = table.version()
        mark = write.mark()
        try:
            removed, rewritten = _unslice(root, table, schema, slice_key, write, streaming)
            if not (added or removed):
                return read_version
            table.create_write_transaction(
                [*added, *rewritten, *removed],
                mode="append",
                schema=schema.arrow_schema(),
                partition_by=list(schema.partition_by) or None,
                # No retry inside delta-rs: it would rebase onto commits that only added files, and
                # a concurrent write of the same slice would then survive next to ours.
                commit_properties=CommitProperties(
                    custom_metadata={_TOKEN_METADATA: write.token}, max_commit_retries=0
                ),
            )
        except BaseException as exc:
            if _committed(root, read_version + 1, write.token):
                # The commit landed and a later step (a checkpoint) failed: the files are the table's now.
                write.committed = True
                if isinstance(exc, DeltaError):
                    _log.warning("%s: committed version %d, then: %s", root, read_version + 1, exc)
                    return read_version + 1
                raise
            write.delete_since(mark)
            if _is_conflict(exc, root, read_version):
                raise _Conflict from exc
            raise
        write.committed = True
        return read_version + 1


def _committed(root: Path, version: int, token: str) -> bool:
    """Whether the write with ``token`` is the commit of ``version``."""
    try:
        commit = (root / "_delta_log" / f"{version:020d}.json").read_text()
    except FileNotFoundError:
        return False
    return token in commit


def _vacuum_once(root: Path, retention_hours: int) -> int:
    """Deletes the files that commits removed more than ``retention_hours`` ago; returns how many.

    Not ``full=True``: that also deletes every file the log does not name, older than the retention,
    which includes the closed files of a write still streaming or committing (a long write, or any
    write under a short retention); its commit would then name missing files. Files of dead writes
    are ``recover_abandoned_writes``' job, which knows whose writes are alive.
    """
    table = DeltaTable(str(root))

    def vacuum(dry_run: bool) -> list[str]:
        return table.vacuum(
            retention_hours=retention_hours, dry_run=dry_run, enforce_retention_duration=False, full=False
        )

    try:
        # delta-rs lists a removed file on every vacuum until its tombstone leaves the log, deleted or
        # not: only files still on disk count, and with none the vacuum's two commits are skipped.
        present = {path for path in vacuum(dry_run=True) if (root / unquote(path)).exists()}
        if not present:
            return 0
        deleted = vacuum(dry_run=False)
    except DeltaError as exc:
        if _CONFLICT.search(str(exc)):
            raise _Conflict from exc
        raise
    return len(present.intersection(deleted))


class _PendingWrite:
    """One write's files, all named ``part-{token}-NNNNN.zstd.parquet``, and its claimed marker."""

    def __init__(self, root: Path, token: str, claim: FileClaim) -> None:
        self.root = root
        self.token = token
        self.claim = claim
        self.committed = False
        self._created: list[Path] = []

    def new_file(self, folder: Path) -> Path:
        """A new file path under ``root/folder`` (the folder is created), recorded as this write's."""
        path = self.root / folder / f"part-{self.token}-{len(self._created):05d}.zstd.parquet"
        path.parent.mkdir(parents=True, exist_ok=True)
        self._created.append(path)
        return path

    def mark(self) -> int:
        """A point to which ``delete_since`` can roll the write's files back."""
        return len(self._created)

    def delete_since(self, mark: int) -> None:
        """Deletes the files created after ``mark`` (numbering goes on, so names are never reused)."""
        for path in self._created[mark:]:
            path.unlink(missing_ok=True)


@contextmanager
def _pending_write(root: Path) -> Iterator[_PendingWrite]:
    """Claims a marker for a new write; on exit deletes the write's files unless committed.

    The marker goes only once the files are gone (or committed): a write whose clean-up failed
    keeps it, and with it the files' way to recovery.
    """
    write = _claim_write(root)
    cleaned = False
    try:
        yield write
    finally:
        try:
            if not write.committed:
                write.delete_since(0)
            cleaned = True
        finally:
            write.claim.release(remove=cleaned)


def _claim_write(root: Path) -> _PendingWrite:
    folder = root / _PENDING_DIR
    folder.mkdir(exist_ok=True)
    owner = {"pid": os.getpid(), "host": socket.gethostname(), "started": datetime.now(UTC).isoformat()}
    for _ in range(_CLAIM_ATTEMPTS):
        token = uuid.uuid4().hex
        claim = FileClaim.create(folder / f"{token}.lock", json.dumps(owner).encode())
        if claim is not None:
            return _PendingWrite(root, token, claim)
    raise Aborted(f"writing {root.parent.name}.{root.name} failed: concurrent recoveries kept taking its write marker")


def _recover_table(root: Path) -> int:
    """Deletes the files of the table's abandoned writes and their markers; returns the files deleted.

    Files are listed before the markers are read. A write makes its marker before its first file
    and drops it only after its commit or the deletion of its files; so a listed file whose token
    has no marker afterwards belongs to a finished write (committed, or already deleted) or to a
    write of older code without markers. Markers are claimed before the log is read, so a dead
    writer's commit, if it made one, is seen. No file the log names is ever deleted.
    """
    listed = _data_files(root)
    markers = sorted((root / _PENDING_DIR).glob("*.lock"))
    marked = {m.name.removesuffix(".lock") for m in markers}
    dead: dict[str, FileClaim] = {}
    cleaned = False
    try:
        for marker in markers:
            if (claim := FileClaim.take_abandoned(marker)) is not None:
                dead[marker.name.removesuffix(".lock")] = claim
        now = time.time()
        doomed = [
            path
            for token, files in listed.items()
            if token not in marked
            for path, mtime in files
            if now - mtime >= _UNMARKED_GRACE_SECONDS
        ]
        if dead:
            # Listed again: a writer alive at the first listing may have added files before dying.
            relisted = _data_files(root)
            doomed += [path for token in dead for path, _ in relisted.get(token, [])]
        deleted = _delete_unlogged(root, doomed)
        cleaned = True
    finally:
        for claim in dead.values():
            claim.release(remove=cleaned)
    if deleted or dead:
        _log.warning("%s: removed %d files of %d abandoned writes", root, deleted, len(dead))
    return deleted


def _delete_unlogged(root: Path, paths: list[Path]) -> int:
    if not paths:
        return 0
    logged = _logged_names(root)
    deleted = 0
    for path in paths:
        if path.name in logged:
            continue
        try:
            path.unlink()
        except FileNotFoundError:
            continue
        deleted += 1
    return deleted


def _data_files(root: Path) -> dict[str, list[tuple[Path, float]]]:
    """The table folder's data files named like ours, by write token, with their mtimes."""
    found: dict[str, list[tuple[Path, float]]] = {}
    for folder, dirs, files in os.walk(root):
        if folder == str(root):
            dirs[:] = [d for d in dirs if d not in ("_delta_log", _PENDING_DIR)]
        for name in files:
            if match := _DATA_FILE.fullmatch(name):
                path = Path(folder, name)
                try:
                    mtime = path.stat().st_mtime
                except FileNotFoundError:
                    continue
                found.setdefault(match[1], []).append((path, mtime))
    return found


def _logged_names(root: Path) -> set[str]:
    """Names of the data files any version in the table's log adds or removes (time travel included)."""
    for _ in range(3):
        try:
            return _read_logged_names(root)
        except FileNotFoundError:
            continue  # the log's clean-up removed a listed commit (into a checkpoint): read again
    return _read_logged_names(root)


def _read_logged_names(root: Path) -> set[str]:
    log = root / "_delta_log"
    if not log.is_dir():
        return set()
    names: set[str] = set()
    for path in log.iterdir():
        if path.name.endswith(".json"):
            names.update(m[0] for m in _DATA_FILE.finditer(path.read_text()))
        elif ".checkpoint" in path.name and path.name.endswith(".parquet"):
            names.update(_checkpoint_names(path))
    # The latest version's files, as delta-rs sees them, whatever the log's layout.
    names.update(uri.rsplit("/", 1)[-1] for uri in DeltaTable(str(root)).file_uris())
    return names


def _checkpoint_names(path: Path) -> set[str]:
    present = set(pq.read_schema(path).names)
    columns = [f"{action}.path" for action in ("add", "remove") if action in present]
    if not columns:
        return set()
    table = pq.read_table(path, columns=columns)
    return {p.rsplit("/", 1)[-1] for column in table.columns for p in column.to_pylist() if p}


def _write_files(
    write: _PendingWrite, schema: TableSchema, data: pa.RecordBatchReader, rows_per_group: int
) -> list[AddAction]:
    """Streams ``data`` into new Parquet files of ``write`` (hive partitions); returns their actions.

    Written by hand with ParquetWriter rather than ``pyarrow.dataset.write_dataset``, which pulls a
    RecordBatchReader faster than it writes and held ~1 KB a row (measured: 1.6 GB at 300k raw rows,
    4.2 GB at 1.8M). Here ``data`` is read ``rows_per_group`` rows at a time, each written at once as
    one row group (of each partition it holds), so memory stays at a row group whatever the slice's size.
    """
    target = schema.arrow_schema()
    files = _PartitionedFiles(write, target, list(schema.partition_by))
    # Closed on the way out, so the read-ahead thread is done with ``data`` before its owner closes it.
    with closing(read_ahead(data)) as batches:
        try:
            for rows in fixed_size_tables(batches, rows_per_group):
                files.write(rows if rows.schema.equals(target) else rows.cast(target))
            return files.close()
        except BaseException:
            files.discard()
            raise


class _PartitionedFiles:
    """Open Parquet files, one per partition value, rolled over every _ROWS_PER_FILE rows."""

    def __init__(self, write: _PendingWrite, target: pa.Schema, partition_by: list[str]) -> None:
        self._write = write
        self._partition_by = partition_by
        self._file_schema = pa.schema([f for f in target if f.name not in partition_by])
        self._open: dict[tuple[str | None, ...], tuple[pq.ParquetWriter, Path, int]] = {}
        self._done: list[AddAction] = []
        self._created: list[Path] = []

    def write(self, batch: pa.Table) -> None:
        """Writes ``batch`` as one row group of each partition it holds (its size is the caller's)."""
        for values, part in self._split(batch):
            writer, path, rows = self._open.get(values) or self._new_file(values)
            writer.write_table(part.select(self._file_schema.names), row_group_size=part.num_rows or None)
            self._open[values] = (writer, path, rows + part.num_rows)
            if rows + part.num_rows >= _ROWS_PER_FILE:
                self._finish(values)

    def close(self) -> list[AddAction]:
        for values in list(self._open):
            self._finish(values)
        return self._done

    def discard(self) -> None:
        for writer, _, _ in self._open.values():
            writer.close()
        for path in self._created:
            path.unlink(missing_ok=True)

    def _split(self, batch: pa.Table) -> Iterator[tuple[tuple[str | None, ...], pa.Table]]:
        if not self._partition_by or batch.num_rows == 0:
            yield (), batch
            return
        keys = [pc.cast(batch.column(c), pa.string()) for c in self._partition_by]
        if len(keys) == 1 and len(unique := pc.unique(keys[0])) == 1:  # the usual case: one run, one day
            yield (unique[0].as_py(),), batch
            return
        distinct = pa.table(keys, names=self._partition_by).group_by(self._partition_by).aggregate([])
        for value in distinct.to_pylist():
            mask = None
            for key, column in zip(keys, self._partition_by, strict=True):
                wanted = value[column]
                match = pc.is_null(key) if wanted is None else pc.fill_null(pc.equal(key, wanted), False)
                mask = match if mask is None else pc.and_(mask, match)
            yield tuple(value[c] for c in self._partition_by), batch.filter(mask)

    def _new_file(self, values: tuple[str | None, ...]) -> tuple[pq.ParquetWriter, Path, int]:
        folder = "/".join(
            f"{c}={quote(v, safe='') if v is not None else '__HIVE_DEFAULT_PARTITION__'}"
            for c, v in zip(self._partition_by, values, strict=True)
        )
        path = self._write.new_file(Path(folder))
        self._created.append(path)
        return pq.ParquetWriter(path, self._file_schema, compression="zstd"), path, 0

    def _finish(self, values: tuple[str | None, ...]) -> None:
        writer, path, rows = self._open.pop(values)
        writer.close()
        self._done.append(
            AddAction(
                path=path.relative_to(self._write.root).as_posix(),
                size=path.stat().st_size,
                partition_values=dict(zip(self._partition_by, values, strict=True)),
                modification_time=int(time.time() * 1000),
                data_change=True,
                stats=json.dumps({"numRecords": rows}),
            )
        )


def _unslice(
    root: Path, table: DeltaTable, schema: TableSchema, slice_key: SliceKey, write: _PendingWrite, streaming: _Streaming
) -> tuple[list[RemoveAction], list[AddAction]]:
    """Remove actions for the current files holding slice rows, and the rewrite of their other rows."""
    current = pa.table(table.get_add_actions(flatten=True)).select(["path", "size_bytes"]).to_pydict()
    if not current["path"]:
        return [], []
    paths = {str(root / unquote(p)): p for p in current["path"]}
    sizes = dict(zip(current["path"], current["size_bytes"], strict=True))
    in_slice = f"coalesce({slice_predicate(slice_key)}, false)"
    # In its own DuckDB under the plan's limit: the rewrite streams, the counts are one row a file.
    spill = root / _PENDING_DIR / f"{write.token}.spill"
    con = duck.connect(memory_limit=streaming.duckdb_memory_limit, temp_dir=spill)
    try:
        counts = con.execute(
            f"SELECT filename, count(*) FILTER (WHERE {in_slice}), count(*) "
            f"FROM {_scan(list(paths), schema, filename=True)} GROUP BY filename"
        ).fetchall()
        now = int(time.time() * 1000)
        removed, rewritten = [], []
        for filename, hits, total in counts:
            if not hits:
                continue
            path = paths[filename]
            # The log's paths are percent-encoded (a partition value "a/b" is "a%2Fb"), and delta-rs
            # encodes a remove action's path again: given the encoded one, it would remove nothing.
            removed.append(RemoveAction(path=unquote(path), data_change=True, deletion_timestamp=now, size=sizes[path]))
            if hits < total:
                # A file written before a nullable column joined the schema lacks it: the rewrite
                # carries it as NULL (a partition column is in the folder name, not the file).
                present = {*pq.read_schema(filename).names, *schema.partition_by}
                rest = con.sql(f"SELECT * FROM {_files_relation([filename], schema, present)} WHERE NOT {in_slice}")
                reader = rest.to_arrow_reader(streaming.batch_rows)
                rewritten += _write_files(write, schema, reader, streaming.batch_rows)
        return removed, rewritten
    finally:
        con.close()


def _scan(files: list[str], schema: TableSchema, *, filename: bool = False) -> str:
    partitions = {c.name: duckdb_type(c.type) for c in schema.columns if c.name in schema.partition_by}
    options = [f"hive_partitioning = {str(bool(partitions)).lower()}", "union_by_name = true"]
    if partitions:
        options.append("hive_types = {" + ", ".join(f"'{k}': '{v}'" for k, v in partitions.items()) + "}")
    if filename:
        options.append("filename = true")
    listing = "[" + ", ".join(_quote(f) for f in files) + "]"
    return f"read_parquet({listing}, {', '.join(options)})"


def _files_relation(files: list[str], schema: TableSchema, present: Collection[str] | None = None) -> str:
    """The files as a relation with exactly the schema's columns (an empty, typed one for no files).

    ``present``: the columns the files hold, when some of the schema's may be missing from all of them
    (files older than the column): those read as typed NULLs. None: the scan has every column.
    """
    if not files:
        typed = ", ".join(f'CAST(NULL AS {duckdb_type(c.type)}) AS "{c.name}"' for c in schema.columns)
        return f"(SELECT {typed} LIMIT 0)"
    columns = ", ".join(
        f'"{c.name}"' if present is None or c.name in present else f'CAST(NULL AS {duckdb_type(c.type)}) AS "{c.name}"'
        for c in schema.columns
    )
    return f"(SELECT {columns} FROM {_scan(files, schema)})"


def slice_predicate(slice_key: SliceKey) -> str:
    """Renders a slice key as a SQL predicate (valid in DuckDB and DataFusion) with quoted names and literals."""
    if not slice_key:
        raise ValueError("a slice key needs at least one column")
    clauses = []
    for column, value in slice_key.items():
        if not column.replace("_", "").isalnum():
            raise ValueError(f"invalid column name {column!r}")
        values: Sequence[SliceValue] = [value] if isinstance(value, str | date) else value
        if not values:
            raise ValueError(f"slice column {column} has no values")
        if all(isinstance(v, date) for v in values):
            literals = ", ".join(f"DATE '{v.isoformat()}'" for v in values)  # type: ignore[union-attr]
            clauses.append(f'CAST("{column}" AS DATE) IN ({literals})')
        else:
            literals = ", ".join(_quote(str(v)) for v in values)
            clauses.append(f'"{column}" IN ({literals})')
    return " AND ".join(clauses)


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"
