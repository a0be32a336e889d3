"""Loopback TCP servers that answer whatever they are told: a stand-in for an endpoint_url pointed
at something that is not the cloud (a gRPC port, an internal web service)."""

from __future__ import annotations

import contextlib
import json
import socket
import socketserver
import threading
from collections.abc import Iterator
from contextlib import contextmanager

GARBAGE_MARKER = "GARBAGE-MARKER-7f3a"
BODY_MARKER = "BODY-MARKER-c91e"
GARBAGE = b"\x00\x00\x06\x04\x00\x00\x00\x00\x00\x00\x05\x00\x00@\x00" + GARBAGE_MARKER.encode() + b"\x00\xff\xfe"
"""Bytes an HTTP client cannot parse as a response: an HTTP/2 SETTINGS frame, as a gRPC port sends."""


def http_error(status: int, body: str, content_type: str = "text/plain") -> bytes:
    """A complete HTTP/1.1 error response with ``body``."""
    data = body.encode()
    head = (
        f"HTTP/1.1 {status} Error\r\nContent-Type: {content_type}\r\nContent-Length: {len(data)}\r\n"
        "Connection: close\r\n\r\n"
    )
    return head.encode() + data


def marker_bodies(status: int) -> list[bytes]:
    """HTTP errors whose body carries ``BODY_MARKER``: as plain text, and in the message of the
    JSON and XML error shapes the cloud SDKs parse."""
    json_body = json.dumps(
        {
            "code": "InternalError",
            "message": BODY_MARKER,
            "error": {
                "code": status,
                "message": BODY_MARKER,
                "errors": [{"reason": "backendError", "message": BODY_MARKER}],
            },
        }
    )
    xml_body = f"<?xml version='1.0'?><Error><Code>InternalError</Code><Message>{BODY_MARKER}</Message></Error>"
    return [
        http_error(status, f"internal service on 10.0.0.7:8443 says {BODY_MARKER}"),
        http_error(status, json_body, "application/json"),
        http_error(status, xml_body, "application/xml"),
    ]


class _Answer(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        sock: socket.socket = self.request
        sock.settimeout(2)
        with contextlib.suppress(OSError):
            sock.recv(65536)  # the request (or its first part): its content does not matter
        sock.sendall(self.server.payload)  # type: ignore[attr-defined]


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


@contextmanager
def answering(payload: bytes) -> Iterator[str]:
    """A server on 127.0.0.1 that answers every connection with ``payload`` and closes it.

    Yields:
        Its base URL, ``http://127.0.0.1:<port>``.
    """
    server = _Server(("127.0.0.1", 0), _Answer)
    server.payload = payload  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
