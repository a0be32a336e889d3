"""Validation of what callers name: org slugs, providers, credential ids, dates, and how we echo them.

Everything a caller sends is parsed here, once, at the edge of a service, into one canonical
spelling; anything that would reach a path, a dataset name or SQL is checked first. Error messages
quote caller input only through ``echo``, so a 2 MB field never comes back whole.
"""

from __future__ import annotations

import re
import uuid
from datetime import date

from cloudact_shared.errors import FieldViolation, InvalidArgument

ORG_SLUG_PATTERN = re.compile(r"^[a-z][a-z0-9_]{2,49}$")
PROVIDER_PATTERN = re.compile(r"^[a-z][a-z0-9_]{1,29}$")
FOCUS_TABLE = "cost_data_standard_1_3"
ECHO_LIMIT = 64
"""Caller-supplied text quoted in an error message is cut to this many characters."""
MIN_DATE = date(2000, 1, 1)
MAX_DATE = date(2100, 12, 31)
"""Dates a request may name: billing data from 2000 to 2100 (bounds keep date arithmetic safe)."""


def echo(text: object, limit: int = ECHO_LIMIT) -> str:
    """``repr`` of caller input for an error message, cut to ``limit`` characters."""
    shown = str(text)
    if len(shown) > limit:
        return repr(shown[:limit]) + f"... ({len(shown)} characters)"
    return repr(shown)


def validate_org_slug(org_slug: str, field: str = "org_slug") -> str:
    """Returns ``org_slug`` if it matches ``^[a-z][a-z0-9_]{2,49}$``.

    Raises:
        InvalidArgument: with a BadRequest field violation otherwise.
    """
    if not ORG_SLUG_PATTERN.fullmatch(org_slug or ""):
        raise InvalidArgument(
            f"invalid org slug {echo(org_slug)}: must match {ORG_SLUG_PATTERN.pattern}",
            reason="INVALID_ORG_SLUG",
            violations=[FieldViolation(field, "must match ^[a-z][a-z0-9_]{2,49}$")],
        )
    return org_slug


def validate_provider(provider: str, field: str = "provider") -> str:
    """Returns ``provider`` if it is a well-formed provider slug (``aws``, ``azure``...)."""
    if not PROVIDER_PATTERN.fullmatch(provider or ""):
        raise InvalidArgument(
            f"invalid provider {echo(provider)}: must be a lower-case slug",
            reason="INVALID_PROVIDER",
            violations=[FieldViolation(field, "must match ^[a-z][a-z0-9_]{1,29}$")],
        )
    return provider


def canonical_credential_id(credential_id: str, field: str = "credential_id") -> str:
    """The canonical spelling of a credential id: a lower-case, hyphenated UUID.

    ``57175A76-...``, ``57175a767de3...`` (no hyphens), ``{...}`` and ``urn:uuid:...`` all name the
    same credential; slices, locks and lineage must only ever see one spelling of it.

    Raises:
        InvalidArgument: ``credential_id`` is empty or not a UUID.
    """
    if not credential_id:
        raise InvalidArgument(f"{field} is required", violations=[FieldViolation(field, "required")])
    try:
        return str(uuid.UUID(credential_id))
    except ValueError:
        raise InvalidArgument(
            f"{field} {echo(credential_id)} is not a credential id (a UUID)",
            reason="INVALID_CREDENTIAL_ID",
            violations=[FieldViolation(field, "must be a UUID")],
        ) from None


def parse_date(text: str, field: str) -> date:
    """An ISO date (YYYY-MM-DD) between ``MIN_DATE`` and ``MAX_DATE``.

    Raises:
        InvalidArgument: not a date, or outside the bounds.
    """
    try:
        parsed = date.fromisoformat(text)
    except ValueError:
        raise InvalidArgument(
            f"{field} {echo(text)} is not a date (YYYY-MM-DD)",
            violations=[FieldViolation(field, "must be YYYY-MM-DD")],
        ) from None
    if not MIN_DATE <= parsed <= MAX_DATE:
        raise InvalidArgument(
            f"{field} {parsed} is outside {MIN_DATE}..{MAX_DATE}",
            violations=[FieldViolation(field, f"must be between {MIN_DATE} and {MAX_DATE}")],
        )
    return parsed


def dataset_name(org_slug: str) -> str:
    """The per-organisation dataset, ``{org_slug}_prod``."""
    return f"{validate_org_slug(org_slug)}_prod"


def raw_table_name(provider: str) -> str:
    """The raw billing table of a provider, ``cloud_{provider}_billing_raw_daily``."""
    return f"cloud_{validate_provider(provider)}_billing_raw_daily"
