"""``cloudact serve`` tried as an operator and an attacker would, with grpcurl: TLS, tokens, roles, orgs.

Four processes on loopback with the TLS material ``cloudact serve`` creates itself; tokens minted
with ``cloudact tokens create``; every call made by grpcurl exactly as the README shows it.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import jwt
import pytest

from cloudact_shared.auth import read_audit
from cloudact_shared.readiness import wait_until

GRPCURL = shutil.which("grpcurl", path=str(Path(sys.executable).parent)) or "grpcurl"
EXPECTED = {
    "credential": "cloudact.credential.v1.CredentialService",
    "ingest": "cloudact.pipeline.v1.PipelineService",
    "focus": "cloudact.focus.v1.FocusService",
    "query": "cloudact.query.v1.QueryService",
}
INTERNAL_ADDRESSES = ("CLOUDACT_CREDENTIAL_INTERNAL_ADDRESS", "CLOUDACT_FOCUS_INTERNAL_ADDRESS")
CREDENTIAL = "cloudact.credential.v1.CredentialService"
AWS_CONFIG = {"bucket": "acme-billing", "export_name": "cur", "prefix": "exports", "layout": "cur2"}
AWS_SECRET = {"aws_access_key_id": "AKIAEXAMPLE", "aws_secret_access_key": "s3cr3t-never-echoed"}


@dataclass
class Served:
    addresses: dict[str, str]
    env: dict[str, str]
    data_dir: Path
    process: subprocess.Popen[bytes]

    @property
    def ca(self) -> str:
        return str(self.data_dir / "secrets" / "tls" / "ca.pem")

    def grpcurl(
        self, *args: str, token: str | None = None, plaintext: bool = False
    ) -> subprocess.CompletedProcess[str]:
        security = ["-plaintext"] if plaintext else ["-cacert", self.ca]
        header = ["-H", f"authorization: Bearer {token}"] if token else []
        return subprocess.run(
            [GRPCURL, *security, *header, *args], capture_output=True, text=True, timeout=30, check=False
        )

    def call(
        self, service: str, method: str, body: Mapping[str, object], token: str | None
    ) -> subprocess.CompletedProcess[str]:
        return self.grpcurl(
            "-d", json.dumps(body), self.addresses[service], f"{EXPECTED[service]}/{method}", token=token
        )

    def cloudact(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "cloudact_cli.main", *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    def token(self, org: str, role: str) -> str:
        minted = self.cloudact("tokens", "create", "--org", org, "--role", role, "--ttl", "1h")
        assert minted.returncode == 0, minted.stderr
        return minted.stdout.strip()


@contextlib.contextmanager
def _serve(tmp_path: Path) -> Iterator[Served]:
    """``cloudact serve`` with every address on port 0; the ports it bound come back in a file."""
    data_dir, bound = tmp_path / "data", tmp_path / "addresses.json"
    env = {**os.environ, "CLOUDACT_DATA_DIR": str(data_dir)}
    for variable in (*(f"CLOUDACT_{name.upper()}_ADDRESS" for name in EXPECTED), *INTERNAL_ADDRESSES):
        env[variable] = "127.0.0.1:0"
    env["CLOUDACT_HTTP_ADDRESS"] = "127.0.0.1:0"  # serve's HTTPS side too: nothing fixed that may be taken
    process = subprocess.Popen(
        [sys.executable, "-m", "cloudact_cli.main", "serve", "--addresses-file", str(bound)], env=env
    )

    def started() -> dict[str, list[str]] | None:
        assert process.poll() is None, "cloudact serve exited early"
        return json.loads(bound.read_text()) if bound.exists() else None

    try:
        addresses = wait_until(started, what="cloudact serve", timeout=90, interval=0.2)
        yield Served({name: addresses[f"{name}_svc"][0] for name in EXPECTED}, env, data_dir, process)
    finally:
        # SIGTERM first: serve stops its four child processes; a SIGKILL would orphan them.
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """One deployment for the module: each test mints its own tokens and names its own credentials."""
    with _serve(tmp_path_factory.mktemp("serve")) as running:
        yield running


def test_every_port_speaks_tls_and_health_needs_no_token(served: Served) -> None:
    for name, address in served.addresses.items():
        plaintext = served.grpcurl(address, "list", plaintext=True)
        assert plaintext.returncode != 0, f"{name} answered plaintext"
        health = served.grpcurl("-d", json.dumps({"service": EXPECTED[name]}), address, "grpc.health.v1.Health/Check")
        assert health.returncode == 0, health.stderr
        assert json.loads(health.stdout)["status"] == "SERVING"
        anonymous = served.grpcurl(address, "list")
        assert anonymous.returncode != 0 and "Unauthenticated" in anonymous.stderr, anonymous.stderr


def test_reflection_lists_and_describes_with_a_token(served: Served) -> None:
    token = served.token("acme", "viewer")
    for name, address in served.addresses.items():
        listed = served.grpcurl(address, "list", token=token)
        assert listed.returncode == 0, listed.stderr
        assert {EXPECTED[name], "grpc.health.v1.Health", "grpc.reflection.v1alpha.ServerReflection"} <= set(
            listed.stdout.split()
        )
        described = served.grpcurl(address, "describe", EXPECTED[name], token=token)
        assert described.returncode == 0 and "rpc " in described.stdout, described.stderr


def test_no_token_is_unauthenticated_everywhere(served: Served) -> None:
    calls = [
        ("credential", "ListCredentials", {"org_slug": "acme"}),
        ("credential", "DecryptCredential", {"org_slug": "acme", "credential_id": "x"}),
        ("query", "QueryCosts", {"org_slug": "acme", "start_date": "2025-01-01", "end_date": "2025-01-31"}),
        ("focus", "ExportFocus", {"org_slug": "acme"}),
        ("ingest", "ListPipelines", {}),
    ]
    for service, method, body in calls:
        result = served.call(service, method, body, token=None)
        # grpcurl asks reflection for the schema first, and reflection beyond health needs a token too.
        assert result.returncode != 0 and "Unauthenticated" in result.stderr, (method, result.stderr)


def test_a_viewer_of_globex_can_do_nothing_in_acme_nor_write_in_globex(served: Served) -> None:
    viewer = served.token("globex", "viewer")
    acme_calls = [
        ("credential", "ListCredentials", {"org_slug": "acme"}),
        ("credential", "GetCredential", {"org_slug": "acme", "credential_id": "57175a76-7de3-4c2b-9b1d-1c9f0a6b2e11"}),
        ("credential", "CreateCredential", {"org_slug": "acme", "provider": "aws", "display_name": "x"}),
        (
            "credential",
            "DeleteCredential",
            {"org_slug": "acme", "credential_id": "57175a76-7de3-4c2b-9b1d-1c9f0a6b2e11"},
        ),
        ("query", "QueryCosts", {"org_slug": "acme", "start_date": "2025-01-01", "end_date": "2025-01-31"}),
        ("focus", "ExportFocus", {"org_slug": "acme"}),
        ("ingest", "RunPipeline", {"org_slug": "acme", "provider": "aws", "credential_id": "x"}),
    ]
    for service, method, body in acme_calls:
        result = served.call(service, method, body, token=viewer)
        assert result.returncode != 0 and "PermissionDenied" in result.stderr, (method, result.stderr)
    create = served.call(
        "credential",
        "CreateCredential",
        {"org_slug": "globex", "provider": "aws", "display_name": "x", "secret": AWS_SECRET, "config": AWS_CONFIG},
        token=viewer,
    )
    assert create.returncode != 0 and "PermissionDenied" in create.stderr and "ROLE_TOO_LOW" in create.stderr
    own = served.call("credential", "ListCredentials", {"org_slug": "globex"}, token=viewer)
    assert own.returncode == 0, own.stderr


def test_an_admin_of_acme_can_do_everything_in_acme_and_internal_rpcs_stay_internal(served: Served) -> None:
    admin = served.token("acme", "admin")
    created = served.call(
        "credential",
        "CreateCredential",
        {"org_slug": "acme", "provider": "aws", "display_name": "prod", "secret": AWS_SECRET, "config": AWS_CONFIG},
        token=admin,
    )
    assert created.returncode == 0, created.stderr
    credential_id = json.loads(created.stdout)["credential"]["credential_id"]
    assert AWS_SECRET["aws_secret_access_key"] not in created.stdout
    scoped = {"org_slug": "acme", "credential_id": credential_id}
    for method, body in (
        ("ListCredentials", {"org_slug": "acme"}),
        ("GetCredential", scoped),
        ("RotateCredential", scoped),
    ):
        result = served.call("credential", method, body, token=admin)
        assert result.returncode == 0, (method, result.stderr)
    decrypt = served.call("credential", "DecryptCredential", scoped, token=admin)
    assert decrypt.returncode != 0 and "PermissionDenied" in decrypt.stderr and "INTERNAL_RPC" in decrypt.stderr
    convert = served.call("focus", "ConvertToFocus", {"org_slug": "acme", "provider": "aws"}, token=admin)
    assert convert.returncode != 0 and "PermissionDenied" in convert.stderr
    query = served.call(
        "query", "QueryCosts", {"org_slug": "acme", "start_date": "2025-01-01", "end_date": "2025-01-31"}, token=admin
    )
    assert "NotFound" in query.stderr  # authorised: the org simply has no FOCUS table yet
    pipelines = served.call("ingest", "ListPipelines", {}, token=admin)
    assert pipelines.returncode == 0 and "aws/cost/billing" in pipelines.stdout
    deleted = served.call("credential", "DeleteCredential", scoped, token=admin)
    assert deleted.returncode == 0, deleted.stderr

    admin_id = jwt.decode(admin, options={"verify_signature": False})["jti"]
    audit = [e for e in read_audit(served.data_dir / "audit" / "audit.jsonl") if e["who"].get("token_id") == admin_id]
    actions = {(entry["action"].rsplit("/", 1)[-1], entry["result"]) for entry in audit}
    assert {
        ("CreateCredential", "OK"),
        ("DeleteCredential", "OK"),
        ("DecryptCredential", "PERMISSION_DENIED"),
    } <= actions
    assert all(entry["who"]["org"] == "acme" and entry.get("org", "acme") == "acme" for entry in audit)
    assert AWS_SECRET["aws_secret_access_key"] not in json.dumps(audit) and admin not in json.dumps(audit)


def test_a_revoked_token_is_refused_from_the_next_call(served: Served) -> None:
    admin = served.token("acme", "admin")
    body = {"org_slug": "acme"}
    assert served.call("credential", "ListCredentials", body, token=admin).returncode == 0
    token_id = jwt.decode(admin, options={"verify_signature": False})["jti"]
    assert token_id in served.cloudact("tokens", "list", "--org", "acme").stdout
    revoked = served.cloudact("tokens", "revoke", token_id)
    assert revoked.returncode == 0, revoked.stderr
    refused = served.call("credential", "ListCredentials", body, token=admin)
    assert refused.returncode != 0 and "Unauthenticated" in refused.stderr and "revoked" in refused.stderr


def test_sigterm_stops_every_service(tmp_path: Path) -> None:
    with _serve(tmp_path) as served:
        served.process.send_signal(signal.SIGTERM)
        assert served.process.wait(timeout=30) == 0
