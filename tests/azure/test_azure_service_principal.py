"""Service-principal credentials against real loopback servers: Azurite with OAuth (HTTPS) and a
small Microsoft Entra token endpoint, through azure-identity's async ClientSecretCredential."""

from __future__ import annotations

import base64
import ipaddress
import json
import time
import traceback
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from cloudact_cli.emulators import Azurite, azurite_available
from cloudact_cli.emulators import azurite as run_azurite
from cloudact_providers.azure.connector import AzureBlobConnector
from cloudact_providers.connector import ResolvedCredential
from cloudact_shared.errors import InvalidArgument, Unauthenticated
from tests.azure.conftest import put_run

TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
CLIENT = "3f0e1c2d-4b5a-6978-8a9b-0c1d2e3f4a5b"
SECRET = "s3cr3t~value.from-entra"
SEP = date(2023, 9, 1)


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (also the CA bundle the clients trust)."""
    folder = tmp_path_factory.mktemp("tls")
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(hours=2))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                                                    x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


@pytest.fixture(scope="module")
def oauth_azurite(tls: tuple[Path, Path]) -> Iterator[Azurite]:
    assert azurite_available(), "Azurite is not installed: run `make install`"
    with run_azurite(tls=tls) as endpoint:
        yield endpoint


def _b64(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


@pytest.fixture
async def authority(tls: tuple[Path, Path], unused_tcp_port: int) -> AsyncIterator[str]:
    """A Microsoft Entra token endpoint on loopback: client-credentials grant for one app, issuing
    tokens with the audience and issuer Azurite's basic OAuth mode accepts."""

    async def token(request: web.Request) -> web.Response:
        form = await request.post()
        if (
            request.match_info["tenant"] != TENANT
            or form.get("client_id") != CLIENT
            or form.get("client_secret") != SECRET
        ):
            body = {"error": "invalid_client", "error_description": "AADSTS7000215: Invalid client secret provided."}
            return web.json_response(body, status=401)
        now = int(time.time())
        claims = {"aud": "https://storage.azure.com", "iss": f"https://sts.windows.net/{TENANT}/", "iat": now,
                  "nbf": now - 60, "exp": now + 3600, "tid": TENANT, "appid": CLIENT}  # fmt: skip
        jwt = f"{_b64({'alg': 'RS256', 'typ': 'JWT'})}.{_b64(claims)}.c2lnbmF0dXJl"
        return web.json_response(
            {"token_type": "Bearer", "expires_in": 3600, "ext_expires_in": 3600, "access_token": jwt}
        )

    import ssl

    app = web.Application()
    app.router.add_post("/{tenant}/oauth2/v2.0/token", token)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*tls)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", unused_tcp_port, ssl_context=context).start()
    yield f"https://127.0.0.1:{unused_tcp_port}"
    await runner.cleanup()


def _credential(endpoint: Azurite, container: str, authority: str, ca: Path, **secret: str) -> ResolvedCredential:
    config = {"container": container, "export_name": "exp", "root_path": "costexports",
              "account_url": endpoint.account_url, "authority_host": authority, "ca_bundle": str(ca)}  # fmt: skip
    return ResolvedCredential("cred-sp-1", "azure", config, secret)


async def test_service_principal_reads_the_export(
    oauth_azurite: Azurite, authority: str, tls: tuple[Path, Path], tmp_path: Path
) -> None:
    container = f"exports-{uuid.uuid4().hex[:12]}"
    await put_run(oauth_azurite, container, "exp", b"a,b\n1,2\n", SEP, ca_bundle=tls[0])
    principal = {"tenant_id": TENANT, "client_id": CLIENT, "client_secret": SECRET}
    async with AzureBlobConnector(_credential(oauth_azurite, container, authority, tls[0], **principal)) as source:
        objects = await source.list_objects([SEP])
        assert len(objects) == 1
        await source.download(objects[0], tmp_path / "part.csv.gz")
    assert (tmp_path / "part.csv.gz").stat().st_size == objects[0].size


async def test_rejected_client_secret_is_unauthenticated(
    oauth_azurite: Azurite, authority: str, tls: tuple[Path, Path]
) -> None:
    container = f"exports-{uuid.uuid4().hex[:12]}"
    await put_run(oauth_azurite, container, "exp", b"a\n", SEP, ca_bundle=tls[0])
    wrong = "not-the-secret-" + uuid.uuid4().hex
    principal = {"tenant_id": TENANT, "client_id": CLIENT, "client_secret": wrong}
    with pytest.raises(Unauthenticated) as err:
        async with AzureBlobConnector(_credential(oauth_azurite, container, authority, tls[0], **principal)) as source:
            await source.list_objects([SEP])
    assert "cred-sp-1" in str(err.value) and wrong not in str(err.value)


def _rejected(config: dict[str, str], secret: dict[str, str]) -> str:
    """The InvalidArgument message for a bad credential; frames cleared so no decrypted credential
    outlives the test (tests/e2e checks that none is left in the process)."""
    try:
        AzureBlobConnector(ResolvedCredential("c-sp", "azure", config, secret))
    except InvalidArgument as exc:
        message = str(exc)
        traceback.clear_frames(exc.__traceback__)
        return message
    raise AssertionError("the credential was accepted")


def test_service_principal_secret_must_be_complete() -> None:
    config = {"container": "c", "export_name": "e", "account_url": "https://a.blob.core.windows.net"}
    message = _rejected(config, {"tenant_id": TENANT, "client_id": CLIENT})
    assert "credential.secret.client_secret: missing" in message and TENANT not in message
    both = {"sas_token": "sv=x&sig=y", "tenant_id": "t", "client_id": "i", "client_secret": "s"}
    assert "exactly one of" in _rejected(config, both)
    principal = {"tenant_id": "t", "client_id": "i", "client_secret": "s"}
    assert "account_url is required" in _rejected({"container": "c", "export_name": "e"}, principal)
