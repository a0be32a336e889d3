"""Reading the run log for callers: one run, or an org's runs newest first in pages. No gRPC here."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from cloudact_shared.errors import FieldViolation, InvalidArgument, NotFound
from cloudact_shared.naming import canonical_credential_id, echo, validate_org_slug
from cloudact_shared.paging import PageTokens
from cloudact_shared.paging import page_size as page_size_of
from ingest_svc.adapters.runs import RunLog, RunPosition
from ingest_svc.model import RunRecord

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 200
# Unsigned: the listing is always filtered by the caller's own org, so an edited token can only move
# within the runs the caller may list anyway.
_TOKENS = PageTokens("ListRuns", ["org_slug", "credential_id"])


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
        limit = page_size_of(page_size, default=DEFAULT_PAGE_SIZE, maximum=MAX_PAGE_SIZE)
        query = [org_slug, credential]
        after = _position(_TOKENS.read(page_token, query)) if page_token else None
        found = await self._runs.list_org(org_slug, credential_id=credential or None, limit=limit + 1, after=after)
        page = tuple(found[:limit])
        next_token = ""
        if len(found) > limit:
            last = page[-1]
            position = {"started_at": last.started_at.isoformat(timespec="microseconds"), "run_id": last.run_id}
            next_token = _TOKENS.issue(query, position)
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


def _position(after: dict[str, str]) -> RunPosition:
    try:
        started_at = datetime.fromisoformat(after["started_at"])
        if started_at.tzinfo is None:
            raise _TOKENS.invalid()
        return RunPosition(started_at, str(uuid.UUID(after["run_id"])))
    except (KeyError, ValueError):
        raise _TOKENS.invalid() from None
