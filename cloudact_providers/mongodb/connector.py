"""MongoDB Atlas invoices, read with the provider's own Admin API client (``client.py``; aiohttp, async).

Source: the organization's invoices (Admin API v2, resource version 2023-01-01, a service account with
the Organization Billing Viewer role):

1. ``list_objects`` pages through ``GET /api/atlas/v2/orgs/{orgId}/invoices`` (``pageNum``,
   ``itemsPerPage``, ``includeCount``) and keeps every invoice whose billing cycle starts in a requested
   month (the UTC month of its ``startDate``): one SourceObject each, its URI the invoice's own URL
   (``https://cloud.mongodb.com/api/atlas/v2/orgs/<orgId>/invoices/<invoiceId>``). When the current
   month is requested and the list holds no invoice for it, the pending invoice
   (``GET .../invoices/pending``, the cycle still accruing) is the month's object.
2. ``download`` reads the invoice (``GET .../invoices/<invoiceId>``) and writes its line items and its
   own record as JSON lines (``formats.invoice_records``).

The line items are the invoice's own ``lineItems[]`` (``InvoiceLineItem``), not the rows of
``GET .../invoices/<invoiceId>/lineItems:search``: those (``PublicApiUsageDetailsLineItem``) carry no
SKU, unit, project name, discount or tags, without which a line cannot be named, priced or attributed
in FOCUS, and that endpoint is a GET with a JSON body. An invoice is one answer, so a download holds
one invoice at a time; the list is read a page at a time. MongoDB's FOCUS report (an asynchronous CSV
per invoice, ``POST .../invoices/<invoiceId>/reports``) is not read.

The runner replaces the (credential, month) slice with what a run returns, so a pending invoice read
daily is replaced whole each time, and by the closed invoice on the first run after the cycle closes.

Errors: the client's (``AtlasError``: HTTP status and Atlas's errorCode; ``AtlasBadAnswer``; aiohttp's)
become CloudactErrors in ``_translate`` only, naming the read, never Atlas's detail text, a token or the
service account's secret.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from cloudact_providers.connector import (
    ResolvedCredential,
    SourceObject,
    TranslatedErrors,
    error_code,
    parse_credential_part,
)
from cloudact_providers.mongodb.client import AtlasAdminClient, AtlasBadAnswer, AtlasError
from cloudact_providers.mongodb.credential import AtlasServiceAccount, AtlasSourceConfig
from cloudact_providers.mongodb.formats import invoice_records
from cloudact_shared.errors import (
    CloudactError,
    FailedPrecondition,
    NotFound,
    PermissionDenied,
    Unauthenticated,
    Unavailable,
)

_INVOICE_ID = re.compile(r"^[0-9a-f]{24}$")
_PENDING = "pending"


class AtlasInvoicesConnector:
    """One SourceObject per invoice of each requested month; each downloads as the invoice's JSON lines."""

    def __init__(self, credential: ResolvedCredential) -> None:
        self._config = parse_credential_part(AtlasSourceConfig, credential.config, "credential.config", "MongoDB Atlas")
        account = parse_credential_part(AtlasServiceAccount, credential.secret, "credential.secret", "MongoDB Atlas")
        self._base = self._config.api_url.rstrip("/")
        self._invoices = f"/api/atlas/v2/orgs/{self._config.org_id}/invoices"
        self._client = AtlasAdminClient(
            self._base, account.client_id, account.client_secret, max_attempts=self._config.max_attempts
        )

    def __repr__(self) -> str:
        return f"AtlasInvoicesConnector(api_url={self._base!r}, org_id={self._config.org_id!r}, secret=***)"

    async def __aenter__(self) -> AtlasInvoicesConnector:
        await self._client.__aenter__()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self._client.__aexit__(*exc_info)

    def uri(self, invoice: str) -> str:
        """The invoice's Admin API URL (``invoice``: its id, or ``pending``)."""
        return f"{self._base}{self._invoices}/{invoice}"

    async def list_objects(self, periods: Sequence[date]) -> list[SourceObject]:
        months = {date(p.year, p.month, 1) for p in periods}
        if not months:
            return []
        found: list[tuple[date, str]] = []
        async with TranslatedErrors(f"{self._base}{self._invoices}", _translate):
            async for page in self._client.pages(self._invoices, self._config.items_per_page):
                for invoice in page:
                    month = _invoice_month(invoice)
                    if month in months:
                        found.append((month, _invoice_id(invoice)))
        today = datetime.now(UTC).date()
        current = date(today.year, today.month, 1)
        if current in months and all(month != current for month, _ in found):
            pending = await self._pending()
            if pending is not None and _invoice_month(pending) == current:
                found.append((current, _PENDING))
        return [
            SourceObject(self.uri(invoice), f"atlas-invoice-{invoice}-{month:%Y%m}.jsonl", 0, month)
            for month, invoice in sorted(found)
        ]

    async def download(self, obj: SourceObject, dest: Path) -> None:
        path = urlsplit(obj.uri).path
        invoice = path.rsplit("/", 1)[-1]
        if path != f"{self._invoices}/{invoice}" or not (invoice == _PENDING or _INVOICE_ID.fullmatch(invoice)):
            raise FailedPrecondition(f"{obj.uri} is not an invoice of organization {self._config.org_id}")
        async with TranslatedErrors(obj.uri, _translate):
            answer = await self._client.get(path)
        if not isinstance(answer, dict) or not isinstance(answer.get("lineItems", []), list):
            raise FailedPrecondition(f"{obj.uri}: the answer is not an Atlas invoice", reason="UNEXPECTED_RESPONSE")
        await asyncio.to_thread(_write_records, dest, answer)

    async def _pending(self) -> dict[str, Any] | None:
        """The invoice of the cycle still accruing, or None when Atlas has none (404)."""
        try:
            async with TranslatedErrors(self.uri(_PENDING), _translate):
                answer = await self._client.get(f"{self._invoices}/{_PENDING}")
        except NotFound:
            return None
        return answer if isinstance(answer, dict) else None


def _invoice_id(invoice: dict[str, Any]) -> str:
    """An invoice's id, checked: it becomes part of the URL the download reads."""
    found = invoice.get("id")
    if not isinstance(found, str) or not _INVOICE_ID.fullmatch(found):
        raise FailedPrecondition(
            "the invoice list holds an invoice whose id is not 24 hexadecimal digits", reason="UNEXPECTED_RESPONSE"
        )
    return found


def _invoice_month(invoice: dict[str, Any]) -> date | None:
    """The UTC month the invoice's billing cycle starts in (``startDate``), or None without one."""
    try:
        start = datetime.fromisoformat(str(invoice.get("startDate")))
    except ValueError:
        return None
    start = start.astimezone(UTC) if start.tzinfo else start
    return date(start.year, start.month, 1)


def _write_records(dest: Path, invoice: dict[str, Any]) -> None:
    with dest.open("w", encoding="utf-8") as out:
        for record in invoice_records(invoice):
            out.write(json.dumps(record, separators=(",", ":")) + "\n")


def _translate(exc: BaseException, location: str) -> CloudactError | None:
    """The one place the Admin API client's errors become CloudactErrors: the read, the HTTP status and
    Atlas's error code, never its detail text or a credential."""
    if isinstance(exc, AtlasError):
        status = " ".join(filter(None, (f"HTTP {exc.status}", error_code(exc.code))))
        if exc.token and exc.status in (400, 401, 403):
            return Unauthenticated(f"Atlas refused the service account's client credentials ({status}) for {location}")
        if exc.status == 401:
            return Unauthenticated(f"Atlas rejected the service account's token reading {location} ({status})")
        if exc.status == 403:
            return PermissionDenied(
                f"the service account may not read {location} ({status}): it needs the Organization Billing "
                "Viewer, Billing Admin or Owner role",
                reason="SOURCE_PERMISSION_DENIED",
            )
        if exc.status == 404:
            return NotFound(f"{location} does not exist or the service account cannot see it ({status})",
                            reason="SOURCE_NOT_FOUND")  # fmt: skip
        if exc.retryable:
            return Unavailable(f"Atlas is throttling or failing on {location} ({status})", reason="SOURCE_UNAVAILABLE")
        return FailedPrecondition(f"Atlas refused a request on {location} ({status})")
    if isinstance(exc, AtlasBadAnswer):
        return FailedPrecondition(
            f"{location}: the answer is not the Atlas Admin API's JSON", reason="UNEXPECTED_RESPONSE"
        )
    if isinstance(exc, aiohttp.ClientError | asyncio.TimeoutError | ConnectionError):
        return Unavailable(f"cannot reach Atlas for {location}: {type(exc).__name__}", reason="SOURCE_UNAVAILABLE")
    return None
