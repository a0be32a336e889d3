"""The MongoDB Atlas Admin API's billing endpoints on loopback, holding generated invoices: for the tests
and ``make demo``.

Answers as Atlas documents them (Admin API v2):

- ``POST /api/oauth/token``: HTTP Basic ``client_id:client_secret`` and ``grant_type=client_credentials``
  give ``{"access_token", "expires_in", "token_type": "Bearer"}``; refused credentials get 401
  ``{"error": "invalid_client", ...}`` (OAuth's error body);
- every other call needs ``Authorization: Bearer <token>`` (401 otherwise) and the versioned media type
  ``Accept: application/vnd.atlas.2023-01-01+json`` (406 otherwise);
- ``GET /api/atlas/v2/orgs/{orgId}/invoices``: ``pageNum`` (from 1), ``itemsPerPage`` (1..500, default
  100), ``includeCount``; ``{"links": [self, next?, previous?], "results": [...], "totalCount"}``, newest
  first, each invoice without its line items;
- ``GET .../invoices/{invoiceId}`` and ``GET .../invoices/pending``: the invoice with its ``lineItems``;
- errors as ``{"detail", "error": <status>, "errorCode", "parameters": [], "reason"}``.

``expire_tokens`` revokes every token issued, as an early expiry would.
"""

from __future__ import annotations

import base64
import re
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from http import HTTPStatus
from pathlib import Path
from typing import Any

from werkzeug.wrappers import Request, Response

from cloudact_providers.connector import DemoAccount
from cloudact_providers.loopback import LoopbackApi, json_response, serving
from cloudact_providers.mongodb.client import API_VERSION, TOKEN_PATH
from cloudact_providers.mongodb.synthetic import ORG_ID, invoice, metadata

_DEMO_ACCOUNT = {
    "client_id": "mdb_sa_id_65f0c1d2e3a4b5c6d7e8f901",
    "client_secret": "mdb_sa_sk_demo0loopback0only0000000000",
}
"""The demo credential's service account: it opens the loopback server only."""
# Error codes in Atlas's style (upper snake case identifiers). Which code Atlas sends for each case is not
# in the sources this server follows; the connector relies on the status only and repeats the code.
_ERROR_CODES = {
    400: "INVALID_PARAMETER",
    401: "NOT_AUTHORIZED",
    403: "USER_CANNOT_ACCESS_ORGANIZATION",
    404: "RESOURCE_NOT_FOUND",
    406: "INVALID_VERSION_DATE",
    429: "RATE_LIMITED",
    500: "UNEXPECTED_ERROR",
    503: "SERVICE_UNAVAILABLE",
}


def _error_body(status: int, message: str) -> dict[str, Any]:
    try:
        reason = HTTPStatus(status).phrase
    except ValueError:
        reason = "Error"
    code = _ERROR_CODES.get(status, reason.upper().replace(" ", "_"))
    return {"detail": message, "error": status, "errorCode": code, "parameters": [], "reason": reason}


class AtlasBillingApi:
    """The billing endpoints of one Atlas organization, serving the invoices it holds."""

    def __init__(
        self, org_id: str, client_id: str, client_secret: str, *, token_seconds: int = 3600, lists_pending: bool = True
    ) -> None:
        """``lists_pending``: the invoice list includes the pending invoice (False: only ``.../pending`` has it)."""
        self.org_id = org_id
        self._lists_pending = lists_pending
        self._basic = "Basic " + base64.b64encode(f"{client_id}:{client_secret}".encode()).decode()
        self._token_seconds = token_seconds
        self._tokens: set[str] = set()
        self._invoices: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()
        self.tokens_issued = 0
        self.api = LoopbackApi("mongodb", self._authorized, _error_body)
        self.api.route("POST", re.escape(TOKEN_PATH))(self._token)
        invoices = r"/api/atlas/v2/orgs/(?P<org>[^/]+)/invoices"
        self.api.route("GET", invoices)(self._list)
        self.api.route("GET", rf"{invoices}/pending")(self._pending)
        self.api.route("GET", rf"{invoices}/(?P<invoice>[^/]+)")(self._invoice)

    def hold(self, *invoices: dict[str, Any]) -> None:
        """Serves ``invoices`` (in the Admin API's shape, line items included); one with the id of a held
        invoice replaces it."""
        with self._lock:
            for one in invoices:
                self._invoices[one["id"]] = one

    def expire_tokens(self) -> None:
        """Every token issued so far is refused from now on."""
        with self._lock:
            self._tokens.clear()

    def _authorized(self, request: Request) -> bool:
        if request.path == TOKEN_PATH:
            return True  # the token endpoint checks the client credentials itself, with OAuth's error body
        header = request.headers.get("Authorization", "")
        with self._lock:
            return header.startswith("Bearer ") and header[len("Bearer ") :] in self._tokens

    def _token(self, request: Request, _match: re.Match[str]) -> Response:
        if request.headers.get("Authorization") != self._basic:
            return json_response({"error": "invalid_client", "error_description": "client authentication failed"}, 401)
        if request.form.get("grant_type") != "client_credentials":
            return json_response({"error": "unsupported_grant_type"}, 400)
        token = secrets.token_urlsafe(24)
        with self._lock:
            self._tokens.add(token)
            self.tokens_issued += 1
        return json_response({"access_token": token, "expires_in": self._token_seconds, "token_type": "Bearer"})

    def _refused(self, request: Request, org: str) -> Response | None:
        if request.headers.get("Accept") != API_VERSION:
            return self.api.error(406, "Invalid or missing Accept header: a versioned media type is required")
        if org != self.org_id:
            return self.api.error(403, "The user does not have access to this organization")
        return None

    def _list(self, request: Request, match: re.Match[str]) -> Response:
        if (refused := self._refused(request, match["org"])) is not None:
            return refused
        try:
            page = int(request.args.get("pageNum", "1"))
            size = int(request.args.get("itemsPerPage", "100"))
        except ValueError:
            return self.api.error(400, "pageNum and itemsPerPage must be integers")
        if page < 1 or not 1 <= size <= 500:
            return self.api.error(400, "pageNum must be at least 1 and itemsPerPage 1..500")
        with self._lock:
            listed = [i for i in self._invoices.values() if self._lists_pending or i["statusName"] != "PENDING"]
        newest_first = sorted(listed, key=lambda i: i["startDate"], reverse=True)
        results = [metadata(one) for one in newest_first[(page - 1) * size : page * size]]
        base = f"{request.host_url.rstrip('/')}{request.path}?itemsPerPage={size}&pageNum="
        links = [{"href": f"{base}{page}", "rel": "self"}]
        if page * size < len(newest_first):
            links.append({"href": f"{base}{page + 1}", "rel": "next"})
        if page > 1:
            links.append({"href": f"{base}{page - 1}", "rel": "previous"})
        answer: dict[str, Any] = {"links": links, "results": results}
        if request.args.get("includeCount", "true") == "true":
            answer["totalCount"] = len(newest_first)
        return json_response(answer)

    def _pending(self, request: Request, match: re.Match[str]) -> Response:
        if (refused := self._refused(request, match["org"])) is not None:
            return refused
        with self._lock:
            pending = [one for one in self._invoices.values() if one["statusName"] == "PENDING"]
        if not pending:
            return self.api.error(404, "No pending invoice")
        return json_response(pending[0])

    def _invoice(self, request: Request, match: re.Match[str]) -> Response:
        if (refused := self._refused(request, match["org"])) is not None:
            return refused
        with self._lock:
            found = self._invoices.get(match["invoice"])
        if found is None:
            return self.api.error(404, f"Invoice {match['invoice']} not found")
        return json_response(found)


@contextmanager
def demo_source(work: Path) -> Iterator[DemoAccount]:
    """An organization with last month's invoice closed and this month's pending (its days so far).

    ``work`` is not needed: the invoices are held in memory.
    """
    today = datetime.now(UTC).date()
    current = date(today.year, today.month, 1)
    previous = date(current.year - (current.month == 1), (current.month - 2) % 12 + 1, 1)
    server = AtlasBillingApi(ORG_ID, _DEMO_ACCOUNT["client_id"], _DEMO_ACCOUNT["client_secret"])
    server.hold(invoice(previous, status="CLOSED"), invoice(current, status="PENDING", days=today.day))
    with serving(server.api) as running:
        yield DemoAccount(
            display_name="MongoDB Atlas (loopback)",
            config={"org_id": ORG_ID, "api_url": running.url},
            secret=dict(_DEMO_ACCOUNT),
            periods=(previous, current),
        )
