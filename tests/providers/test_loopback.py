"""The loopback vendor API the SaaS providers' tests and the demo run: routes, auth, faults."""

from __future__ import annotations

import re

import requests
from werkzeug.wrappers import Request, Response

from cloudact_providers.loopback import LoopbackApi, json_response, serving


def _api() -> LoopbackApi:
    api = LoopbackApi(
        "vendor",
        authorized=lambda request: request.headers.get("Authorization") == "Bearer good",
        error_body=lambda status, message: {"error": {"code": status, "message": message}},
    )

    @api.route("GET", r"/v1/items/(?P<item>\w+)")
    def item(request: Request, match: re.Match[str]) -> Response:
        return json_response({"item": match["item"], "page": request.args.get("page", "1")})

    return api


def test_it_answers_a_route_with_its_path_parameters() -> None:
    with serving(_api()) as running:
        answer = requests.get(f"{running.url}/v1/items/abc?page=2", headers={"Authorization": "Bearer good"}, timeout=5)
    assert answer.status_code == 200 and answer.json() == {"item": "abc", "page": "2"}
    assert [(seen.method, seen.path, seen.query) for seen in running.api.seen] == [
        ("GET", "/v1/items/abc", {"page": "2"})
    ]


def test_it_refuses_a_bad_credential_and_an_unknown_route_in_the_vendors_body() -> None:
    with serving(_api()) as running:
        refused = requests.get(f"{running.url}/v1/items/abc", headers={"Authorization": "Bearer bad"}, timeout=5)
        unknown = requests.get(f"{running.url}/v2/nothing", headers={"Authorization": "Bearer good"}, timeout=5)
    assert refused.status_code == 401 and refused.json()["error"]["code"] == 401
    assert unknown.status_code == 404


def test_a_queued_fault_answers_the_next_matching_requests_then_clears() -> None:
    api = _api()
    api.fail("GET", r"/v1/items/.*", 429, retry_after=2, times=2)
    with serving(api) as running:
        answers = [
            requests.get(f"{running.url}/v1/items/x", headers={"Authorization": "Bearer good"}, timeout=5)
            for _ in range(3)
        ]
    assert [a.status_code for a in answers] == [429, 429, 200]
    assert answers[0].headers["Retry-After"] == "2"
    assert len(api.requests_to(r"/v1/items/.*")) == 3
