"""Fixtures of the HTTP gateway tests: the four services in-process and the real HTTPS server
(uvicorn, the "http" certificate of the test CA) on loopback, called with httpx trusting that CA."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest

from cloudact_http.server import HttpServer
from cloudact_shared.settings import CloudactSettings
from tests.channels import org_token
from tests.conftest import Services

ORG = "acme"


@dataclass
class Gateway:
    """The services, the HTTPS server in front of them, and a client of it."""

    services: Services
    server: HttpServer
    client: httpx.AsyncClient

    @property
    def settings(self) -> CloudactSettings:
        return self.services.settings

    def token(self, org: str = ORG, role: str = "viewer") -> str:
        return org_token(self.settings.tokens_path, org, role)

    def auth(self, org: str = ORG, role: str = "viewer") -> dict[str, str]:
        """The header a caller sends: ``Authorization: Bearer <token>``."""
        return {"authorization": f"Bearer {self.token(org, role)}"}


def tls_client(settings: CloudactSettings, port: int) -> httpx.AsyncClient:
    """An HTTPS client that trusts only the deployment's CA (no verify=False anywhere)."""
    return httpx.AsyncClient(
        base_url=f"https://127.0.0.1:{port}",
        verify=ssl.create_default_context(cafile=str(settings.ca_path)),
        timeout=30,
    )


@pytest.fixture
async def gateway(services: Services) -> AsyncIterator[Gateway]:
    settings = services.settings.model_copy(update={"http_address": "127.0.0.1:0"})
    server = HttpServer()
    await server.start(settings)
    assert server.port is not None
    async with tls_client(settings, server.port) as client:
        yield Gateway(services, server, client)
    await server.stop()
