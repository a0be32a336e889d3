"""The cost dashboard of ``cloudact serve`` (issue 13): Starlette routes over the gRPC services.

``dashboard_routes(settings)`` gives the routes to mount: ``/login``, ``/logout``, ``/dashboard``
(overview), ``/dashboard/pipelines``, the JSON and CSV endpoints under ``/dashboard/api/`` and the
static files (ECharts included) under ``/dashboard/static/``. Every number comes from a gRPC call made
with the logged-in person's token; the dashboard never reads a table.
"""

from __future__ import annotations

from cloudact_http.dashboard.routes import dashboard_routes

__all__ = ["dashboard_routes"]
