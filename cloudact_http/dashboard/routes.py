"""The dashboard's routes: login and sessions, the overview, the pipelines page, JSON and CSV."""

from __future__ import annotations

import asyncio
import csv
import hmac
import io
import secrets
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import grpc
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from cloudact_http.dashboard import pages
from cloudact_http.dashboard.backend import EARLIEST, LATEST, Backend, CostQuery
from cloudact_http.dashboard.overview import (
    TABLE_NAMES,
    Overview,
    Table,
    build_overview,
    parse_selection,
    resolve_selection,
)
from cloudact_http.dashboard.sessions import COOKIE, Session, SessionStore, csrf_ok, token_claims
from cloudact_shared.errors import CloudactError
from cloudact_shared.gen.cloudact.pipeline.v1 import pipeline_service_pb2 as pipe_pb
from cloudact_shared.gen.cloudact.query.v1 import query_service_pb2 as query_pb
from cloudact_shared.settings import CloudactSettings

STATIC_DIR = Path(__file__).parent / "static"
LOGIN_COOKIE = "cloudact_login"
CREDENTIAL = "x_credential_id"
_SECURITY_HEADERS = {
    # ECharts sets element styles from script; no inline <script> anywhere.
    "content-security-policy": (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:;"
        " frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
    ),
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "cache-control": "no-store",
}
_MAX_FORM_BYTES = 16 * 1024
_LOGGED_OUT = frozenset({"UNAUTHENTICATED", "INVALID_TOKEN"})
_Handler = Callable[[Request, Session, Backend], Awaitable[Response]]


async def _form(request: Request) -> dict[str, str]:
    """An url-encoded form's fields (first value each); python-multipart is not a dependency, and the
    dashboard's forms are small, so a body past ``_MAX_FORM_BYTES`` counts as empty."""
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > _MAX_FORM_BYTES:
            return {}
    if request.headers.get("content-type", "").split(";")[0].strip() != "application/x-www-form-urlencoded":
        return {}
    try:
        fields = parse_qs(body.decode("utf-8", errors="replace"), keep_blank_values=True, max_num_fields=20)
    except ValueError:  # more fields than any dashboard form has
        return {}
    return {name: values[0] for name, values in fields.items()}


def _secured(response: Response) -> Response:
    response.headers.update(_SECURITY_HEADERS)
    return response


def _html(body: str, status: int = 200) -> Response:
    return _secured(HTMLResponse(body, status_code=status))


def _explained(error: CloudactError) -> str:
    """The error's message and what is wrong with each field it names."""
    details = "; ".join(f"{v.field}: {v.description}" for v in error.violations)
    return f"{error.message} ({details})" if details else error.message


def _status_of(error: CloudactError) -> int:
    code = getattr(error, "code", None)
    if isinstance(code, grpc.StatusCode):
        return {
            grpc.StatusCode.INVALID_ARGUMENT: 400,
            grpc.StatusCode.NOT_FOUND: 404,
            grpc.StatusCode.PERMISSION_DENIED: 403,
            grpc.StatusCode.UNAUTHENTICATED: 401,
        }.get(code, 502)
    return 400 if error.reason == "INVALID_ARGUMENT" else 502


class Dashboard:
    """The routes' shared state: the settings (service addresses, CA) and the sessions."""

    def __init__(self, settings: CloudactSettings, sessions: SessionStore | None = None) -> None:
        self.settings = settings
        self.sessions = sessions or SessionStore()

    def __repr__(self) -> str:
        return f"Dashboard({self.sessions!r})"

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/login", self.login_form, methods=["GET"]),
            Route("/login", self.login, methods=["POST"]),
            Route("/logout", self.logout, methods=["POST"]),
            Route("/dashboard", self._page(self.overview), methods=["GET"]),
            Route("/dashboard/pipelines", self._page(self.pipelines), methods=["GET"]),
            Route("/dashboard/api/overview", self._api(self.overview_json), methods=["GET"]),
            Route("/dashboard/api/runs/{run_id}", self._api(self.run_json), methods=["GET"]),
            Route("/dashboard/api/{table}.csv", self._api(self.table_csv), methods=["GET"]),
            Mount("/dashboard/static", app=StaticFiles(directory=STATIC_DIR), name="dashboard-static"),
        ]

    # -- sessions ------------------------------------------------------------------------------

    def _session(self, request: Request) -> Session | None:
        return self.sessions.get(request.cookies.get(COOKIE))

    def _backend(self, session: Session) -> Backend:
        return Backend(self.settings, session.token, session.org_slug)

    def _page(self, handler: _Handler) -> Callable[[Request], Awaitable[Response]]:
        """A page: without a session, a redirect to /login; a service error, an error page."""

        async def page(request: Request) -> Response:
            session = self._session(request)
            if session is None:
                return _secured(RedirectResponse("/login", status_code=303))
            try:
                return await handler(request, session, self._backend(session))
            except CloudactError as error:
                if error.reason in _LOGGED_OUT:
                    self.sessions.end(request.cookies.get(COOKIE))
                    return _secured(RedirectResponse("/login", status_code=303))
                return _html(pages.error_page(session, "Cannot show this", _explained(error)), _status_of(error))

        return page

    def _api(self, handler: _Handler) -> Callable[[Request], Awaitable[Response]]:
        """A JSON/CSV endpoint: without a session 401; a service error as JSON with its reason."""

        async def api(request: Request) -> Response:
            session = self._session(request)
            if session is None:
                return _secured(JSONResponse({"error": "log in first", "reason": "NO_SESSION"}, status_code=401))
            try:
                return _secured(await handler(request, session, self._backend(session)))
            except CloudactError as error:
                if error.reason in _LOGGED_OUT:
                    self.sessions.end(request.cookies.get(COOKIE))
                body = {"error": _explained(error), "reason": error.reason}
                return _secured(JSONResponse(body, status_code=_status_of(error)))

        return api

    async def login_form(self, request: Request) -> Response:
        if self._session(request) is not None:
            return _secured(RedirectResponse("/dashboard", status_code=303))
        return self._login_page()

    def _login_page(self, error: str = "", status: int = 200) -> Response:
        # Login CSRF: the form must echo a random value also set as a SameSite=Strict cookie.
        nonce = secrets.token_urlsafe(32)
        response = _html(pages.login_page(nonce, error), status)
        response.set_cookie(LOGIN_COOKIE, nonce, max_age=3600, httponly=True, secure=True, samesite="strict")
        return response

    async def login(self, request: Request) -> Response:
        """Checks the token with a QueryCosts call on its org, then starts a session."""
        form = await _form(request)
        token, nonce = form.get("token"), request.cookies.get(LOGIN_COOKIE, "")
        submitted = form.get("csrf")
        if not nonce or not isinstance(submitted, str) or not hmac.compare_digest(nonce.encode(), submitted.encode()):
            return self._login_page("The form expired; please log in again.", 403)
        if not isinstance(token, str) or not token.strip():
            return self._login_page("Enter a token.", 400)
        token = token.strip()
        try:
            org, role, expiry = token_claims(token)
        except ValueError:
            return self._login_page("This is not a CloudAct token.", 401)
        today = datetime.now(UTC).date()
        try:
            await Backend(self.settings, token, org).query_costs(CostQuery(today, today))
        except CloudactError as error:
            if error.reason in _LOGGED_OUT or _status_of(error) in (401, 403):
                return self._login_page("This token is not valid here (expired, revoked or unknown).", 401)
            return self._login_page(f"The services cannot check the token now: {error}", 503)
        self.sessions.end(request.cookies.get(COOKIE))  # a previous session of this browser
        session_id, session = self.sessions.create(token, org, role, expiry)
        response = _secured(RedirectResponse("/dashboard", status_code=303))
        max_age = max(1, int((session.expires_at - datetime.now(UTC)).total_seconds()))
        response.set_cookie(COOKIE, session_id, max_age=max_age, httponly=True, secure=True, samesite="strict")
        response.delete_cookie(LOGIN_COOKIE)
        return response

    async def logout(self, request: Request) -> Response:
        session = self._session(request)
        if session is not None:
            form = await _form(request)
            if not csrf_ok(session, form.get("csrf")):
                return _html(pages.error_page(session, "Not logged out", "The form expired; reload the page."), 403)
            self.sessions.end(request.cookies.get(COOKIE))
        response = _secured(RedirectResponse("/login", status_code=303))
        response.delete_cookie(COOKIE, secure=True, httponly=True, samesite="strict")
        return response

    # -- the overview ----------------------------------------------------------------------------

    async def _overview(self, request: Request, backend: Backend) -> Overview:
        selection = await resolve_selection(backend, dict(request.query_params))
        return await build_overview(backend, selection)

    async def overview(self, request: Request, session: Session, backend: Backend) -> Response:
        return _html(pages.overview_page(session, await self._overview(request, backend)))

    async def overview_json(self, request: Request, session: Session, backend: Backend) -> Response:
        overview = await self._overview(request, backend)
        return JSONResponse(
            {
                "org_slug": session.org_slug,
                "selection": overview.selection.query(),
                "tables": {name: _table_json(table) for name, table in overview.tables.items()},
                "options": overview.options,
            }
        )

    async def table_csv(self, request: Request, session: Session, backend: Backend) -> Response:
        name = request.path_params["table"]
        if name not in TABLE_NAMES:
            return JSONResponse({"error": f"no table {name[:40]!r}", "reason": "NOT_FOUND"}, status_code=404)
        parse_selection(dict(request.query_params))  # a bad selection is refused before any call
        table = (await self._overview(request, backend)).tables[name]
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(table.columns)
        writer.writerows([_csv_cell(c) for c in row] for row in table.rows)
        filename = f"cloudact-{session.org_slug}-{name}.csv"
        return Response(
            out.getvalue(),
            media_type="text/csv; charset=utf-8",
            headers={"content-disposition": f'attachment; filename="{filename}"'},
        )

    # -- pipelines --------------------------------------------------------------------------------

    async def pipelines(self, request: Request, session: Session, backend: Backend) -> Response:
        credentials = await backend.list_credentials()
        runs, days = await asyncio.gather(
            asyncio.gather(*(backend.last_run(c.credential_id) for c in credentials)),
            backend.query_costs(CostQuery(EARLIEST, LATEST, [CREDENTIAL], grain=query_pb.TIME_GRAIN_DAY)),
        )
        through: dict[str, str] = {}
        for day in days:
            credential_id = day.dimensions.get(CREDENTIAL, "")
            through[credential_id] = max(through.get(credential_id, ""), day.period_start)
        table: list[dict[str, str]] = []
        for credential, run in zip(credentials, runs, strict=True):
            entry = {
                "credential_id": credential.credential_id,
                "credential": credential.display_name or credential.credential_id,
                "provider": credential.provider,
                "data_through": through.get(credential.credential_id, ""),
            }
            if run is not None:
                entry.update(_run_json(run))
            table.append(entry)
        return _html(pages.pipelines_page(session, table))

    async def run_json(self, request: Request, session: Session, backend: Backend) -> Response:
        return JSONResponse(_run_json(await backend.get_run(request.path_params["run_id"])))


def _run_json(run: pipe_pb.Run) -> dict[str, str]:
    """A run as the pipelines page shows it (every value text)."""
    return {
        "run_id": run.run_id,
        "status": pipe_pb.RunStatus.Name(run.status).removeprefix("RUN_STATUS_"),
        "stage": pipe_pb.Stage.Name(run.last_stage).removeprefix("STAGE_"),
        "billing_periods": ", ".join(run.billing_periods),
        "rows_read": str(run.rows_read),
        "rows_quarantined": str(run.rows_quarantined),
        "focus_rows_written": str(run.focus_rows_written),
        "started_at": pages.timestamp(run.started_at.ToDatetime(tzinfo=UTC) if run.HasField("started_at") else None),
        "finished_at": pages.timestamp(run.finished_at.ToDatetime(tzinfo=UTC) if run.HasField("finished_at") else None),
        "error": run.error.message if run.HasField("error") else "",
    }


def _table_json(table: Table) -> dict[str, Any]:
    return {
        "title": table.title,
        "columns": list(table.columns),
        "rows": [[str(c) for c in row] for row in table.rows],
    }


def _csv_cell(value: str | Decimal) -> str:
    if isinstance(value, Decimal):
        return str(value)
    # A spreadsheet would run a text cell starting like a formula: keep it text.
    return f"'{value}" if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def dashboard_routes(settings: CloudactSettings) -> list[BaseRoute]:
    """The dashboard's routes over the services ``settings`` names (sessions in this process's memory)."""
    return Dashboard(settings).routes()
