"""Bearer tokens: Ed25519-signed JWTs (PyJWT) that name one organisation and one role.

Files under ``secrets/tokens/`` (directory 0700):
- ``signing-key.pem``: the Ed25519 private key (0600); only ``cloudact tokens`` and TokenService mint.
- ``public/<kid>.pem``: the public keys services verify with (a retired key can stay to verify).
- ``issued.jsonl``: one line per minted token, metadata only (a token is never stored).
- ``revoked.json``: revoked token ids; every service re-reads it when it changes, so a revocation
  holds everywhere from the next call on.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from enum import IntEnum
from pathlib import Path

import jwt
from cachetools import LRUCache
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from cloudact_shared.auth.files import write_atomically
from cloudact_shared.errors import CallerUnauthenticated, FieldViolation, InvalidArgument, NotFound
from cloudact_shared.naming import echo, validate_org_slug

ISSUER = "cloudact"
AUDIENCE = "cloudact"
DEFAULT_TTL = timedelta(days=30)
MAX_TTL = timedelta(days=365)
_MAX_TOKEN_CHARS = 4096
_LEEWAY = timedelta(seconds=30)
# Verified tokens a verifier remembers (by digest): a service's live callers, with room to spare.
_REMEMBERED_TOKENS = 4096
_MAX_SUBJECT = 200
_ALGORITHM = "EdDSA"


class Role(IntEnum):
    """What a token may do in its organisation; the values are ``cloudact.auth.v1.Role``'s."""

    VIEWER = 1
    OPERATOR = 2
    ADMIN = 3

    @classmethod
    def parse(cls, text: str) -> Role:
        """``viewer``, ``operator`` or ``admin`` (any case).

        Raises:
            InvalidArgument: any other text.
        """
        try:
            return cls[text.strip().upper()]
        except KeyError:
            raise InvalidArgument(
                f"role {echo(text)} is not one of viewer, operator, admin",
                violations=[FieldViolation("role", "viewer, operator or admin")],
            ) from None

    @property
    def label(self) -> str:
        return self.name.lower()


@dataclass(frozen=True)
class TokenInfo:
    """A token's claims (never the token itself), and when it was revoked if it was."""

    token_id: str
    org_slug: str
    role: Role
    subject: str
    issued_at: datetime
    expires_at: datetime
    revoked_at: datetime | None = None

    def to_json(self) -> str:
        return json.dumps(
            {
                "token_id": self.token_id,
                "org_slug": self.org_slug,
                "role": self.role.label,
                "subject": self.subject,
                "issued_at": self.issued_at.isoformat(),
                "expires_at": self.expires_at.isoformat(),
            },
            sort_keys=True,
        )

    @classmethod
    def from_json(cls, line: str) -> TokenInfo:
        data = json.loads(line)
        return cls(
            token_id=data["token_id"],
            org_slug=data["org_slug"],
            role=Role.parse(data["role"]),
            subject=data["subject"],
            issued_at=datetime.fromisoformat(data["issued_at"]),
            expires_at=datetime.fromisoformat(data["expires_at"]),
        )


def _utc_now() -> datetime:
    return datetime.now(UTC)


class _TokenFiles:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.signing_key = directory / "signing-key.pem"
        self.public = directory / "public"
        self.issued = directory / "issued.jsonl"
        self.revoked = directory / "revoked.json"

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Serialises writers across processes (the CLI and credential_svc may both write)."""
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        with open(self.directory / ".lock", "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def revoked_ids(self) -> dict[str, str]:
        try:
            data = json.loads(self.revoked.read_text())
        except FileNotFoundError:
            return {}
        return {str(k): str(v) for k, v in data.get("revoked", {}).items()}


class TokenAuthority:
    """Mints, lists and revokes tokens with the signing key (created on first use).

    Args:
        directory: ``secrets/tokens``.
        clock: Wall clock (tests pass a fixed one).
    """

    def __init__(self, directory: Path, *, clock: Callable[[], datetime] = _utc_now) -> None:
        self._files = _TokenFiles(directory)
        self._clock = clock
        self._key, self._kid = _signing_key(self._files)

    def __repr__(self) -> str:
        return f"TokenAuthority(directory={str(self._files.directory)!r}, kid={self._kid!r})"

    def mint(
        self, org_slug: str, role: Role, *, ttl: timedelta = DEFAULT_TTL, subject: str = ""
    ) -> tuple[str, TokenInfo]:
        """A new signed token and its metadata (recorded in ``issued.jsonl``).

        Raises:
            InvalidArgument: bad org slug, a TTL outside (0, 365 days], or a subject too long.
        """
        validate_org_slug(org_slug)
        if not timedelta(0) < ttl <= MAX_TTL:
            raise InvalidArgument(
                f"ttl must be more than 0 and at most {MAX_TTL.days} days",
                violations=[FieldViolation("ttl", f"more than 0, at most {MAX_TTL.days} days")],
            )
        if len(subject) > _MAX_SUBJECT:
            raise InvalidArgument(
                f"subject must be at most {_MAX_SUBJECT} characters",
                violations=[FieldViolation("subject", f"at most {_MAX_SUBJECT} characters")],
            )
        now = self._clock().replace(microsecond=0)
        info = TokenInfo(str(uuid.uuid4()), org_slug, role, subject, now, now + ttl)
        claims = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": subject,
            "jti": info.token_id,
            "org": org_slug,
            "role": role.label,
            "iat": int(now.timestamp()),
            "exp": int(info.expires_at.timestamp()),
        }
        token = jwt.encode(claims, self._key, algorithm=_ALGORITHM, headers={"kid": self._kid})
        with self._files.locked(), open(self._files.issued, "a") as handle:
            os.chmod(self._files.issued, 0o600)
            handle.write(info.to_json() + "\n")
        return token, info

    def list_tokens(self, org_slug: str | None = None) -> list[TokenInfo]:
        """Every minted token (of ``org_slug`` when given), newest first, with revocations."""
        revoked = self._files.revoked_ids()
        tokens = []
        with contextlib.suppress(FileNotFoundError):
            for line in self._files.issued.read_text().splitlines():
                info = TokenInfo.from_json(line)
                if org_slug is None or info.org_slug == org_slug:
                    when = revoked.get(info.token_id)
                    tokens.append(replace(info, revoked_at=datetime.fromisoformat(when) if when else None))
        return sorted(tokens, key=lambda t: t.issued_at, reverse=True)

    def revoke(self, token_id: str, *, org_slug: str | None = None) -> TokenInfo:
        """Revokes a token (idempotent); every service refuses it from its next call on.

        Raises:
            NotFound: no such token (in ``org_slug`` when given: another org's id is not found either).
        """
        found = [t for t in self.list_tokens(org_slug) if t.token_id == token_id]
        if not found:
            raise NotFound(f"token {echo(token_id)} not found", reason="TOKEN_NOT_FOUND")
        if found[0].revoked_at is not None:
            return found[0]
        now = self._clock()
        with self._files.locked():
            revoked = self._files.revoked_ids()
            revoked[token_id] = now.isoformat()
            _write_json(self._files.revoked, {"revoked": revoked})
        return replace(found[0], revoked_at=now)


class TokenVerifier:
    """Checks a bearer token's signature, issuer, audience, expiry and revocation.

    Public keys and the revocation list are cached and re-read when their files change (a stat per
    call), so a revocation made by the CLI holds at once in every service. A token whose signature
    and claims checked out is remembered by its SHA-256 digest (never the token), so a repeated call
    skips the signature check (~0.3 ms, most of a cached query's server time); expiry and revocation
    are still checked on every call.
    """

    def __init__(
        self, directory: Path, *, clock: Callable[[], datetime] = _utc_now, remembered: int = _REMEMBERED_TOKENS
    ) -> None:
        self._files = _TokenFiles(directory)
        self._clock = clock
        self._keys: dict[str, Ed25519PublicKey] = {}
        self._revoked: frozenset[str] = frozenset()
        self._revoked_stamp: tuple[int, int] | None = None
        self._verified: LRUCache[bytes, TokenInfo] = LRUCache(maxsize=remembered)

    def verify(self, token: str) -> TokenInfo:
        """The claims of a valid token.

        Raises:
            CallerUnauthenticated: malformed, badly signed, expired, not yet valid, for another
                audience, or revoked. The message says which, never echoing the token.
        """
        if not token or len(token) > _MAX_TOKEN_CHARS:
            raise _unauthenticated("the bearer token is empty or too long")
        digest = hashlib.sha256(token.encode()).digest()
        info = self._verified.get(digest)
        if info is None:
            info = self._checked(token)
            self._verified[digest] = info
        elif self._clock() > info.expires_at + _LEEWAY:
            raise _unauthenticated("the bearer token has expired")
        if info.token_id in self._revoked_ids():
            raise _unauthenticated(f"token {info.token_id} has been revoked")
        return info

    def _checked(self, token: str) -> TokenInfo:
        """The claims of a token whose signature, issuer, audience and dates check out."""
        try:
            kid = jwt.get_unverified_header(token).get("kid")
            key = self._key(str(kid))
            claims = jwt.decode(
                token,
                key,
                algorithms=[_ALGORITHM],
                audience=AUDIENCE,
                issuer=ISSUER,
                options={"require": ["exp", "iat", "jti", "iss", "aud"]},
                leeway=_LEEWAY,
            )
            info = TokenInfo(
                token_id=str(claims["jti"]),
                org_slug=validate_org_slug(str(claims["org"])),
                role=Role.parse(str(claims["role"])),
                subject=str(claims.get("sub", "")),
                issued_at=datetime.fromtimestamp(int(claims["iat"]), UTC),
                expires_at=datetime.fromtimestamp(int(claims["exp"]), UTC),
            )
        except jwt.ExpiredSignatureError:
            raise _unauthenticated("the bearer token has expired") from None
        except (jwt.InvalidTokenError, KeyError, ValueError, InvalidArgument):
            raise _unauthenticated("the bearer token is not valid here") from None
        return info

    def _key(self, kid: str) -> Ed25519PublicKey:
        key = self._keys.get(kid)
        if key is None:
            path = self._files.public / f"{kid}.pem"
            if not kid.isalnum() or not path.is_file():
                raise jwt.InvalidTokenError("unknown signing key")
            loaded = serialization.load_pem_public_key(path.read_bytes())
            if not isinstance(loaded, Ed25519PublicKey):
                raise jwt.InvalidTokenError("not an Ed25519 key")
            key = self._keys[kid] = loaded
        return key

    def _revoked_ids(self) -> frozenset[str]:
        try:
            stat = self._files.revoked.stat()
            stamp: tuple[int, int] | None = (stat.st_mtime_ns, stat.st_size)
        except FileNotFoundError:
            stamp = None
        if stamp != self._revoked_stamp:
            self._revoked = frozenset(self._files.revoked_ids())
            self._revoked_stamp = stamp
        return self._revoked


def _unauthenticated(message: str) -> CallerUnauthenticated:
    return CallerUnauthenticated(message, reason="INVALID_TOKEN")


def _signing_key(files: _TokenFiles) -> tuple[Ed25519PrivateKey, str]:
    """Loads the signing key, creating it (and publishing its public key) on first use."""
    with files.locked():
        if not files.signing_key.exists():
            pem = Ed25519PrivateKey.generate().private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
            write_atomically(files.signing_key, pem, mode=0o600)
        key = serialization.load_pem_private_key(files.signing_key.read_bytes(), password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise ValueError(f"{files.signing_key} is not an Ed25519 private key")
        public = key.public_key()
        raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        kid = hashlib.sha256(raw).hexdigest()[:16]
        published = files.public / f"{kid}.pem"
        if not published.exists():
            files.public.mkdir(parents=True, exist_ok=True, mode=0o700)
            pem = public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
            write_atomically(published, pem, mode=0o644)
    return key, kid


def parse_ttl(text: str) -> timedelta:
    """``30d``, ``12h``, ``90m`` or ``3600s`` as a timedelta.

    Raises:
        InvalidArgument: any other form.
    """
    units = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}
    number, unit = text[:-1], text[-1:].lower()
    if unit not in units or not number.isdigit():
        raise InvalidArgument(
            f"ttl {echo(text)} is not like 30d, 12h, 90m or 3600s",
            violations=[FieldViolation("ttl", "a number followed by s, m, h or d")],
        )
    return timedelta(**{units[unit]: int(number)})


def _write_json(path: Path, data: object) -> None:
    write_atomically(path, json.dumps(data, sort_keys=True, indent=1).encode(), mode=0o600)
