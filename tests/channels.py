"""How tests reach the services: a TLS channel carrying a bearer token of one organisation and role.

Every test that calls a service over gRPC goes through here, so the way callers prove who they are
(TLS, bearer tokens) is decided in one place.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import grpc

from cloudact_shared.auth import Role, TokenAuthority
from cloudact_shared.clients import open_channel
from cloudact_shared.naming import ORG_SLUG_PATTERN
from cloudact_shared.settings import CloudactSettings


def org_channel(settings: CloudactSettings, address: str, org: str, role: str = "admin") -> grpc.aio.Channel:
    """A channel to ``address`` acting as a ``role`` of ``org`` (use as ``async with``)."""
    return open_channel(settings, address, token=org_token(settings.tokens_path, org, role))


@cache
def org_token(tokens_dir: Path, org: str, role: str = "admin") -> str:
    """A valid token for ``org`` and ``role``, minted once per test data directory.

    A test that sends a malformed org slug on purpose gets a token of another, valid org: the
    service must answer INVALID_ARGUMENT whoever asks.
    """
    token_org = org if ORG_SLUG_PATTERN.fullmatch(org) else "malformed_org_probe"
    token, _ = TokenAuthority(tokens_dir).mint(token_org, Role.parse(role), subject=f"tests:{role}")
    return token
