"""A local OCI Object Storage (the paths the real ``oci`` SDK calls) on 127.0.0.1, for the demo and tests.

No OCI emulator exists on PyPI or npm, so this stands in for one, honestly:
requests must carry a valid OCI HTTP signature (draft-cavage, rsa-sha256): the fake verifies it with
the public key registered for the key id ``tenancy/user/fingerprint``, so the SDK's real signing
code runs and a wrong key gets the 401 OCI answers.
"""

from __future__ import annotations

import base64
import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

_SIGNATURE = re.compile(r'(\w+)="([^"]*)"')


@dataclass
class ApiKey:
    """A throwaway RSA API key and the OCI credential fields that use it."""

    tenancy: str = "ocid1.tenancy.oc1..aaaaaaaatesttenancy"
    user: str = "ocid1.user.oc1..aaaaaaaatestuser"
    private: rsa.RSAPrivateKey = field(default_factory=lambda: rsa.generate_private_key(65537, 2048))

    @property
    def pem(self) -> str:
        return self.private.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode()

    @property
    def fingerprint(self) -> str:
        der = self.private.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        digest = hashes.Hash(hashes.MD5())
        digest.update(der)
        return ":".join(f"{b:02x}" for b in digest.finalize())

    def secret(self, region: str = "us-sanjose-1") -> dict[str, str]:
        return {
            "user": self.user,
            "fingerprint": self.fingerprint,
            "key_content": self.pem,
            "tenancy": self.tenancy,
            "region": region,
        }


@dataclass
class StoredObject:
    data: bytes
    created: datetime


@dataclass
class FakeObjectStorage:
    """State of the fake: buckets, the accepted keys, injected failures and the requests seen."""

    namespace: str = "bling"
    buckets: dict[str, dict[str, StoredObject]] = field(default_factory=dict)
    keys: dict[str, rsa.RSAPublicKey] = field(default_factory=dict)
    fail_status: int | None = None
    page_size: int = 2
    requests: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)
    endpoint: str = ""

    def accept(self, key: ApiKey) -> None:
        self.keys[f"{key.tenancy}/{key.user}/{key.fingerprint}"] = key.private.public_key()

    def put(self, bucket: str, name: str, data: bytes, created: datetime | None = None) -> None:
        self.buckets.setdefault(bucket, {})[name] = StoredObject(data, created or datetime.now(UTC))


def _handler(state: FakeObjectStorage) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            return

        def _send(self, status: int, body: bytes, content_type: str = "application/json") -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("opc-request-id", "fake-request")
            self.end_headers()
            self.wfile.write(body)

        def _error(self, status: int, code: str, message: str) -> None:
            self._send(status, json.dumps({"code": code, "message": message}).encode())

        def _verified(self) -> bool:
            auth = self.headers.get("Authorization", "")
            if not auth.startswith("Signature "):
                return False
            params = dict(_SIGNATURE.findall(auth))
            public = state.keys.get(params.get("keyId", ""))
            if public is None or params.get("algorithm") != "rsa-sha256":
                return False
            lines = []
            for name in params.get("headers", "").split():
                if name == "(request-target)":
                    lines.append(f"(request-target): {self.command.lower()} {self.path}")
                else:
                    lines.append(f"{name}: {self.headers.get(name, '')}")
            try:
                public.verify(
                    base64.b64decode(params.get("signature", "")),
                    "\n".join(lines).encode(),
                    padding.PKCS1v15(),
                    hashes.SHA256(),
                )
            except (InvalidSignature, ValueError):
                return False
            return True

        def do_GET(self) -> None:
            url = urlsplit(self.path)
            state.requests.append(("GET", url.path, {k: v[0] for k, v in parse_qs(url.query).items()}))
            if not self._verified():
                self._error(
                    401,
                    "NotAuthenticated",
                    "The required information to complete authentication was not provided or was incorrect.",
                )
                return
            if state.fail_status is not None:
                self._error(state.fail_status, "InternalServerError", "injected failure")
                return
            parts = url.path.split("/")
            # /n/{ns}/b/{bucket}/o[/{object}]
            if len(parts) < 6 or parts[1] != "n" or parts[3] != "b" or parts[5] != "o":
                self._error(404, "NotFound", "unknown path")
                return
            namespace, bucket = unquote(parts[2]), unquote(parts[4])
            objects = state.buckets.get(bucket)
            if namespace != state.namespace or objects is None:
                self._error(
                    404,
                    "BucketNotFound",
                    f"Either the bucket named '{bucket}' does not exist in the namespace '{namespace}' "
                    "or you are not authorized to access it",
                )
                return
            if len(parts) == 6 or parts[6] == "":
                self._list(objects, parse_qs(url.query))
                return
            name = unquote("/".join(parts[6:]))
            stored = objects.get(name)
            if stored is None:
                self._error(404, "ObjectNotFound", f"The object '{name}' was not found in the bucket '{bucket}'")
                return
            self._send(200, stored.data, "application/octet-stream")

        def _list(self, objects: dict[str, StoredObject], query: dict[str, list[str]]) -> None:
            prefix = query.get("prefix", [""])[0]
            start = query.get("start", [""])[0]
            names = sorted(n for n in objects if n.startswith(prefix) and n >= start)
            page, rest = names[: state.page_size], names[state.page_size :]
            body = {
                "objects": [
                    {
                        "name": n,
                        "size": len(objects[n].data),
                        "timeCreated": objects[n].created.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
                    }
                    for n in page
                ],
                "prefixes": [],
                "nextStartWith": rest[0] if rest else None,
            }
            self._send(200, json.dumps(body).encode())

    return Handler


@contextmanager
def running(state: FakeObjectStorage) -> Iterator[FakeObjectStorage]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.endpoint = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
