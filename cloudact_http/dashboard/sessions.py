"""Dashboard sessions: a random opaque cookie id -> the bearer token, kept in this process's memory only.

The browser never holds the token itself (only the session id, HttpOnly), so a script on the page
cannot read it; a restart of ``cloudact serve`` logs everyone out, which is the safe failure.
"""

from __future__ import annotations

import hmac
import secrets
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import jwt

from cloudact_shared.errors import InvalidArgument
from cloudact_shared.naming import validate_org_slug

COOKIE = "cloudact_session"
SESSION_TTL = timedelta(hours=8)
# Enough for every person of a deployment at once; the oldest sessions go first beyond it.
_MAX_SESSIONS = 10_000


@dataclass(frozen=True)
class Session:
    """A logged-in browser: its org and role (from the token's claims), CSRF token, expiry."""

    org_slug: str
    role: str
    csrf: str
    expires_at: datetime
    token: str = field(repr=False)


def token_claims(token: str) -> tuple[str, str, datetime | None]:
    """The org, role and expiry a token names, read without checking its signature.

    The dashboard only uses them to know which org to ask for; the services verify the token on
    every call (login itself is a call), so a forged claim gets no data.

    Raises:
        ValueError: not a token of this deployment's shape.
    """
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
        org = validate_org_slug(str(claims["org"]))
        role = str(claims["role"])
        expiry = claims.get("exp")
    except (jwt.InvalidTokenError, KeyError, TypeError, ValueError, InvalidArgument) as exc:
        raise ValueError("not a CloudAct token") from exc
    return org, role, datetime.fromtimestamp(int(expiry), UTC) if expiry is not None else None


class SessionStore:
    """Sessions by id, in memory; thread-safe, expired sessions dropped when met."""

    def __init__(self, ttl: timedelta = SESSION_TTL) -> None:
        self._ttl = ttl
        self._sessions: dict[str, Session] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"SessionStore(sessions={len(self._sessions)})"

    def create(self, token: str, org_slug: str, role: str, token_expiry: datetime | None) -> tuple[str, Session]:
        """A new session for ``token``; it ends with the token if that comes first."""
        expires = datetime.now(UTC) + self._ttl
        if token_expiry is not None:
            expires = min(expires, token_expiry)
        session = Session(org_slug, role, secrets.token_urlsafe(32), expires, token)
        session_id = secrets.token_urlsafe(32)
        with self._lock:
            if len(self._sessions) >= _MAX_SESSIONS:
                oldest = min(self._sessions, key=lambda k: self._sessions[k].expires_at)
                del self._sessions[oldest]
            self._sessions[session_id] = session
        return session_id, session

    def get(self, session_id: str | None) -> Session | None:
        """The live session of ``session_id``, or None (unknown or expired)."""
        if not session_id:
            return None
        with self._lock:
            session = self._sessions.get(session_id)
            if session is not None and session.expires_at <= datetime.now(UTC):
                del self._sessions[session_id]
                return None
        return session

    def end(self, session_id: str | None) -> None:
        if session_id:
            with self._lock:
                self._sessions.pop(session_id, None)


def csrf_ok(session: Session, submitted: object) -> bool:
    """Whether a form carried the session's CSRF token (compared in constant time)."""
    return isinstance(submitted, str) and hmac.compare_digest(session.csrf.encode(), submitted.encode())
