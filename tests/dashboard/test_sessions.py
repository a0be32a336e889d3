"""Dashboard sessions: expiry, the token kept out of reprs, claims read only to pick the org."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from cloudact_http.dashboard.backend import Backend
from cloudact_http.dashboard.sessions import SessionStore, csrf_ok, token_claims
from cloudact_shared.auth import Role, TokenAuthority
from cloudact_shared.settings import CloudactSettings


def test_a_session_ends_with_its_ttl_or_its_token_and_never_shows_the_token(tmp_path: Path) -> None:
    token, _ = TokenAuthority(tmp_path / "tokens").mint("acme", Role.VIEWER, subject="tests:sessions")
    org, role, expiry = token_claims(token)
    assert (org, role) == ("acme", "viewer") and expiry is not None

    store = SessionStore(ttl=timedelta(seconds=0.3))
    session_id, session = store.create(token, org, role, expiry)
    assert store.get(session_id) == session and store.get("guessed") is None and store.get(None) is None
    assert token not in repr(session) and token not in repr(store) and session_id not in repr(store)
    backend = Backend(CloudactSettings(data_dir=tmp_path / "data"), token, org)
    assert token not in repr(backend)
    assert csrf_ok(session, session.csrf) and not csrf_ok(session, "forged") and not csrf_ok(session, None)
    time.sleep(0.4)
    assert store.get(session_id) is None

    # A token that expires before the TTL ends the session first.
    soon = datetime.now(UTC) + timedelta(seconds=0.2)
    short_id, short = SessionStore().create(token, org, role, soon)
    assert short.expires_at == soon

    other_id, _ = store.create(token, org, role, None)
    store.end(other_id)
    assert store.get(other_id) is None and short_id != other_id


@pytest.mark.parametrize("text", ["", "not-a-jwt", "a.b.c"])
def test_what_is_not_a_token_is_refused_before_any_call(text: str) -> None:
    with pytest.raises(ValueError, match="not a CloudAct token"):
        token_claims(text)
