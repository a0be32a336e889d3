"""Client of credential_svc: decrypts a credential over the mutual-TLS channel of ingest_svc's identity."""

from __future__ import annotations

import grpc

from cloudact_providers.connector import ResolvedCredential
from cloudact_shared.errors import FailedPrecondition, NotFound, from_rpc_error
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


class CredentialChooser:
    """Finds the credential a run request leaves out: the org's one credential of the provider.

    It lists them on credential_svc's public port with the caller's own bearer token (forwarded,
    never stored or logged), so it sees exactly what the caller may see; ingest_svc's certificate
    opens only the internal port, which lists nothing.
    """

    def __init__(self, channel: grpc.aio.Channel) -> None:
        self._stub = CredentialServiceStub(channel)

    async def only_one(self, org_slug: str, provider: str, authorization: str, *, timeout: float) -> str:
        """The id of the org's single credential of ``provider``.

        Raises:
            NotFound: the org has none for the provider.
            FailedPrecondition: it has several; the message lists their ids and names.
            (and credential_svc's own refusals of the caller, with their code)
        """
        request = pb.ListCredentialsRequest(org_slug=org_slug, provider=provider, page_size=100)
        try:
            response = await self._stub.ListCredentials(
                request, timeout=timeout, metadata=(("authorization", authorization),)
            )
        except grpc.aio.AioRpcError as err:
            raise from_rpc_error(err) from None
        found = list(response.credentials)
        if not found:
            raise NotFound(
                f"{org_slug} has no {provider} credential: create one, or name it with credential_id",
                reason="NO_CREDENTIAL",
            )
        if len(found) > 1 or response.next_page_token:
            named = ", ".join(f"{c.credential_id} ({c.display_name})" for c in found[:10])
            raise FailedPrecondition(
                f"{org_slug} has several {provider} credentials ({named}): name one with credential_id",
                reason="CREDENTIAL_AMBIGUOUS",
            )
        return str(found[0].credential_id)
