"""The Databricks SQL Statement Execution API on loopback, answering statements over generated system tables.

Runtime code (``make demo``) and the tests' server. It answers the endpoints databricks-sdk calls, in
their documented JSON shapes:

- ``POST /api/2.0/sql/statements``: runs the statement (``INLINE`` disposition, ``JSON_ARRAY`` format
  only, as the connector asks) over the generated ``system.billing`` tables (``warehouse.SystemTables``:
  Databricks SQL transpiled to DuckDB, so the connector's JOIN and keyset paging really run). The
  statement's state then goes PENDING -> RUNNING -> SUCCEEDED over ``pending_polls`` polls (0: it
  answers at once, with the manifest and the first chunk), like a warehouse that is busy or starting;
  a statement that fails answers HTTP 200 with state FAILED, ``status.error`` and ``sql_state``.
- ``GET /api/2.0/sql/statements/{id}``: the statement's state (and, once SUCCEEDED, the manifest and
  the first chunk).
- ``GET /api/2.0/sql/statements/{id}/result/chunks/{n}``: chunk ``n`` of ``rows_per_chunk`` rows, with
  ``next_chunk_index`` and ``next_chunk_internal_link`` until the last.
- ``POST /api/2.0/sql/statements/{id}/cancel``.
- ``GET /.well-known/databricks-config`` (the SDK's host metadata probe), and for a service principal
  the workspace's OAuth endpoints: ``GET /oidc/.well-known/oauth-authorization-server`` and
  ``POST /oidc/v1/token`` (client credentials in a Basic header; OAuth's error body when refused).

Every other request needs ``Authorization: Bearer`` with the personal access token or a token the
OAuth endpoint issued; Databricks' error body is ``{"error_code", "message"}``. Faults (429 with
Retry-After, 500, 503) are queued with ``LoopbackApi.fail``.
"""

from __future__ import annotations

import base64
import itertools
import re
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from werkzeug.wrappers import Request, Response

from cloudact_providers.connector import DemoAccount
from cloudact_providers.databricks.synthetic import fill_month
from cloudact_providers.databricks.warehouse import Answer, StatementFailed, SystemTables
from cloudact_providers.loopback import LoopbackApi, Running, json_response, serving

WAREHOUSE_ID = "4b9f0c2d7e8a1f36"
"""The warehouse the loopback serves (any other id is refused as Databricks refuses an unknown one)."""

_ERROR_CODES = {
    400: "INVALID_PARAMETER_VALUE",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "RESOURCE_DOES_NOT_EXIST",
    429: "REQUEST_LIMIT_EXCEEDED",
    500: "INTERNAL_ERROR",
    503: "TEMPORARILY_UNAVAILABLE",
}
_PUBLIC = re.compile(r"^/(?:\.well-known/databricks-config|oidc/.*)$")
_STATEMENTS = "/api/2.0/sql/statements"


def error_body(status: int, message: str) -> dict[str, str]:
    """Databricks' REST error body."""
    return {"error_code": _ERROR_CODES.get(status, str(status)), "message": message}


@dataclass
class _Statement:
    answer: Answer | None
    failure: StatementFailed | None
    polls_left: int
    state: str = "PENDING"


@dataclass
class DatabricksApi:
    """The loopback workspace: its API, its warehouse's tables, and the credentials it accepts."""

    tables: SystemTables
    token: str | None = None
    """The personal access token accepted (None: no token is)."""
    clients: dict[str, str] = field(default_factory=dict)
    """Service principals accepted: client id -> client secret."""
    rows_per_chunk: int = 500
    pending_polls: int = 0
    """How many polls a statement stays PENDING / RUNNING before it SUCCEEDS (or FAILS)."""
    api: LoopbackApi = field(init=False)
    _issued: set[str] = field(default_factory=set)
    _statements: dict[str, _Statement] = field(default_factory=dict)
    _ids: Iterator[int] = field(default_factory=itertools.count)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.api = LoopbackApi("databricks", authorized=self._authorized, error_body=error_body)
        self.api.route("GET", r"/\.well-known/databricks-config")(self._host_metadata)
        self.api.route("GET", r"/oidc/\.well-known/oauth-authorization-server")(self._oidc_discovery)
        self.api.route("POST", r"/oidc/v1/token")(self._oauth_token)
        self.api.route("POST", _STATEMENTS + "/?")(self._execute)
        self.api.route("GET", _STATEMENTS + r"/(?P<id>[\w-]+)")(self._get)
        self.api.route("GET", _STATEMENTS + r"/(?P<id>[\w-]+)/result/chunks/(?P<n>\d+)")(self._chunk)
        self.api.route("POST", _STATEMENTS + r"/(?P<id>[\w-]+)/cancel")(self._cancel)

    def _authorized(self, request: Request) -> bool:
        if _PUBLIC.fullmatch(request.path):
            return True
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme != "Bearer" or not token:
            return False
        with self._lock:
            return token == self.token or token in self._issued

    def _host_metadata(self, request: Request, _match: re.Match[str]) -> Response:
        return json_response({"oidc_endpoint": f"{request.host_url}oidc", "workspace_id": "1234567890123456"})

    def _oidc_discovery(self, request: Request, _match: re.Match[str]) -> Response:
        base = f"{request.host_url}oidc/v1"
        return json_response({"authorization_endpoint": f"{base}/authorize", "token_endpoint": f"{base}/token"})

    def _oauth_token(self, request: Request, _match: re.Match[str]) -> Response:
        scheme, _, encoded = request.headers.get("Authorization", "").partition(" ")
        client_id, secret = "", ""
        if scheme == "Basic":
            client_id, _, secret = base64.b64decode(encoded).decode().partition(":")
        known = self.clients.get(client_id)
        if request.form.get("grant_type") != "client_credentials" or known is None or known != secret:
            return json_response({"error": "invalid_client", "error_description": "Client authentication failed"}, 401)
        token = secrets.token_urlsafe(24)
        with self._lock:
            self._issued.add(token)
        return json_response({"access_token": token, "token_type": "Bearer", "expires_in": 3600, "scope": "all-apis"})

    def _execute(self, request: Request, _match: re.Match[str]) -> Response:
        body: dict[str, Any] = request.get_json(silent=True) or {}
        if body.get("warehouse_id") != WAREHOUSE_ID:
            return self.api.error(404, f"Warehouse {body.get('warehouse_id')} does not exist.")
        if body.get("disposition", "INLINE") != "INLINE" or body.get("format", "JSON_ARRAY") != "JSON_ARRAY":
            return self.api.error(400, "this warehouse serves INLINE JSON_ARRAY results only")
        if not isinstance(body.get("statement"), str):
            return self.api.error(400, "statement is required")
        answer: Answer | None = None
        failure: StatementFailed | None = None
        with self._lock:
            try:
                answer = self.tables.execute(body["statement"], list(body.get("parameters") or []))
            except StatementFailed as failed:
                failure = failed
            statement_id = f"01f0-{next(self._ids):08d}-{secrets.token_hex(4)}"
            record = _Statement(answer, failure, self.pending_polls)
            if record.polls_left == 0:
                record.state = "FAILED" if failure is not None else "SUCCEEDED"
            self._statements[statement_id] = record
            return json_response(self._response(statement_id, record, request))

    def _get(self, request: Request, match: re.Match[str]) -> Response:
        with self._lock:
            record = self._statements.get(match["id"])
            if record is None:
                return self.api.error(404, f"Statement {match['id']} does not exist.")
            if record.state in ("PENDING", "RUNNING"):
                record.polls_left -= 1
                if record.polls_left > 0:
                    record.state = "RUNNING"
                else:
                    record.state = "FAILED" if record.failure is not None else "SUCCEEDED"
            return json_response(self._response(match["id"], record, request))

    def _chunk(self, request: Request, match: re.Match[str]) -> Response:
        with self._lock:
            record = self._statements.get(match["id"])
            if record is None or record.state != "SUCCEEDED" or record.answer is None:
                return self.api.error(404, f"Statement {match['id']} has no result.")
            index = int(match["n"])
            if index >= self._chunk_count(record.answer):
                return self.api.error(400, f"chunk_index {index} is out of range")
            return json_response(self._result(match["id"], record.answer, index))

    def _cancel(self, _request: Request, match: re.Match[str]) -> Response:
        with self._lock:
            record = self._statements.get(match["id"])
            if record is not None and record.state in ("PENDING", "RUNNING"):
                record.state = "CANCELED"
        return json_response({})

    def _response(self, statement_id: str, record: _Statement, request: Request) -> dict[str, Any]:
        status: dict[str, Any] = {"state": record.state}
        response: dict[str, Any] = {"statement_id": statement_id, "status": status}
        if record.state == "FAILED" and record.failure is not None:
            status["error"] = {"error_code": "BAD_REQUEST", "message": str(record.failure)}
            status["sql_state"] = record.failure.sql_state
        if record.state == "SUCCEEDED" and record.answer is not None:
            response["manifest"] = self._manifest(record.answer)
            response["result"] = self._result(statement_id, record.answer, 0)
        return response

    def _chunk_count(self, answer: Answer) -> int:
        return max(1, -(-len(answer.rows) // self.rows_per_chunk))

    def _manifest(self, answer: Answer) -> dict[str, Any]:
        count = self._chunk_count(answer)
        columns = [
            {"name": c.name, "position": i, "type_name": c.type_name, "type_text": c.type_text}
            for i, c in enumerate(answer.columns)
        ]
        return {
            "format": "JSON_ARRAY",
            "schema": {"column_count": len(columns), "columns": columns},
            "total_chunk_count": count,
            "chunks": [self._bounds(answer, i) for i in range(count)],
            "total_row_count": len(answer.rows),
            "truncated": False,
        }

    def _bounds(self, answer: Answer, index: int) -> dict[str, int]:
        offset = index * self.rows_per_chunk
        count = max(0, min(self.rows_per_chunk, len(answer.rows) - offset))
        return {"chunk_index": index, "row_offset": offset, "row_count": count}

    def _result(self, statement_id: str, answer: Answer, index: int) -> dict[str, Any]:
        bounds = self._bounds(answer, index)
        result: dict[str, Any] = dict(bounds)
        offset = bounds["row_offset"]
        if bounds["row_count"]:
            result["data_array"] = [list(row) for row in answer.rows[offset : offset + bounds["row_count"]]]
        if index + 1 < self._chunk_count(answer):
            result["next_chunk_index"] = index + 1
            result["next_chunk_internal_link"] = f"{_STATEMENTS}/{statement_id}/result/chunks/{index + 1}"
        return result


DEMO_PERIODS = (date(2026, 1, 1), date(2026, 2, 1))
"""The months the demo workspace holds usage for."""


@contextmanager
def workspace(
    periods: tuple[date, ...] = DEMO_PERIODS, *, rows: int = 120, rows_per_chunk: int = 50, pending_polls: int = 1
) -> Iterator[tuple[Running, DatabricksApi]]:
    """A loopback workspace holding ``rows`` generated records a month of ``periods``, its token a fresh one."""
    tables = SystemTables()
    try:
        for period in periods:
            fill_month(tables, period, rows)
        api = DatabricksApi(
            tables,
            token=f"dapi{secrets.token_hex(16)}",
            clients={"7c1d1e7a-5b1e-4c8f-9d0e-2f3a4b5c6d7e": secrets.token_urlsafe(24)},
            rows_per_chunk=rows_per_chunk,
            pending_polls=pending_polls,
        )
        with serving(api.api) as running:
            yield running, api
    finally:
        tables.close()


@contextmanager
def demo_source(work: Path) -> Iterator[DemoAccount]:
    """The demo's Databricks: a loopback workspace with two months of usage and a personal access token
    (a ``DemoSource``; ``work`` is not needed: the tables live in memory)."""
    del work
    with workspace() as (running, api):
        assert api.token is not None
        yield DemoAccount(
            display_name="databricks-demo-workspace",
            config={"host": running.url, "warehouse_id": WAREHOUSE_ID, "retry_seconds": "30"},
            secret={"token": api.token},
            periods=DEMO_PERIODS,
        )
