"""CredentialService over gRPC: proto in, one vault call, proto out; and ``build`` to wire it all."""

from __future__ import annotations

import asyncio
from typing import Any, TypeAlias

import grpc
from google.protobuf.timestamp_pb2 import Timestamp

from cloudact_shared.clients import PIPELINE_TOKEN_HEADER
from cloudact_shared.gen.cloudact.credential.v1 import credential_service_pb2 as pb
from cloudact_shared.gen.cloudact.credential.v1 import credential_service_pb2_grpc as pb_grpc
from cloudact_shared.server import BuiltServer, ServiceRegistration, build_service_server, remaining_timeout
from cloudact_shared.settings import CloudactSettings
from credential_svc.adapters.keyring import LocalKeyRing
from credential_svc.adapters.records import SqliteCredentialRecords
from credential_svc.service import CredentialMetadata, CredentialVault, NewCredential, Secret

SERVICE_NAME: str = pb.DESCRIPTOR.services_by_name["CredentialService"].full_name

_Context: TypeAlias = grpc.aio.ServicerContext[Any, Any]


class CredentialServicer(pb_grpc.CredentialServiceServicer):
    """Translates CredentialService RPCs to ``CredentialVault`` calls. Errors are mapped by the
    shared ErrorInterceptor, so no handler catches anything."""

    def __init__(self, vault: CredentialVault, *, default_timeout: float) -> None:
        self._vault = vault
        self._default_timeout = default_timeout

    async def CreateCredential(
        self, request: pb.CreateCredentialRequest, context: _Context
    ) -> pb.CreateCredentialResponse:
        new = NewCredential(
            org_slug=request.org_slug,
            provider=request.provider,
            display_name=request.display_name,
            secret=Secret.of(request.secret),
            config=dict(request.config),
        )
        created = await self._vault.create(new, timeout=self._timeout(context))
        return pb.CreateCredentialResponse(credential=_credential(created))

    async def ListCredentials(
        self, request: pb.ListCredentialsRequest, context: _Context
    ) -> pb.ListCredentialsResponse:
        found = await self._vault.list_credentials(request.org_slug, request.provider)
        return pb.ListCredentialsResponse(credentials=[_credential(item) for item in found])

    async def GetCredential(self, request: pb.GetCredentialRequest, context: _Context) -> pb.GetCredentialResponse:
        found = await self._vault.get(request.org_slug, request.credential_id)
        return pb.GetCredentialResponse(credential=_credential(found))

    async def RotateCredential(
        self, request: pb.RotateCredentialRequest, context: _Context
    ) -> pb.RotateCredentialResponse:
        new_secret = Secret.of(request.new_secret) if request.new_secret else None
        rotated = await self._vault.rotate(
            request.org_slug, request.credential_id, new_secret, timeout=self._timeout(context)
        )
        return pb.RotateCredentialResponse(credential=_credential(rotated))

    async def DeleteCredential(
        self, request: pb.DeleteCredentialRequest, context: _Context
    ) -> pb.DeleteCredentialResponse:
        await self._vault.delete(request.org_slug, request.credential_id)
        return pb.DeleteCredentialResponse()

    async def DecryptCredential(
        self, request: pb.DecryptCredentialRequest, context: _Context
    ) -> pb.DecryptCredentialResponse:
        decrypted = await self._vault.decrypt(
            request.org_slug,
            request.credential_id,
            authorization=_authorization(context),
            timeout=self._timeout(context),
        )
        return pb.DecryptCredentialResponse(
            credential=_credential(decrypted.credential), secret=decrypted.secret.reveal()
        )

    def _timeout(self, context: _Context) -> float:
        return remaining_timeout(context, self._default_timeout)


def registration(servicer: CredentialServicer) -> ServiceRegistration:
    """How ``build_service_server`` adds the servicer (name taken from the descriptor)."""
    return ServiceRegistration(servicer, pb_grpc.add_CredentialServiceServicer_to_server, SERVICE_NAME)


async def build(settings: CloudactSettings, *, address: str | None = None) -> BuiltServer:
    """Builds (does not start) credential_svc: key ring, SQLite records, vault, servicer, server.

    Args:
        settings: Shared settings; ``data_dir`` holds ``secrets/keyring.json`` and ``credentials.sqlite``.
        address: Overrides ``settings.credential_address`` (tests pass ``127.0.0.1:0``).
    """
    keyring = await LocalKeyRing.open(settings.data_dir / "secrets" / "keyring.json")
    pipeline_token = await asyncio.to_thread(settings.resolved_pipeline_token)
    records = await SqliteCredentialRecords.open(settings.data_dir / "credentials.sqlite")
    try:
        vault = CredentialVault(records, keyring, pipeline_token=pipeline_token)
        servicer = CredentialServicer(vault, default_timeout=settings.downstream_timeout_seconds)
        return build_service_server(
            [registration(servicer)], address or settings.credential_address, on_stop=[records.close]
        )
    except BaseException:
        await records.close()
        raise


def _authorization(context: _Context) -> str | None:
    """The single ``authorization`` header value, or None (absent or sent more than once)."""
    values = [value for key, value in (context.invocation_metadata() or ()) if key == PIPELINE_TOKEN_HEADER]
    return values[0] if len(values) == 1 and isinstance(values[0], str) else None


def _credential(metadata: CredentialMetadata) -> pb.Credential:
    message = pb.Credential(
        credential_id=metadata.credential_id,
        org_slug=metadata.org_slug,
        provider=metadata.provider,
        display_name=metadata.display_name,
        secret_field_names=metadata.secret_field_names,
        key_version=metadata.key_version,
        created_at=_timestamp(metadata.created_at),
        config=dict(metadata.config),
    )
    if metadata.rotated_at is not None:
        message.rotated_at.CopyFrom(_timestamp(metadata.rotated_at))
    return message


def _timestamp(value: Any) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(value)
    return stamp
