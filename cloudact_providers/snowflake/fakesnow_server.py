"""fakesnow's Snowflake server on loopback, with Snowflake's sign-in checks and the billing schemas' grants.

Not imported by CloudAct: ``loopback.py`` runs this file with ``.venv-fakesnow``'s Python (fakesnow pins
its own duckdb, sqlglot and snowflake-connector-python, so it lives in its own venv). It imports only
the standard library and that venv's packages.

fakesnow speaks the Snowflake connector's wire protocol (``/session/v1/login-request``,
``/queries/v1/query-request``) over DuckDB, but accepts any user and password and has no access
control. In front of it, an ASGI layer adds what the connector's error paths need to meet:

- the login checks Snowflake makes: the user exists, its password matches, or its key-pair JWT is
  signed by its registered public key (``SNOWFLAKE_JWT``: RS256/ES256, ``sub`` = ``ACCOUNT.USER``,
  unexpired); the role asked for is granted to the user. A refusal is Snowflake's login answer
  (HTTP 200, ``success: false``, code 390100 / 390144 / 390189);
- the grants of the shared ``SNOWFLAKE`` database's schemas: a statement naming ``SNOWFLAKE.BILLING``
  or ``SNOWFLAKE.ORGANIZATION_USAGE`` from a role without the grant is refused as Snowflake refuses
  it, error 002003 "does not exist or not authorized".

Configuration comes as JSON in the environment variable ``CLOUDACT_FAKESNOW`` (users: password and /
or public key PEM, roles, default role; grants: schema -> roles). The server binds 127.0.0.1 on a port
the OS picks and prints ``{"port": N}`` on its first stdout line; it stops on SIGTERM / SIGINT.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import socket
import sys
import threading
from collections.abc import Awaitable, Callable
from typing import Any

import fakesnow.server  # type: ignore[import-not-found, unused-ignore]
import jwt
import uvicorn  # type: ignore[import-not-found, unused-ignore]

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]

_SCHEMAS = re.compile(r'"?SNOWFLAKE"?\s*\.\s*"?(BILLING|ORGANIZATION_USAGE)"?\b', re.IGNORECASE)
_OBJECT = re.compile(r'"?SNOWFLAKE"?\s*\.\s*"?(?:BILLING|ORGANIZATION_USAGE)"?\s*\.\s*"?(\w+)"?', re.IGNORECASE)


class SnowflakeGuard:
    """Sign-in checks and schema grants in front of fakesnow's app (see the module doc)."""

    def __init__(self, app: App, config: dict[str, Any]) -> None:
        self.app = app
        self.users: dict[str, dict[str, Any]] = {name.upper(): user for name, user in config["users"].items()}
        self.grants: dict[str, set[str]] = {
            schema.upper(): {role.upper() for role in roles} for schema, roles in config.get("grants", {}).items()
        }
        self.roles: dict[str, str] = {}
        """Session token -> the role it signed in with."""
        self.lock = threading.Lock()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if path == "/session/v1/login-request":
            await self._login(scope, receive, send)
        elif path == "/queries/v1/query-request":
            await self._query(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    async def _login(self, scope: Scope, receive: Receive, send: Send) -> None:
        body, replay = await _read(scope, receive)
        data = json.loads(body).get("data", {})
        query = dict(part.split("=", 1) for part in scope.get("query_string", b"").decode().split("&") if "=" in part)
        user = self.users.get(str(data.get("LOGIN_NAME", "")).upper())
        role = (query.get("roleName") or (user or {}).get("default_role") or "PUBLIC").strip('"').upper()
        refusal = self._refusal(data, user, role)
        if refusal is not None:
            await _json(send, {"data": None, "code": refusal[0], "message": refusal[1], "success": False})
            return

        async def remember(message: Message) -> None:
            if message["type"] == "http.response.body" and message.get("body"):
                token = (json.loads(message["body"]).get("data") or {}).get("token")
                if token:
                    with self.lock:
                        self.roles[token] = role
            await send(message)

        await self.app(scope, replay, remember)

    def _refusal(self, data: dict[str, Any], user: dict[str, Any] | None, role: str) -> tuple[str, str] | None:
        """Snowflake's login error (code, message) for this request, or None when it signs in."""
        wrong = ("390100", "Incorrect username or password was specified.")
        if user is None:
            return wrong
        if data.get("AUTHENTICATOR") == "SNOWFLAKE_JWT":
            if not _valid_jwt(str(data.get("TOKEN", "")), str(data.get("LOGIN_NAME", "")), user.get("public_key")):
                return ("390144", "JWT token is invalid.")
        elif user.get("password") is None or data.get("PASSWORD") != user["password"]:
            return wrong
        if role not in {r.upper() for r in user.get("roles", [])}:
            return ("390189", f"Role '{role}' specified in the connect string is not granted to this user.")
        return None

    async def _query(self, scope: Scope, receive: Receive, send: Send) -> None:
        body, replay = await _read(scope, receive)
        headers = dict(scope.get("headers", []))
        authorization = headers.get(b"authorization", b"").decode()
        token = authorization[17:-1] if authorization.startswith('Snowflake Token="') else ""
        with self.lock:
            role = self.roles.get(token)
        sql = str(json.loads(body).get("sqlText", ""))
        for match in _SCHEMAS.finditer(sql):
            schema = f"SNOWFLAKE.{match[1].upper()}"
            if role is not None and role not in self.grants.get(schema, set()):
                named = _OBJECT.search(sql)
                target = f"{schema}.{named[1].upper()}" if named else schema
                await _json(
                    send,
                    {
                        "data": {"errorCode": "002003", "sqlState": "42S02"},
                        "code": "002003",
                        "message": f"SQL compilation error:\nObject '{target}' does not exist or not authorized.",
                        "success": False,
                    },
                )
                return
        await self.app(scope, replay, send)


def _valid_jwt(token: str, user: str, public_key: str | None) -> bool:
    if not public_key or not token:
        return False
    try:
        claims = jwt.decode(token, public_key, algorithms=["RS256", "ES256", "ES384", "ES512"])
    except jwt.PyJWTError:
        return False
    return str(claims.get("sub", "")).upper().endswith(f".{user.upper()}")


async def _read(scope: Scope, receive: Receive) -> tuple[bytes, Receive]:
    """The request body (gunzipped) and a ``receive`` that replays it to the app."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            break
    raw = b"".join(chunks)
    encoding = dict(scope.get("headers", [])).get(b"content-encoding", b"")
    body = gzip.decompress(raw) if encoding == b"gzip" else raw
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": raw, "more_body": False}

    return body, replay


async def _json(send: Send, payload: dict[str, Any], status: int = 200) -> None:
    body = json.dumps(payload).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def main() -> int:
    config = json.loads(os.environ["CLOUDACT_FAKESNOW"])
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    app = SnowflakeGuard(fakesnow.server.app, config)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    print(json.dumps({"port": listener.getsockname()[1]}), flush=True)
    server.run(sockets=[listener])
    return 0


if __name__ == "__main__":
    sys.exit(main())
