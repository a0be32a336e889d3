"""Client of credential_svc: decrypts a credential over the mutual-TLS channel of ingest_svc's identity."""

from __future__ import annotations

import grpc

from cloudact_providers.connector import ResolvedCredential
from cloudact_shared.errors import from_rpc_error
from cloudact_shared.gen.cloudact.credential.v1 import credential_service_pb2 as pb
from cloudact_shared.gen.cloudact.credential.v1.credential_service_pb2_grpc import CredentialServiceStub


class CredentialClient:
    """Fetches plaintext credentials from credential_svc; never caches or logs them itself."""

    def __init__(self, channel: grpc.aio.Channel) -> None:
        self._stub = CredentialServiceStub(channel)

    async def decrypt(self, org_slug: str, credential_id: str, *, timeout: float) -> ResolvedCredential:
        """Decrypts one credential of ``org_slug``; errors keep credential_svc's code and reason."""
        request = pb.DecryptCredentialRequest(org_slug=org_slug, credential_id=credential_id)
        try:
            response = await self._stub.DecryptCredential(request, timeout=timeout)
        except grpc.aio.AioRpcError as err:
            raise from_rpc_error(err) from None
        return ResolvedCredential(
            credential_id=response.credential.credential_id,
            provider=response.credential.provider,
            config=dict(response.credential.config),
            secret=dict(response.secret),
        )
