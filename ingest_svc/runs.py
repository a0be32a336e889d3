"""Reading the run log for callers: one run, or an org's runs newest first in pages. No gRPC here."""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from dataclasses import dataclass
from datetime import datetime

from cloudact_shared.errors import FieldViolation, InvalidArgument, NotFound
from cloudact_shared.naming import canonical_credential_id, echo, validate_org_slug
from ingest_svc.adapters.runs import RunLog, RunPosition
from ingest_svc.model import RunRecord

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 200
_PAGE_TOKEN_FORMAT = 1
_MAX_PAGE_TOKEN_CHARS = 512


@dataclass(frozen=True)
class RunPage:
    """One page of runs, newest first, and the token of the next page ("" on the last one)."""

    runs: tuple[RunRecord, ...]
    next_page_token: str


class RunHistory:
    """GetRun and ListRuns over the run log; a run is only ever visible in its own org."""

    def __init__(self, runs: RunLog) -> None:
        self._runs = runs

    async def get(self, org_slug: str, run_id: str) -> RunRecord:
        """The run ``run_id`` of ``org_slug``.

        Raises:
            InvalidArgument: a malformed org slug or run id.
            NotFound: no such run in this org (whether or not another org has one).
        """
        validate_org_slug(org_slug)
        canonical = _run_id(run_id)
        record = await self._runs.get(org_slug, canonical)
        if record is None:
            raise NotFound(f"organisation {org_slug!r} has no run {canonical}", reason="RUN_NOT_FOUND")
        return record

    async def list(
        self, org_slug: str, *, credential_id: str = "", page_size: int = 0, page_token: str = ""
    ) -> RunPage:
        """A page of the org's runs, newest first (start time, then run id), optionally of one credential.

        Raises:
            InvalidArgument: a malformed org slug or credential id, a negative page size, or a page
                token that is not the next_page_token of the same query.
        """
        validate_org_slug(org_slug)
        credential = canonical_credential_id(credential_id) if credential_id else ""
        limit = _page_size(page_size)
        after = _read_token(page_token, org_slug, credential) if page_token else None
        found = await self._runs.list_org(org_slug, credential_id=credential or None, limit=limit + 1, after=after)
        page = tuple(found[:limit])
        next_token = ""
        if len(found) > limit:
            last = page[-1]
            next_token = _token(org_slug, credential, RunPosition(last.started_at, last.run_id))
        return RunPage(page, next_token)


def _run_id(run_id: str) -> str:
    try:
        return str(uuid.UUID(run_id))
    except ValueError:
        raise InvalidArgument(
            f"run_id {echo(run_id)} is not a run id (a UUID)",
            reason="INVALID_RUN_ID",
            violations=[FieldViolation("run_id", "must be a UUID")],
        ) from None


def _page_size(page_size: int) -> int:
    if page_size < 0:
        raise InvalidArgument(
            f"page_size {page_size} is negative",
            violations=[FieldViolation("page_size", f"must be 0 (default {DEFAULT_PAGE_SIZE}) or more")],
        )
    return min(page_size or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)


# A token names where the previous page stopped, and the query it belongs to. It needs no MAC: the
# listing is always filtered by the caller's own org, so an edited token can only move within the
# runs the caller may list anyway.


def _token(org_slug: str, credential_id: str, after: RunPosition) -> str:
    payload = {
        "v": _PAGE_TOKEN_FORMAT,
        "org": org_slug,
        "credential": credential_id,
        "started_at": after.started_at.isoformat(timespec="microseconds"),
        "run_id": after.run_id,
    }
    data = json.dumps(payload, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _read_token(token: str, org_slug: str, credential_id: str) -> RunPosition:
    if len(token) > _MAX_PAGE_TOKEN_CHARS:
        raise _bad_token()
    try:
        document = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        if (document["v"], document["org"], document["credential"]) != (_PAGE_TOKEN_FORMAT, org_slug, credential_id):
            raise _bad_token()
        started_at = datetime.fromisoformat(document["started_at"])
        if started_at.tzinfo is None:
            raise _bad_token()
        return RunPosition(started_at, str(uuid.UUID(document["run_id"])))
    except (binascii.Error, ValueError, TypeError, KeyError, AttributeError):
        raise _bad_token() from None


def _bad_token() -> InvalidArgument:
    description = "must be the next_page_token of a previous call with the same org_slug and credential_id"
    return InvalidArgument(
        f"page_token {description}", reason="INVALID_PAGE_TOKEN", violations=[FieldViolation("page_token", description)]
    )
