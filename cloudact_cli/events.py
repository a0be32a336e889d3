"""``cloudact events upload``: a file of custom cost events (DataHub) streamed to ingest_svc's EventsService.

The file is CSV (a header row of event field names; label and metric records as JSON in their cell,
an array of ``{"key", "value"}`` or an object) or JSON lines (one event object per line), told apart
by the extension (``.csv``; ``.jsonl``, ``.ndjson``, ``.json``), else by the first character of the
content. Rows are read lazily and sent in batches (500 events, or 512 KiB, whichever comes first),
so a file of any size streams in bounded memory.

The server checks every event (``UploadEventsResponse.errors``). What cannot even be put in an event
message (a label cell that is not JSON, an is_marketplace that is not a boolean, a line that is not a
JSON object, a field no event has) is rejected here, the same way: its row, field and reason. Rows are
numbered as a person reads the file: CSV data rows from 1 (the header is not a row), JSON lines by
line number. Exit code 1 when any row was rejected (the accepted ones still landed), 0 otherwise.
"""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Literal, TextIO

import typer

from cloudact_cli.rpc import call, caller_channel
from cloudact_providers.datahub.events import FIELDS, LABEL_FIELDS, TEXT_FIELDS
from cloudact_shared.gen.cloudact.events.v1 import events_service_pb2 as pb
from cloudact_shared.gen.cloudact.events.v1.events_service_pb2_grpc import EventsServiceStub
from cloudact_shared.settings import CloudactSettings

events_app = typer.Typer(help="Upload custom cost events (DataHub) to ingest_svc.", no_args_is_help=True)

BATCH_EVENTS = 500
BATCH_BYTES = 512 * 1024
"""A request message stays well under the servers' 1 MiB limit."""
_TRUE = {"true", "1", "yes", "y", "t"}
_FALSE = {"false", "0", "no", "n", "f", ""}
Format = Literal["csv", "jsonl"]


@dataclass(frozen=True)
class RowError:
    """Why one row of the file was rejected (here or by the server)."""

    row: int
    event_id: str
    field: str
    reason: str


@dataclass
class UploadSummary:
    """What an upload of a file did."""

    rows: int = 0
    accepted: int = 0
    rejected: int = 0
    errors: list[RowError] = field(default_factory=list)
    errors_truncated: bool = False
    credential_id: str = ""
    run: pb.UploadEventsResponse | None = None
    """The server's answer (its run and upload id), when anything was sent."""


@dataclass(frozen=True)
class _Read:
    """One row of the file: its event, or why it cannot be one."""

    row: int
    event: pb.CostEvent | None
    event_id: str
    problems: list[tuple[str, str]]


def _settings() -> CloudactSettings:
    return CloudactSettings()


def file_format(path: Path) -> Format:
    """CSV or JSON lines, by extension, else by the first non-blank character (``{``: JSON lines)."""
    name = path.name.lower()
    if name.endswith(".csv"):
        return "csv"
    if name.endswith((".jsonl", ".ndjson", ".json")):
        return "jsonl"
    with path.open("r", encoding="utf-8-sig", errors="replace") as handle:
        head = handle.read(4096).lstrip()
    return "jsonl" if head.startswith("{") else "csv"


def read_rows(path: Path) -> Iterator[_Read]:
    """The rows of an events file, each as an event message or the problems that keep it from being one.

    The file is opened (and a CSV header checked) now, its rows read as the iterator is.

    Raises:
        typer.BadParameter: a CSV file without a header row, or whose header names a column no event has.
    """
    if file_format(path) == "jsonl":
        return _jsonl_rows(path.open("r", encoding="utf-8-sig"))
    handle = path.open("r", encoding="utf-8-sig", newline="")
    reader = csv.DictReader(handle)
    header = [name.strip() for name in reader.fieldnames or []]
    unknown = [name for name in header if name not in FIELDS]
    if not header or unknown:
        handle.close()
        what = "has no header row" if not header else f"column(s) {', '.join(unknown)} are not event fields"
        raise typer.BadParameter(f"{path}: {what}; the fields are {', '.join(FIELDS)}", param_hint="FILE")
    reader.fieldnames = header
    return _csv_rows(handle, reader, len(header))


def _csv_rows(handle: TextIO, reader: csv.DictReader[str], width: int) -> Iterator[_Read]:
    with handle:
        for number, row in enumerate(reader, start=1):
            longer = row.pop(None, None)  # type: ignore[call-overload,unused-ignore]  # surplus fields' key
            shorter = any(value is None for value in row.values())  # DictReader pads a short row with None
            read = _event(number, {k: v for k, v in row.items() if v not in (None, "")}, cells_are_text=True)
            if longer or shorter:
                more = "more" if longer else "fewer"
                read.problems.insert(0, ("", f"the row has {more} fields than the header's {width}"))
            yield read if not read.problems else _Read(number, None, read.event_id, read.problems)


def _jsonl_rows(handle: TextIO) -> Iterator[_Read]:
    with handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                values = json.loads(line, parse_float=Decimal)
            except json.JSONDecodeError as exc:
                yield _Read(number, None, "", [("", f"not JSON: {exc.msg} at column {exc.colno}")])
                continue
            if not isinstance(values, dict):
                yield _Read(number, None, "", [("", "not a JSON object")])
                continue
            yield _event(number, values, cells_are_text=False)


def _event(row: int, values: dict[str, object], *, cells_are_text: bool) -> _Read:
    """The event message of one row's values, or the problems that keep it from being one."""
    event = pb.CostEvent()
    problems: list[tuple[str, str]] = []
    event_id = values.get("event_id")
    shown = str(event_id) if isinstance(event_id, (str, int, Decimal)) and not isinstance(event_id, bool) else ""
    for name, value in values.items():
        if value is None:
            continue
        if name in TEXT_FIELDS:
            if isinstance(value, (dict, list, bool)):
                problems.append((name, "must be text or a number, not a JSON object, array or boolean"))
            else:
                setattr(event, name, str(value))
        elif name in (*LABEL_FIELDS, "metrics"):
            entries, problem = _records(value, numeric=name == "metrics", from_text=cells_are_text)
            if problem:
                problems.append((name, problem))
            elif name == "metrics":
                event.metrics.extend(pb.Metric(key=k, value=float(v)) for k, v in entries)
            else:
                getattr(event, name).extend(pb.Label(key=k, value=str(v)) for k, v in entries)
        elif name == "is_marketplace":
            flag = _flag(value)
            if flag is None:
                problems.append((name, "not a boolean (true or false)"))
            else:
                event.is_marketplace = flag
        else:
            problems.append((name, "not a field of a cost event"))
    return _Read(row, None if problems else event, shown, problems)


def _records(value: object, *, numeric: bool, from_text: bool) -> tuple[list[tuple[str, str | float]], str]:
    """Key/value records (an array of {key, value}, or an object) -> (key, value) pairs, or a problem."""
    what = "an array of {key, value} records or an object"
    if from_text or isinstance(value, str):
        try:
            value = json.loads(str(value), parse_float=Decimal)
        except ValueError:
            return [], f"not JSON: expected {what}"
    if isinstance(value, dict):
        given = [(str(k), v) for k, v in value.items()]
    elif isinstance(value, list) and all(isinstance(e, dict) and "key" in e for e in value):
        given = [(str(e["key"]), e.get("value", "")) for e in value]
    else:
        return [], f"expected {what}"
    pairs: list[tuple[str, str | float]] = []
    for key, item in given:
        if numeric:
            if isinstance(item, bool) or not isinstance(item, (int, float, Decimal)):
                return [], f"the value of {key!r} is not a number"
            pairs.append((key, float(item)))
        elif isinstance(item, (dict, list)):
            return [], f"the value of {key!r} is not text"
        elif isinstance(item, bool):
            pairs.append((key, "true" if item else "false"))
        else:
            pairs.append((key, "" if item is None else str(item)))
    return pairs, ""


def _flag(value: object) -> bool | None:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    return True if text in _TRUE else False if text in _FALSE else None


async def upload_file(
    settings: CloudactSettings, org: str, path: Path, *, batch_events: int = BATCH_EVENTS, timeout: float = 1800.0
) -> UploadSummary:
    """Streams the events of ``path`` to EventsService.UploadEvents; returns what happened to each row.

    Rows rejected here are not sent; the server's errors are mapped back to the file's rows.
    """
    summary = UploadSummary()
    sent_rows: list[int] = []
    rows = read_rows(path)

    async def requests() -> AsyncIterator[pb.UploadEventsRequest]:
        batch: list[pb.CostEvent] = []
        size = 0
        for read in rows:
            summary.rows += 1
            if read.event is None:
                summary.rejected += 1
                summary.errors.extend(RowError(read.row, read.event_id, f, r) for f, r in read.problems)
                continue
            sent_rows.append(read.row)
            batch.append(read.event)
            size += read.event.ByteSize()
            if len(batch) >= batch_events or size >= BATCH_BYTES:
                yield pb.UploadEventsRequest(org_slug=org, events=batch)
                batch, size = [], 0
        if batch or not sent_rows:
            # An upload with nothing valid still gets the server's answer (its counts), in one message.
            yield pb.UploadEventsRequest(org_slug=org, events=batch)

    async with caller_channel(settings, settings.ingest_address) as channel:
        stub = EventsServiceStub(channel)
        response: pb.UploadEventsResponse = await call(lambda: stub.UploadEvents(requests(), timeout=timeout))
    summary.accepted = int(response.accepted)
    summary.rejected += int(response.rejected)
    summary.errors.extend(RowError(sent_rows[e.row], e.event_id, e.field, e.reason) for e in response.errors)
    summary.errors.sort(key=lambda e: e.row)
    summary.errors_truncated = response.errors_truncated
    summary.credential_id = response.credential_id
    summary.run = response
    return summary


def print_summary(summary: UploadSummary, path: Path, out: TextIO | None = None) -> None:
    """Prints the counts, every rejected row's errors and the run, one line each."""
    stream = out or sys.stdout
    print(f"{path}: {summary.rows} events read, {summary.accepted} accepted, {summary.rejected} rejected", file=stream)
    for error in summary.errors:
        event = f" (event_id {error.event_id})" if error.event_id else ""
        print(f"  row {error.row}{event}: {error.field or 'row'}: {error.reason}", file=stream)
    if summary.errors_truncated:
        print("  ... more rejected events than the server lists (1,000): fix these and upload again", file=stream)
    if summary.run is not None and summary.run.HasField("run"):
        run = summary.run.run
        print(
            f"run {run.lineage.run_id} (datahub/cost/billing, credential {summary.credential_id}): "
            f"{', '.join(run.billing_periods)}: {run.raw_rows_written} raw rows, {run.focus_rows_written} FOCUS rows",
            file=stream,
        )


@events_app.command("upload")
def events_upload(
    file: Annotated[Path, typer.Argument(help="Events file: .csv or .jsonl (else told by its content).")],
    org: Annotated[str, typer.Option("--org", help="Organisation slug, e.g. acme.")],
    batch_size: Annotated[int, typer.Option(help="Events per message (at most 512 KiB each).", min=1)] = BATCH_EVENTS,
    timeout: Annotated[float, typer.Option(help="Deadline in seconds, the load included.")] = 1800.0,
) -> None:
    """Uploads custom cost events (DataHub); prints accepted / rejected counts and each rejected row's errors.

    Events are replaced by event_id: uploading a file again changes nothing, an event sent again with
    other values replaces the old one. Exits 1 when any row was rejected (the others still landed).
    """
    import asyncio

    if not file.is_file():
        raise typer.BadParameter(f"{file} is not a file", param_hint="FILE")
    summary = asyncio.run(upload_file(_settings(), org, file, batch_events=batch_size, timeout=timeout))
    print_summary(summary, file)
    raise typer.Exit(1 if summary.rejected else 0)
