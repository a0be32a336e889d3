"""The dashboard's HTML, written with Python strings: every value from outside goes through ``esc``.

Pages carry no inline script (the Content-Security-Policy forbids it); chart data travels in a
``<script type="application/json">`` block, which browsers never execute, read by static/dashboard.js.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime
from decimal import Decimal
from html import escape
from urllib.parse import urlencode

from cloudact_http.dashboard.overview import FILTER_PARAMETERS, Overview, Table, cents
from cloudact_http.dashboard.sessions import Session

STATIC = "/dashboard/static"
_FILTER_LABELS = {"provider": "Provider", "account": "Billing account", "service": "Service", "region": "Region"}


def esc(value: object) -> str:
    """Text safe inside HTML elements and double-quoted attributes."""
    return escape(str(value), quote=True)


def layout(title: str, body: str, session: Session | None = None, *, scripts: Iterable[str] = ()) -> str:
    """A whole page: header (org, role, logout form with the CSRF token), body, scripts."""
    nav = ""
    if session is not None:
        nav = (
            '<nav><a href="/dashboard">Overview</a> <a href="/dashboard/pipelines">Pipelines</a>'
            f' <span class="who">org <b id="org">{esc(session.org_slug)}</b> as {esc(session.role)}</span>'
            '<form method="post" action="/logout" class="inline">'
            f'<input type="hidden" name="csrf" value="{esc(session.csrf)}">'
            '<button type="submit" id="logout">Log out</button></form></nav>'
        )
    tags = "".join(f'<script src="{STATIC}/{esc(name)}"></script>' for name in scripts)
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{esc(title)} · CloudAct Costs</title>"
        f'<link rel="stylesheet" href="{STATIC}/dashboard.css"></head>'
        f"<body><header><h1>CloudAct Costs</h1>{nav}</header><main>{body}</main>{tags}</body></html>"
    )


def login_page(login_csrf: str, error: str = "") -> str:
    message = f'<p class="error" id="login-error">{esc(error)}</p>' if error else ""
    body = (
        f"<h2>Log in</h2>{message}"
        '<form method="post" action="/login" id="login">'
        f'<input type="hidden" name="csrf" value="{esc(login_csrf)}">'
        '<label>Token <input type="password" name="token" autocomplete="off" required></label>'
        '<button type="submit">Log in</button></form>'
        "<p>A token comes from <code>cloudact tokens create</code>.</p>"
    )
    return layout("Log in", body)


def error_page(session: Session | None, title: str, message: str) -> str:
    return layout(title, f'<h2>{esc(title)}</h2><p class="error" id="error">{esc(message)}</p>', session)


def _cell(value: str | Decimal) -> str:
    if isinstance(value, Decimal):
        return f'<td class="amount" data-exact="{esc(value)}">{esc(cents(value))}</td>'
    return f"<td>{esc(value) if value else '<i>(none)</i>'}</td>"


def table_html(table: Table, query: dict[str, str]) -> str:
    """A table with a link to the same table as CSV (same selection)."""
    head = "".join(f"<th>{esc(c)}</th>" for c in table.columns)
    rows = "".join(
        f'<tr data-key="{esc("|".join(str(c) for c in row if not isinstance(c, Decimal)))}">'
        + "".join(_cell(c) for c in row)
        + "</tr>"
        for row in table.rows
    )
    if not table.rows:
        rows = f'<tr><td colspan="{len(table.columns)}" class="empty">No costs in this selection.</td></tr>'
    link = f"/dashboard/api/{table.name}.csv?{urlencode(query)}"
    return (
        f'<section><h3>{esc(table.title)} <a class="csv" id="csv-{esc(table.name)}" href="{esc(link)}">CSV</a></h3>'
        f'<table id="{esc(table.name)}"><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table></section>'
    )


def overview_page(session: Session, overview: Overview) -> str:
    selection = overview.selection
    query = selection.query()
    fields = [
        f'<label>From <input type="date" name="start" id="start" value="{esc(selection.start)}"></label>',
        f'<label>To <input type="date" name="end" id="end" value="{esc(selection.end)}"></label>',
    ]
    for parameter in FILTER_PARAMETERS:
        current = selection.filters.get(parameter, "")
        choices = overview.options.get(parameter, [])
        if current and current not in choices:
            choices = [current, *choices]
        options = '<option value="">All</option>' + "".join(
            f'<option value="{esc(v)}"{" selected" if v == current else ""}>{esc(v)}</option>' for v in choices
        )
        fields.append(
            f'<label>{esc(_FILTER_LABELS[parameter])} <select name="{parameter}" id="filter-{parameter}">'
            f"{options}</select></label>"
        )
    tag = selection.filters.get("tag", "")
    fields.append(
        f'<label>Tag <input type="text" name="tag" id="filter-tag" placeholder="KEY=VALUE" value="{esc(tag)}"></label>'
    )
    form = (
        '<form method="get" action="/dashboard" id="selection" class="filters">'
        + "".join(fields)
        + '<button type="submit" id="apply">Apply</button> <a href="/dashboard">Reset</a></form>'
    )
    previous_start, previous_end = selection.previous
    period = (
        f'<p class="period">Period <span id="period">{esc(selection.start)} – {esc(selection.end)}</span>;'
        f" movers against {esc(previous_start)} – {esc(previous_end)}.</p>"
    )
    charts = (
        '<section class="charts"><div><h3>EffectiveCost by provider</h3><div class="chart" data-chart="providers">'
        '</div></div><div><h3>EffectiveCost by service category</h3><div class="chart" data-chart="categories">'
        "</div></div></section>"
    )
    data = json.dumps(overview.charts).replace("<", "\\u003c")
    tables = "".join(table_html(t, query) for t in overview.tables.values())
    body = (
        f"<h2>Overview</h2>{form}{period}{charts}{tables}"
        f'<script type="application/json" id="chart-data">{data}</script>'
    )
    return layout("Overview", body, session, scripts=("vendor/echarts.min.js", "dashboard.js"))


def timestamp(stamp: datetime | None) -> str:
    """How the pipelines page writes a time."""
    return stamp.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if stamp else ""


def pipelines_page(session: Session, rows: list[dict[str, str]]) -> str:
    """One row per credential: its last run (status, rows, quarantined, data through)."""
    columns = (
        "Credential", "Provider", "Last run", "Status", "Stage", "Billing months", "Rows read",
        "Rows quarantined", "FOCUS rows", "Started", "Finished", "Data through",
    )  # fmt: skip
    head = "".join(f"<th>{esc(c)}</th>" for c in columns)
    body_rows = []
    for row in rows:
        cells = "".join(
            f'<td class="{key}">{esc(row.get(key, ""))}</td>'
            for key in (
                "credential", "provider", "run_id", "status", "stage", "billing_periods", "rows_read",
                "rows_quarantined", "focus_rows_written", "started_at", "finished_at", "data_through",
            )
        )  # fmt: skip
        body_rows.append(
            f'<tr data-credential-id="{esc(row["credential_id"])}" data-run-id="{esc(row.get("run_id", ""))}"'
            f' data-status="{esc(row.get("status", ""))}">{cells}</tr>'
        )
    if not body_rows:
        body_rows.append(f'<tr><td colspan="{len(columns)}" class="empty">No credentials yet.</td></tr>')
    body = (
        "<h2>Pipelines</h2><p>Each credential's last run; a running run updates every 2 seconds.</p>"
        f'<table id="pipelines"><thead><tr>{head}</tr></thead><tbody>{"".join(body_rows)}</tbody></table>'
    )
    return layout("Pipelines", body, session, scripts=("pipelines.js",))
