"""The Lineage value object: created once per run by the pipeline side, carried in protobuf."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime

from google.protobuf.timestamp_pb2 import Timestamp

from cloudact_shared.errors import FieldViolation, InvalidArgument
from cloudact_shared.gen.cloudact.lineage.v1 import lineage_pb2
from cloudact_shared.naming import canonical_credential_id, echo

LINEAGE_COLUMNS = ("x_pipeline_id", "x_credential_id", "x_run_id", "x_ingested_at", "x_pipeline_run_date")


@dataclass(frozen=True)
class Lineage:
    """Who produced a row: the five values that land on every raw and FOCUS row as ``x_*``."""

    pipeline_id: str
    credential_id: str
    run_id: str
    ingested_at: datetime
    pipeline_run_date: date

    @classmethod
    def new_run(cls, pipeline_id: str, credential_id: str, *, now: datetime | None = None) -> Lineage:
        """Starts a new run's lineage (fresh run id, ingested now)."""
        started = (now or datetime.now(UTC)).astimezone(UTC)
        return cls(pipeline_id, credential_id, str(uuid.uuid4()), started, started.date())

    def to_proto(self) -> lineage_pb2.Lineage:
        ts = Timestamp()
        ts.FromDatetime(self.ingested_at)
        return lineage_pb2.Lineage(
            pipeline_id=self.pipeline_id,
            credential_id=self.credential_id,
            run_id=self.run_id,
            ingested_at=ts,
            pipeline_run_date=self.pipeline_run_date.isoformat(),
        )

    @classmethod
    def from_proto(cls, message: lineage_pb2.Lineage) -> Lineage:
        """Reads a Lineage message, rejecting one with a missing field or a non-canonical credential id.

        Raises:
            InvalidArgument: a field is missing, ``pipeline_run_date`` is not a date, or
                ``credential_id`` is not the canonical spelling of a UUID (another spelling would
                open a second slice of the same credential).
        """
        missing = [
            name
            for name in ("pipeline_id", "credential_id", "run_id", "pipeline_run_date")
            if not getattr(message, name)
        ]
        if not message.HasField("ingested_at"):
            missing.append("ingested_at")
        if missing:
            raise InvalidArgument(
                "lineage is incomplete: " + ", ".join(missing),
                reason="INCOMPLETE_LINEAGE",
                violations=[FieldViolation(f"lineage.{m}", "required") for m in missing],
            )
        _require_canonical(message.credential_id)
        try:
            run_date = date.fromisoformat(message.pipeline_run_date)
        except ValueError as exc:
            raise InvalidArgument(
                f"lineage.pipeline_run_date {message.pipeline_run_date!r} is not YYYY-MM-DD",
                violations=[FieldViolation("lineage.pipeline_run_date", "must be YYYY-MM-DD")],
            ) from exc
        return cls(
            message.pipeline_id,
            message.credential_id,
            message.run_id,
            message.ingested_at.ToDatetime(tzinfo=UTC),
            run_date,
        )

    def as_columns(self) -> dict[str, object]:
        """The ``x_*`` column values, keyed by column name."""
        return {
            "x_pipeline_id": self.pipeline_id,
            "x_credential_id": self.credential_id,
            "x_run_id": self.run_id,
            "x_ingested_at": self.ingested_at,
            "x_pipeline_run_date": self.pipeline_run_date,
        }


def _require_canonical(credential_id: str) -> None:
    field = "lineage.credential_id"
    if canonical_credential_id(credential_id, field) != credential_id:
        raise InvalidArgument(
            f"{field} {echo(credential_id)} is not in canonical form (lower-case, hyphenated UUID)",
            reason="NON_CANONICAL_CREDENTIAL_ID",
            violations=[FieldViolation(field, "must be a lower-case, hyphenated UUID")],
        )
