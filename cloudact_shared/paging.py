"""Keyset pagination shared by the List RPCs: bounded page sizes and page tokens.

A page token is ``base64url(JSON)`` of where the previous page stopped plus the query it belongs to
(the org and the filters), followed, when the issuer has a key, by ``.`` and a truncated HMAC over
both. A token is refused (INVALID_ARGUMENT ``INVALID_PAGE_TOKEN``) when it was edited, forged, or
sent with another query; its only spelling is the one issued (base64 decoders accept several).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
from collections.abc import Mapping, Sequence

from cloudact_shared.errors import FieldViolation, InvalidArgument

_FORMAT = 1
_MAX_TOKEN_CHARS = 512
_MAC_BYTES = 16
_BASE64URL = re.compile(r"[A-Za-z0-9_-]*")


def page_size(requested: int, *, default: int, maximum: int) -> int:
    """``requested`` with 0 meaning ``default`` and values above ``maximum`` lowered to it.

    Raises:
        InvalidArgument: a negative size.
    """
    if requested < 0:
        raise InvalidArgument(
            f"page_size {requested} is negative",
            violations=[FieldViolation("page_size", f"must be 0 (default {default}) or more")],
        )
    return min(requested or default, maximum)


class PageTokens:
    """Issues and reads the page tokens of one listing.

    Args:
        listing: Names the listing (e.g. ``"ListRuns"``): a token of one listing fails in another.
        query_fields: The request fields a token is bound to, for the error message.
        key: When given, tokens carry an HMAC under it, so a position cannot be made up at all (use
            one key for every replica that answers the listing).
    """

    def __init__(self, listing: str, query_fields: Sequence[str], key: bytes | None = None) -> None:
        self._listing = listing
        self._query_fields = " and ".join(query_fields)
        self._key = key

    def issue(self, query: Sequence[str], position: Mapping[str, str]) -> str:
        """The token of the page after ``position`` for ``query`` (the values the listing is bound to)."""
        payload = json.dumps(
            {"v": _FORMAT, "listing": self._listing, "query": list(query), "after": dict(position)},
            separators=(",", ":"),
            sort_keys=True,
        ).encode()
        token = _encode(payload)
        return f"{token}.{_encode(self._mac(payload))}" if self._key is not None else token

    def read(self, token: str, query: Sequence[str]) -> dict[str, str]:
        """The position a token names.

        Raises:
            InvalidArgument: not a token this issuer wrote for this listing and ``query``.
        """
        if len(token) > _MAX_TOKEN_CHARS:
            raise self.invalid()
        payload_text, _, mac_text = token.partition(".")
        payload = _decode(payload_text)
        if payload is None or (self._key is None) != (mac_text == ""):
            raise self.invalid()
        if self._key is not None:
            mac = _decode(mac_text)
            if mac is None or not hmac.compare_digest(mac, self._mac(payload)):
                raise self.invalid()
        try:
            document = json.loads(payload)
            expected = (_FORMAT, self._listing, list(query))
            if (document["v"], document["listing"], document["query"]) != expected:
                raise self.invalid()
            after = document["after"]
            if not isinstance(after, dict) or not all(isinstance(v, str) for v in after.values()):
                raise self.invalid()
        except (ValueError, TypeError, KeyError):
            raise self.invalid() from None
        return {str(k): v for k, v in after.items()}

    def invalid(self) -> InvalidArgument:
        """The error of a bad token (also for a position that no longer parses)."""
        description = f"must be the next_page_token of a previous call with the same {self._query_fields}"
        return InvalidArgument(
            f"page_token {description}",
            reason="INVALID_PAGE_TOKEN",
            violations=[FieldViolation("page_token", description)],
        )

    def _mac(self, payload: bytes) -> bytes:
        assert self._key is not None
        return hmac.new(self._key, payload, hashlib.sha256).digest()[:_MAC_BYTES]


def _encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _decode(text: str) -> bytes | None:
    """The bytes ``text`` encodes, if ``_encode`` would have written exactly ``text`` for them."""
    if not text or not _BASE64URL.fullmatch(text):
        return None
    try:
        decoded = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        return None
    return decoded if _encode(decoded) == text else None
