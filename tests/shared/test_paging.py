"""Page tokens: a listing's position, bound to its query, with a single spelling."""

from __future__ import annotations

import pytest

from cloudact_shared.errors import InvalidArgument
from cloudact_shared.paging import PageTokens, page_size

POSITION = {"created_at": "2026-01-02T03:04:05+00:00", "id": "57175a76-7de3-4c2b-9b1d-1c9f0a6b2e11"}


@pytest.mark.parametrize("key", [None, b"k" * 32], ids=["unsigned", "signed"])
def test_a_token_reads_back_only_for_its_own_listing_and_query(key: bytes | None) -> None:
    tokens = PageTokens("ListThings", ["org_slug", "filter"], key)
    token = tokens.issue(["acme", ""], POSITION)
    assert tokens.read(token, ["acme", ""]) == POSITION
    for bad_query in (["globex", ""], ["acme", "aws"]):
        with pytest.raises(InvalidArgument) as caught:
            tokens.read(token, bad_query)
        assert caught.value.reason == "INVALID_PAGE_TOKEN" and "org_slug and filter" in caught.value.message
    with pytest.raises(InvalidArgument):
        PageTokens("ListOther", ["org_slug", "filter"], key).read(token, ["acme", ""])
    for garbage in ("", "x" * 600, "!!", token + "A", token.replace(".", "") if key else token + ".AAAA"):
        with pytest.raises(InvalidArgument):
            tokens.read(garbage, ["acme", ""])


def test_a_signed_token_cannot_be_edited_or_made_up() -> None:
    tokens = PageTokens("ListThings", ["org_slug"], b"k" * 32)
    payload, mac = tokens.issue(["acme"], POSITION).split(".")
    forged = PageTokens("ListThings", ["org_slug"]).issue(["acme"], {**POSITION, "id": "other"})
    for token in (
        f"{forged}.{mac}",
        f"{payload}.{mac[:-2]}AA",
        PageTokens("ListThings", ["org_slug"], b"x" * 32).issue(["acme"], POSITION),
    ):
        with pytest.raises(InvalidArgument):
            tokens.read(token, ["acme"])


def test_page_size_defaults_caps_and_refuses_negative() -> None:
    assert [page_size(n, default=50, maximum=100) for n in (0, 1, 100, 5000)] == [50, 1, 100, 100]
    with pytest.raises(InvalidArgument):
        page_size(-1, default=50, maximum=100)
