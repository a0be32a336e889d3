"""DataHub custom cost events: the event shape, how one is checked, and the inbox accepted ones land in.

An event is a row of the seed's ``datahub_dci`` table (``FIELDS``: event_id, cloud, billing_account_id,
service_*, sku_*, usage_date_time, project_*, the label records, location, resource ids, pricing_unit,
cost_type, is_marketplace, metrics, source, batch) plus three extensions that make it a cost:
``cost`` and ``currency`` (ISO 4217), which ``datahub_dci`` lacks (it records usage, not what it cost:
an event without an amount cannot be a FOCUS row, whose BilledCost and BillingCurrency are
mandatory), and ``usage_amount``, the quantity ``pricing_unit`` measures (``datahub_dci`` names the
unit but not the amount).

``validate_event`` checks one event with ``CostEvent`` and gives either its normalised record or one
``(field, reason)`` per bad field: ingest_svc's EventsService rejects such an event alone, the others of
the upload land. The normalised record is what the inbox keeps: text trimmed, times in UTC ISO 8601
(a date stays a date: a day's usage), amounts as exact decimal text (at most 12 decimal places, the
FOCUS money scale), the currency upper case, label and metric records as the seed's repeated
``{key, value}`` records.

The inbox of an org (``inbox_dir``) holds one newline-delimited JSON file per upload, named
``<sequence>-<sha256 of its content>.jsonl``: the sequence orders uploads, so the last upload of an
event_id wins (``LATEST_SQL``), and within an upload its last row (``upload_row``). The connector
lists it; ingest_svc writes it. The org's events are loaded under one credential id, derived from the
org (``credential_id_for``): no secret exists to store for them, and a derived id keeps every upload
of the org in the same raw slice.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_EVEN, Context, Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated, Any, Final

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, ValidationError

PROVIDER: Final = "datahub"

TEXT_FIELDS: Final = (
    "event_id",
    "cloud",
    "billing_account_id",
    "service_description",
    "service_id",
    "sku_description",
    "sku_id",
    "operation",
    "usage_date_time",
    "export_time",
    "project_id",
    "project_name",
    "project_number",
    "country",
    "region",
    "zone",
    "resource_id",
    "resource_global_id",
    "pricing_unit",
    "cost_type",
    "source",
    "batch",
    "cost",
    "currency",
    "usage_amount",
)
"""The scalar text fields of an event (amounts and times are sent as text, parsed here)."""
LABEL_FIELDS: Final = ("project_labels", "labels", "system_labels")
FIELDS: Final = (
    *TEXT_FIELDS[:13],
    *LABEL_FIELDS,
    *TEXT_FIELDS[13:20],
    "is_marketplace",
    "metrics",
    *TEXT_FIELDS[20:],
)
"""Every field of an event, in the order of ``datahub_dci`` (the three extensions last)."""
INBOX_COLUMNS: Final = (*FIELDS, "upload_row")
"""The fields of an inbox record: the event's, then its row in its upload."""

COST_TYPES: Final = {
    "usage": "Usage",
    "regular": "Usage",
    "purchase": "Purchase",
    "tax": "Tax",
    "credit": "Credit",
    "adjustment": "Adjustment",
    "rounding_error": "Adjustment",
}
"""cost_type (any case) -> FOCUS ChargeCategory: the FOCUS categories, and GCP's cost_type spellings."""

MAX_LIST_ENTRIES: Final = 200
MONEY_PLACES: Final = 12
"""FOCUS money, price and quantity columns are DECIMAL(38, 12)."""
_MONEY_QUANTUM: Final = Decimal(1).scaleb(-MONEY_PLACES)
_MAX_INTEGER_DIGITS: Final = 38 - MONEY_PLACES
# Wide enough for any DECIMAL(38, 12) value (the default context keeps 28 digits).
_WIDE: Final = Context(prec=60)
_UPLOAD_NAME: Final = re.compile(r"^(\d{20})-([0-9a-f]{64})\.jsonl$")
# A namespace of our own: the DataHub credential id of an org is uuid5(it, org).
_CREDENTIALS: Final = uuid.UUID("5d1f6c0e-3c35-4a53-9f0b-2f1e0c3a7d11")
# Control characters (tab aside) make ids and names unprintable in messages and files.
_PRINTABLE: Final = r"^[^\x00-\x08\x0a-\x1f\x7f]*$"
_DATE: Final = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_BIGQUERY_UTC: Final = re.compile(r"\s+UTC$")


Id = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=512, pattern=_PRINTABLE)]
OptionalId = Annotated[str, StringConstraints(strip_whitespace=True, max_length=512, pattern=_PRINTABLE)]
OptionalName = Annotated[str, StringConstraints(strip_whitespace=True, max_length=2048, pattern=_PRINTABLE)]


def _point_in_time(text: str) -> str:
    """A date (``2025-12-01``, a day) or a date and time (``2025-12-01 10:00:00``, ``...T10:00:00Z``,
    ``+02:00``, BigQuery's ``... UTC``; zone-less is UTC) -> the date, or the UTC time as ISO 8601 ``Z``."""
    if _DATE.match(text):
        try:
            day = date.fromisoformat(text)
        except ValueError:
            raise ValueError(f"{text!r} is not a calendar date") from None
        _in_range(day.year)
        return day.isoformat()
    spelled = _BIGQUERY_UTC.sub("+00:00", text).replace("Z", "+00:00").replace("z", "+00:00")
    try:
        moment = datetime.fromisoformat(spelled)
    except ValueError:
        raise ValueError(
            "not an ISO 8601 date or date-time (2025-12-01, 2025-12-01 10:00:00, 2025-12-01T10:00:00Z)"
        ) from None
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    _in_range(moment.year)
    return moment.isoformat(timespec="microseconds" if moment.microsecond else "seconds").replace("+00:00", "Z")


def _in_range(year: int) -> None:
    if not 2000 <= year <= 2100:
        raise ValueError(f"year {year} is outside 2000-2100")


def _amount(text: str) -> str:
    """Decimal text (``12.45``, ``-3``, ``1e-3``) -> exact decimal text of at most 12 decimal places
    (rounded half to even, as DuckDB casts to DECIMAL(38, 12))."""
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise ValueError("not a decimal number") from None
    if not value.is_finite():
        raise ValueError("not a finite number")
    if value and value.adjusted() >= _MAX_INTEGER_DIGITS:
        raise ValueError(f"too large: at most {_MAX_INTEGER_DIGITS} digits before the decimal point")
    rounded = value.quantize(_MONEY_QUANTUM, rounding=ROUND_HALF_EVEN, context=_WIDE)
    shown = format(rounded.normalize(context=_WIDE), "f")
    return "0" if shown == "-0" else shown


def _currency(text: str) -> str:
    # Imported here: the raw-SELECT builder's modules (DuckDB, sqlglot) are not the CLI's to load at start.
    from cloudact_providers.rawselect.currency import iso_codes

    code = text.upper()
    if code not in iso_codes():
        raise ValueError("not an ISO 4217 currency code (USD, EUR, ...)")
    return code


def _cost_type(text: str) -> str:
    if text.lower() not in COST_TYPES:
        raise ValueError(f"not a cost type: one of {', '.join(sorted({*COST_TYPES.values()}))} (any case)")
    return text


PointInTime = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1), AfterValidator(_point_in_time)]
Amount = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1), AfterValidator(_amount)]


class Label(BaseModel):
    """One key/value entry of a label record."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    key: Annotated[str, StringConstraints(min_length=1, max_length=512, pattern=_PRINTABLE)]
    value: Annotated[str, StringConstraints(max_length=2048)] = ""


class Metric(BaseModel):
    """One numeric measurement of an event."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    key: Annotated[str, StringConstraints(min_length=1, max_length=512, pattern=_PRINTABLE)]
    value: Annotated[float, Field(allow_inf_nan=False)]


def _unique_keys(entries: list[Any]) -> list[Any]:
    seen: set[str] = set()
    for entry in entries:
        if entry.key in seen:
            raise ValueError(f"key {entry.key!r} appears more than once")
        seen.add(entry.key)
    return entries


Labels = Annotated[list[Label], Field(max_length=MAX_LIST_ENTRIES), AfterValidator(_unique_keys)]
Metrics = Annotated[list[Metric], Field(max_length=MAX_LIST_ENTRIES), AfterValidator(_unique_keys)]


class CostEvent(BaseModel):
    """One custom cost event (``datahub_dci`` plus cost, currency and usage_amount), normalised."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    event_id: Id
    cloud: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=256, pattern=_PRINTABLE)]
    billing_account_id: Id
    service_description: OptionalName | None = None
    service_id: OptionalId | None = None
    sku_description: OptionalName | None = None
    sku_id: OptionalId | None = None
    operation: OptionalName | None = None
    usage_date_time: PointInTime
    export_time: PointInTime | None = None
    project_id: OptionalId | None = None
    project_name: OptionalName | None = None
    project_number: OptionalId | None = None
    project_labels: Labels = []
    labels: Labels = []
    system_labels: Labels = []
    country: OptionalId | None = None
    region: OptionalId | None = None
    zone: OptionalId | None = None
    resource_id: OptionalName | None = None
    resource_global_id: OptionalName | None = None
    pricing_unit: OptionalId | None = None
    cost_type: Annotated[str, StringConstraints(strip_whitespace=True), AfterValidator(_cost_type)] | None = None
    is_marketplace: bool = False
    metrics: Metrics = []
    source: OptionalName | None = None
    batch: OptionalName | None = None
    cost: Amount
    currency: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1), AfterValidator(_currency)]
    usage_amount: Amount | None = None

    @property
    def billing_month(self) -> date:
        """The UTC month of the usage: the billing period (the raw table's slice) it lands in."""
        return date(int(self.usage_date_time[:4]), int(self.usage_date_time[5:7]), 1)

    def inbox_record(self, upload_row: int) -> dict[str, object]:
        """The event as the inbox keeps it (fields not given left out), with its row in its upload."""
        record: dict[str, object] = {}
        for name in FIELDS:
            value = getattr(self, name)
            if name in (*LABEL_FIELDS, "metrics"):
                if value:
                    record[name] = [entry.model_dump() for entry in value]
            elif name == "is_marketplace" or value not in (None, ""):
                record[name] = value
        record["upload_row"] = upload_row
        return record


Problem = tuple[str, str]
"""A bad field of an event and what is wrong with it (``labels[2].key``, ``Field required``)."""


def validate_event(data: Mapping[str, object]) -> tuple[CostEvent | None, list[Problem]]:
    """Checks one event: its normalised form, or every problem found (never both).

    ``data`` holds the event's fields; a text field that is ``""`` or None counts as not given.
    """
    given = {k: v for k, v in data.items() if v is not None and v != ""}
    problems: list[Problem] = []
    event: CostEvent | None = None
    try:
        event = CostEvent.model_validate(given)
    except ValidationError as error:
        problems = [(_field(e["loc"]), _reason(e["msg"], e["type"])) for e in error.errors(include_url=False)]
    if not (given.get("service_description") or given.get("service_id")):
        problems.append(("service_description", "service_description or service_id is required"))
        event = None
    return (None, problems) if problems else (event, [])


def _field(location: Sequence[int | str]) -> str:
    """``("labels", 2, "key")`` -> ``labels[2].key``."""
    text = ""
    for part in location:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "event"


def _reason(message: str, kind: str) -> str:
    if kind == "string_pattern_mismatch":
        return "holds a control character"
    if kind == "extra_forbidden":
        return "not a field of a cost event"
    return message.removeprefix("Value error, ")


def inbox_dir(data_dir: Path, org_slug: str) -> Path:
    """Where the accepted events of ``org_slug`` are kept (a validated org slug: no path tricks)."""
    return data_dir / "inbox" / PROVIDER / org_slug


def credential_id_for(org_slug: str) -> str:
    """The DataHub credential id of ``org_slug``: the same for every upload, so they share one slice."""
    return str(uuid.uuid5(_CREDENTIALS, org_slug))


def upload_name(sequence: int, sha256: str) -> str:
    """The inbox file name of an upload: its sequence (orders uploads), then its content hash."""
    return f"{sequence:020d}-{sha256}.jsonl"


def upload_files(inbox: Path) -> list[Path]:
    """The upload files of an inbox, oldest first (a file being written is not one yet)."""
    if not inbox.is_dir():
        return []
    return sorted(p for p in inbox.iterdir() if _UPLOAD_NAME.match(p.name) and p.is_file())


def upload_sequence(path: Path) -> int:
    """The sequence number in an upload file's name."""
    match = _UPLOAD_NAME.match(path.name)
    if match is None:
        raise ValueError(f"{path.name} is not an upload file")
    return int(match[1])


def upload_hash(path: Path) -> str:
    """The content hash in an upload file's name."""
    match = _UPLOAD_NAME.match(path.name)
    if match is None:
        raise ValueError(f"{path.name} is not an upload file")
    return match[2]


def read_json_sql(files: str, columns: Sequence[str]) -> str:
    """A DuckDB table function over the inbox files ``files`` (a SQL list or literal) reading only
    ``columns``, by name: no type is guessed from the data (labels and metrics as JSON text, every
    other field as text), and a field absent from a record is NULL."""
    kinds = {name: "JSON" if name in (*LABEL_FIELDS, "metrics") else "VARCHAR" for name in INBOX_COLUMNS}
    kinds["upload_row"] = "BIGINT"
    wanted = ", ".join(f"'{name}': '{kinds[name]}'" for name in columns)
    return f"read_json({files}, format = 'newline_delimited', columns = {{{wanted}}}, filename = true)"


LATEST_SQL: Final = (
    "SELECT filename, upload_row, event_id, left(usage_date_time, 7) AS month FROM ("
    "SELECT *, row_number() OVER (PARTITION BY event_id ORDER BY filename DESC, upload_row DESC) AS newest "
    "FROM {source}) WHERE newest = 1"
)
"""Each event_id's latest record (the last upload, its last row) and its month ``YYYY-MM``, over
``{source}`` (``read_json_sql`` of the inbox files with event_id, usage_date_time, upload_row)."""
