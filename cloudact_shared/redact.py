"""Redaction of credentials carried in URLs, before a URL or an SDK's message reaches an error or a log.

A URL can carry a credential in its userinfo (``https://user:password@host/``), in its query string
(an Azure SAS token, the signature of an AWS or Google presigned URL, an OAuth token), and, for OCI
pre-authenticated requests, in its path (``/p/<token>/n/...``). ``redact_url`` replaces each of
those with ``REDACTED`` and keeps the rest, so a message still says which host and object it was
about; ``redact_text`` does the same for every URL inside free text (an SDK exception's message),
and for credential ``name=value`` pairs written outside a URL (a bare SAS token, a connection
string's ``AccountKey=...``). ``strip_url`` keeps only what names an object (scheme, host, path):
that is what may be stored.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

REDACTED = "REDACTED"

# Query parameters that are, or are part of, a credential (compared in lower case).
_SECRET_PARAMS = frozenset(
    {
        # Azure Storage SAS tokens (service, account and user delegation SAS).
        *("sig", "se", "st", "sv", "sp", "sr", "srt", "ss", "spr", "sip", "si", "sdd", "ses", "skoid"),
        *("sktid", "skt", "ske", "sks", "skv", "saoid", "suoid", "scid", "skdutid", "sduoid"),
        # AWS presigned URLs (SigV4 and SigV2).
        *("x-amz-signature", "x-amz-credential", "x-amz-security-token", "x-amz-date", "x-amz-expires"),
        *("x-amz-algorithm", "x-amz-signedheaders", "awsaccesskeyid", "signature", "expires"),
        # Google Cloud Storage signed URLs.
        *("x-goog-signature", "x-goog-credential", "x-goog-date", "x-goog-expires", "googleaccessid"),
        # OAuth and the usual names of keys and passwords; connection string keys.
        *("token", "access_token", "id_token", "refresh_token", "code", "client_secret", "password"),
        *("key", "api_key", "apikey", "secret", "sas", "accountkey", "sharedaccesssignature", "sessiontoken"),
    }
)
# Any other parameter whose name contains one of these is taken for a credential too.
_SECRET_WORDS = ("sig", "token", "secret", "passw", "credential", "key", "auth")
_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]{1,15}://[^\s'\"<>`]+")
_PAIR = re.compile(
    r"(?i)(?<![\w.-])(" + "|".join(re.escape(n) for n in sorted(_SECRET_PARAMS, key=len, reverse=True)) + r")"
    r"=([^&;\s'\"<>]+)"
)
# OCI pre-authenticated request: https://objectstorage.<region>.oraclecloud.com/p/<token>/n/<ns>/b/...
_OCI_PAR = re.compile(r"/p/[^/]+/(?=n/)")


def redact_url(url: str) -> str:
    """``url`` with its userinfo, its credential query parameters and any OCI PAR token redacted.

    ``https://u:p@h/c/b?sv=2023&sig=abc&comp=list`` becomes
    ``https://REDACTED@h/c/b?sv=REDACTED&sig=REDACTED&comp=list``. Text that does not parse as a
    URL has its credential ``name=value`` pairs redacted instead.
    """
    try:
        parts = urlsplit(url)
    except ValueError:
        # e.g. an unbalanced IPv6 bracket: still never let a signature through.
        return _PAIR.sub(_redacted_pair, url)
    netloc = parts.netloc
    if "@" in netloc:
        netloc = f"{REDACTED}@{netloc.rsplit('@', 1)[1]}"
    path = _OCI_PAR.sub(f"/p/{REDACTED}/", parts.path)
    fragment = _redact_params(parts.fragment) if "=" in parts.fragment else parts.fragment
    return urlunsplit((parts.scheme, netloc, path, _redact_params(parts.query), fragment))


def redact_text(text: str) -> str:
    """Free text (an SDK's exception message) with every URL in it passed through ``redact_url``,
    and credential ``name=value`` pairs outside URLs (``sig=...``, ``AccountKey=...``) redacted."""
    return _PAIR.sub(_redacted_pair, _URL.sub(lambda m: redact_url(m[0]), text))


def strip_url(url: str) -> str:
    """Only what names an object: scheme, host, port and path; no userinfo, query or fragment.

    ``https://u:p@acct.blob.core.windows.net/c/part_1.csv?sv=...&sig=...`` becomes
    ``https://acct.blob.core.windows.net/c/part_1.csv``.
    """
    parts = urlsplit(url)
    host = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit((parts.scheme, host, _OCI_PAR.sub(f"/p/{REDACTED}/", parts.path), "", ""))


def is_secret_param(name: str) -> bool:
    """Whether a query parameter (or ``name=value`` key) of this name carries a credential."""
    lowered = name.lower()
    return lowered in _SECRET_PARAMS or any(word in lowered for word in _SECRET_WORDS)


def _redact_params(query: str) -> str:
    """Redacts the values of credential parameters; keeps names, order and the original encoding."""
    if not query:
        return query
    items = []
    for item in query.split("&"):
        name, sep, _ = item.partition("=")
        items.append(f"{name}={REDACTED}" if sep and is_secret_param(name) else item)
    return "&".join(items)


def _redacted_pair(match: re.Match[str]) -> str:
    return f"{match[1]}={REDACTED}"
