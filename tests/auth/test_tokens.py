"""Bearer tokens: minted offline, verified by every service, revoked everywhere at once."""

from __future__ import annotations

import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jwt
import pytest

from cloudact_shared.auth import Role, TokenAuthority, TokenVerifier, parse_ttl
from cloudact_shared.errors import CallerUnauthenticated, InvalidArgument, NotFound


def test_a_minted_token_verifies_with_its_org_role_and_expiry(tmp_path: Path) -> None:
    token, info = TokenAuthority(tmp_path).mint("acme", Role.OPERATOR, ttl=timedelta(days=2), subject="ci")
    claims = TokenVerifier(tmp_path).verify(token)
    assert (claims.org_slug, claims.role, claims.subject, claims.token_id) == (
        "acme",
        Role.OPERATOR,
        "ci",
        info.token_id,
    )
    assert claims.expires_at - claims.issued_at == timedelta(days=2)
    assert stat.S_IMODE((tmp_path / "signing-key.pem").stat().st_mode) == 0o600
    assert token not in (tmp_path / "issued.jsonl").read_text()  # metadata only


def test_expired_tampered_foreign_and_garbage_tokens_are_refused(tmp_path: Path) -> None:
    past = datetime.now(UTC) - timedelta(days=3)
    expired, _ = TokenAuthority(tmp_path, clock=lambda: past).mint("acme", Role.ADMIN, ttl=timedelta(days=1))
    good, _ = TokenAuthority(tmp_path).mint("acme", Role.VIEWER)
    foreign, _ = TokenAuthority(tmp_path / "another-deployment").mint("acme", Role.ADMIN)
    header, payload, signature = good.split(".")
    forged_payload = jwt.utils.base64url_encode(
        jwt.utils.base64url_decode(payload).replace(b'"viewer"', b'"admin"')
    ).decode()
    verifier = TokenVerifier(tmp_path)
    cases = {
        "expired": expired,
        "forged role": f"{header}.{forged_payload}.{signature}",
        "another deployment's key": foreign,
        "unsigned": jwt.encode({"org": "acme", "role": "admin"}, key="", algorithm="none"),
        "garbage": "not-a-token",
        "huge": "a" * 10_000,
    }
    for name, token in cases.items():
        with pytest.raises(CallerUnauthenticated) as caught:
            verifier.verify(token)
        assert token not in caught.value.message, name
    assert "expired" in _refusal(verifier, expired)


def _refusal(verifier: TokenVerifier, token: str) -> str:
    with pytest.raises(CallerUnauthenticated) as caught:
        verifier.verify(token)
    return caught.value.message


def test_a_revocation_by_one_process_holds_in_every_verifier_at_once(tmp_path: Path) -> None:
    cli = TokenAuthority(tmp_path)
    token, info = cli.mint("acme", Role.ADMIN)
    running_service = TokenVerifier(tmp_path)
    assert running_service.verify(token).token_id == info.token_id
    TokenAuthority(tmp_path).revoke(info.token_id)
    assert "revoked" in _refusal(running_service, token)
    listed = {t.token_id: t for t in cli.list_tokens("acme")}
    assert listed[info.token_id].revoked_at is not None


def test_an_org_cannot_revoke_or_see_another_orgs_tokens(tmp_path: Path) -> None:
    authority = TokenAuthority(tmp_path)
    _, acme = authority.mint("acme", Role.ADMIN)
    authority.mint("globex", Role.ADMIN)
    with pytest.raises(NotFound):
        authority.revoke(acme.token_id, org_slug="globex")
    assert [t.org_slug for t in authority.list_tokens("globex")] == ["globex"]


@pytest.mark.parametrize("ttl", [timedelta(0), timedelta(days=366), timedelta(seconds=-5)])
def test_ttl_is_bounded(tmp_path: Path, ttl: timedelta) -> None:
    with pytest.raises(InvalidArgument):
        TokenAuthority(tmp_path).mint("acme", Role.VIEWER, ttl=ttl)


def test_ttl_and_role_parsing() -> None:
    assert parse_ttl("30d") == timedelta(days=30) and parse_ttl("90m") == timedelta(minutes=90)
    for bad in ("30", "d", "1w", "-1d", ""):
        with pytest.raises(InvalidArgument):
            parse_ttl(bad)
    assert Role.parse("Admin") is Role.ADMIN
    with pytest.raises(InvalidArgument):
        Role.parse("root")


def test_a_remembered_token_still_expires_and_is_kept_by_digest_only(tmp_path: Path) -> None:
    token, _ = TokenAuthority(tmp_path).mint("acme", Role.VIEWER, ttl=timedelta(days=1))
    now = [datetime.now(UTC)]
    verifier = TokenVerifier(tmp_path, clock=lambda: now[0])
    assert verifier.verify(token).org_slug == "acme"
    assert verifier.verify(token).org_slug == "acme"  # the remembered verification
    assert token not in repr(vars(verifier))
    now[0] += timedelta(days=1, minutes=1)
    assert "expired" in _refusal(verifier, token)
