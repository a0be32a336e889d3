"""TokenService: an org's admins mint, list and revoke their own org's tokens, and nobody else's."""

from __future__ import annotations

import grpc
import pytest
from google.protobuf.duration_pb2 import Duration

from cloudact_shared.clients import open_channel
from cloudact_shared.gen.cloudact.auth.v1 import access_pb2
from cloudact_shared.gen.cloudact.auth.v1 import token_service_pb2 as pb
from cloudact_shared.gen.cloudact.auth.v1 import token_service_pb2_grpc as pb_grpc
from cloudact_shared.gen.cloudact.credential.v1 import credential_service_pb2 as cred_pb
from cloudact_shared.gen.cloudact.credential.v1 import credential_service_pb2_grpc as cred_grpc
from cloudact_shared.server import BuiltServer
from cloudact_shared.settings import CloudactSettings
from tests.channels import org_channel
from tests.credential_svc.conftest import ORG, OTHER_ORG

T = 5.0


async def test_an_admin_mints_a_token_that_works_then_revokes_it(
    settings: CloudactSettings, built: BuiltServer
) -> None:
    address = f"127.0.0.1:{built.port}"
    async with org_channel(settings, address, ORG, "admin") as admin_channel:
        admin = pb_grpc.TokenServiceStub(admin_channel)
        created = await admin.CreateToken(
            pb.CreateTokenRequest(
                org_slug=ORG, role=access_pb2.ROLE_VIEWER, subject="dashboard", ttl=Duration(seconds=3600)
            ),
            timeout=T,
        )
        assert created.info.org_slug == ORG and created.info.role == access_pb2.ROLE_VIEWER
        assert created.info.expires_at.seconds - created.info.issued_at.seconds == 3600

        async with open_channel(settings, address, token=created.token) as viewer_channel:
            viewer = cred_grpc.CredentialServiceStub(viewer_channel)
            await viewer.ListCredentials(cred_pb.ListCredentialsRequest(org_slug=ORG), timeout=T)
            listed = await admin.ListTokens(pb.ListTokensRequest(org_slug=ORG), timeout=T)
            assert created.info.token_id in {t.token_id for t in listed.tokens}
            assert created.token not in str(listed)

            revoked = await admin.RevokeToken(
                pb.RevokeTokenRequest(org_slug=ORG, token_id=created.info.token_id), timeout=T
            )
            assert revoked.info.HasField("revoked_at")
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await viewer.ListCredentials(cred_pb.ListCredentialsRequest(org_slug=ORG), timeout=T)
            assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_token_administration_stays_in_the_admins_org(settings: CloudactSettings, built: BuiltServer) -> None:
    address = f"127.0.0.1:{built.port}"
    async with org_channel(settings, address, OTHER_ORG, "admin") as other_admin_channel:
        other_admin = pb_grpc.TokenServiceStub(other_admin_channel)
        created = await other_admin.CreateToken(
            pb.CreateTokenRequest(org_slug=OTHER_ORG, role=access_pb2.ROLE_ADMIN), timeout=T
        )
        async with org_channel(settings, address, ORG, "admin") as admin_channel:
            admin = pb_grpc.TokenServiceStub(admin_channel)
            for call in (
                admin.CreateToken(pb.CreateTokenRequest(org_slug=OTHER_ORG, role=access_pb2.ROLE_ADMIN), timeout=T),
                admin.ListTokens(pb.ListTokensRequest(org_slug=OTHER_ORG), timeout=T),
                admin.RevokeToken(pb.RevokeTokenRequest(org_slug=OTHER_ORG, token_id=created.info.token_id), timeout=T),
            ):
                with pytest.raises(grpc.aio.AioRpcError) as caught:
                    await call
                assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
            # Naming its own org does not reach the other org's token either.
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await admin.RevokeToken(pb.RevokeTokenRequest(org_slug=ORG, token_id=created.info.token_id), timeout=T)
            assert caught.value.code() == grpc.StatusCode.NOT_FOUND
        async with org_channel(settings, address, OTHER_ORG, "operator") as operator_channel:
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await pb_grpc.TokenServiceStub(operator_channel).ListTokens(
                    pb.ListTokensRequest(org_slug=OTHER_ORG), timeout=T
                )
            assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
