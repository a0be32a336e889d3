"""Client side: TLS channels to the services, as a token holder or (mutual TLS) as a service.

A service's channel carries the trace of the call it serves to the service it calls (telemetry.py).
"""

from __future__ import annotations

import grpc

from cloudact_shared.auth.tls import TlsFiles, channel_credentials
from cloudact_shared.settings import CloudactSettings
from cloudact_shared.telemetry import client_interceptors

_MAX_RESPONSE_BYTES = 64 * 1024 * 1024


def open_channel(
    settings: CloudactSettings, address: str, *, token: str | None = None, service: str | None = None
) -> grpc.aio.Channel:
    """A TLS channel to ``address`` trusting the deployment's CA (use as ``async with``).

    Args:
        settings: Where the CA bundle (and a service's certificate) are.
        address: host:port to dial.
        token: A bearer token sent as ``authorization: Bearer ...`` on every call.
        service: Present this service's certificate (mutual TLS): how ingest_svc proves itself to
            the internal ports of credential_svc and focus_svc. Its calls are traced as this
            service's client spans, in the trace of the call being served.
    """
    credentials = channel_credentials(TlsFiles.from_settings(settings), service=service)
    if token is not None:
        credentials = grpc.composite_channel_credentials(credentials, grpc.access_token_call_credentials(token))
    return grpc.aio.secure_channel(
        address,
        credentials,
        options=[("grpc.max_receive_message_length", _MAX_RESPONSE_BYTES)],
        # A caller's channel (the CLI, tests) stays on grpc's plain call path: it has no trace to carry.
        interceptors=client_interceptors(service) if service is not None else None,
    )
