"""CredentialService over gRPC: proto in, one vault call, proto out; and ``build`` to wire it all."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeAlias

import grpc
from google.protobuf.timestamp_pb2 import Timestamp

from cloudact_shared.auth.tokens import TokenAuthority
from cloudact_shared.gen.cloudact.credential.v1 import credential_service_pb2 as pb
from cloudact_shared.gen.cloudact.credential.v1 import credential_service_pb2_grpc as pb_grpc
from cloudact_shared.server import BuiltServer, ServiceRegistration, build_service_server, remaining_timeout
from cloudact_shared.settings import CloudactSettings
from cloudact_shared.telemetry import set_run_attributes
from credential_svc.adapters.keyring import LocalKeyRing
from credential_svc.adapters.records import SqliteCredentialRecords
from credential_svc.secret import Secret
from credential_svc.service import CredentialMetadata, CredentialVault, NewCredential
from credential_svc.token_server import TokenServicer, token_registration

if TYPE_CHECKING:
    # Imported when chosen (open_key_service): Google's client libraries cost start-up time the
    # embedded default should not pay (tests/contract/test_import_cost.py).
    from credential_svc.adapters.cloudkms import CloudKmsKeyService

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
            schedule=request.schedule,
        )
        created = await self._vault.create(new, timeout=self._timeout(context))
        return pb.CreateCredentialResponse(credential=_credential(created))

    async def ListCredentials(
        self, request: pb.ListCredentialsRequest, context: _Context
    ) -> pb.ListCredentialsResponse:
        page = await self._vault.list_credentials(
            request.org_slug, request.provider, page_size=request.page_size, page_token=request.page_token
        )
        return pb.ListCredentialsResponse(
            credentials=[_credential(item) for item in page.credentials], next_page_token=page.next_page_token
        )

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

    async def UpdateCredentialSchedule(
        self, request: pb.UpdateCredentialScheduleRequest, context: _Context
    ) -> pb.UpdateCredentialScheduleResponse:
        updated = await self._vault.set_schedule(request.org_slug, request.credential_id, request.schedule)
        return pb.UpdateCredentialScheduleResponse(credential=_credential(updated))

    async def DeleteCredential(
        self, request: pb.DeleteCredentialRequest, context: _Context
    ) -> pb.DeleteCredentialResponse:
        await self._vault.delete(request.org_slug, request.credential_id)
        return pb.DeleteCredentialResponse()

    async def DecryptCredential(
        self, request: pb.DecryptCredentialRequest, context: _Context
    ) -> pb.DecryptCredentialResponse:
        # The org only: the credential's secret, and the request and response, stay off the span.
        set_run_attributes(org_slug=request.org_slug)
        decrypted = await self._vault.decrypt(request.org_slug, request.credential_id, timeout=self._timeout(context))
        return pb.DecryptCredentialResponse(
            credential=_credential(decrypted.credential), secret=decrypted.secret.reveal()
        )

    def _timeout(self, context: _Context) -> float:
        return remaining_timeout(context, self._default_timeout)


def registration(servicer: CredentialServicer) -> ServiceRegistration:
    """How ``build_service_server`` adds the servicer (name taken from the descriptor)."""
    return ServiceRegistration(
        servicer, pb_grpc.add_CredentialServiceServicer_to_server, pb.DESCRIPTOR.services_by_name["CredentialService"]
    )


async def open_key_service(settings: CloudactSettings) -> LocalKeyRing | CloudKmsKeyService:
    """The key-encryption service ``settings.key_backend`` names: Cloud KMS, or the local key ring.

    The local key ring is ``settings.keyring_path`` (moved there from an older installation's
    ``data_dir/secrets/keyring.json``). A ``CloudKmsKeyService`` must be closed (``close()``) after use.
    """
    if settings.key_backend == "cloudkms":
        from credential_svc.adapters.cloudkms import CloudKmsKeyService

        return CloudKmsKeyService.from_settings(settings)
    return await LocalKeyRing.open(settings.keyring_path, legacy_path=settings.data_dir / "secrets" / "keyring.json")


async def build(
    settings: CloudactSettings, *, address: str | None = None, internal_address: str | None = None
) -> BuiltServer:
    """Builds (does not start) credential_svc: key service, SQLite records, vault, servicer, server.

    Args:
        settings: Shared settings; ``key_backend`` picks the key service (``open_key_service``),
            ``data_dir`` holds ``credentials.sqlite``.
        address: Overrides ``settings.credential_address`` (tests pass ``127.0.0.1:0``).
        internal_address: Overrides ``settings.credential_internal_address``, the mutual-TLS port
            where the pipeline side calls DecryptCredential.
    """
    kek = await open_key_service(settings)
    releases: list[Callable[[], Awaitable[None]]] = [kek.close]
    try:
        records = await SqliteCredentialRecords.open(settings.data_dir / "credentials.sqlite")
        releases.insert(0, records.close)
        vault = CredentialVault(records, kek, allow_endpoint_overrides=settings.allow_endpoint_overrides)
        servicer = CredentialServicer(vault, default_timeout=settings.downstream_timeout_seconds)
        tokens = TokenServicer(await asyncio.to_thread(TokenAuthority, settings.tokens_path))
        return build_service_server(
            [registration(servicer), token_registration(tokens)],
            settings,
            "credential_svc",
            address=address,
            internal_address=internal_address,
            on_stop=releases,
        )
    except BaseException:
        for release in releases:
            await release()
        raise


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
        schedule=pb.Schedule(
            spec=metadata.schedule.spec,
            origin=pb.SCHEDULE_ORIGIN_DEFAULT if metadata.schedule.is_default else pb.SCHEDULE_ORIGIN_CUSTOM,
        ),
    )
    if metadata.rotated_at is not None:
        message.rotated_at.CopyFrom(_timestamp(metadata.rotated_at))
    return message


def _timestamp(value: Any) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(value)
    return stamp
