"""Client-side helpers: channels to the other services and the pipeline identity metadata."""

from __future__ import annotations

import grpc

PIPELINE_TOKEN_HEADER = "authorization"


def open_channel(address: str) -> grpc.aio.Channel:
    """An insecure channel for loopback / in-cluster traffic (TLS terminates at the mesh)."""
    return grpc.aio.insecure_channel(address, options=[("grpc.max_receive_message_length", 64 * 1024 * 1024)])


def pipeline_identity(token: str) -> tuple[tuple[str, str], ...]:
    """The call metadata that proves the pipeline identity to credential_svc."""
    return ((PIPELINE_TOKEN_HEADER, f"Bearer {token}"),)
