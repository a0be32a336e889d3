"""Validation of the names that reach paths, dataset names and SQL: org slugs, providers, tables."""

from __future__ import annotations

import re

from cloudact_shared.errors import FieldViolation, InvalidArgument

ORG_SLUG_PATTERN = re.compile(r"^[a-z][a-z0-9_]{2,49}$")
PROVIDER_PATTERN = re.compile(r"^[a-z][a-z0-9_]{1,29}$")
FOCUS_TABLE = "cost_data_standard_1_3"


def validate_org_slug(org_slug: str, field: str = "org_slug") -> str:
    """Returns ``org_slug`` if it matches ``^[a-z][a-z0-9_]{2,49}$``.

    Raises:
        InvalidArgument: with a BadRequest field violation otherwise.
    """
    if not ORG_SLUG_PATTERN.fullmatch(org_slug or ""):
        raise InvalidArgument(
            f"invalid org slug {org_slug!r}: must match {ORG_SLUG_PATTERN.pattern}",
            reason="INVALID_ORG_SLUG",
            violations=[FieldViolation(field, "must match ^[a-z][a-z0-9_]{2,49}$")],
        )
    return org_slug


def validate_provider(provider: str, field: str = "provider") -> str:
    """Returns ``provider`` if it is a well-formed provider slug (``aws``, ``azure``...)."""
    if not PROVIDER_PATTERN.fullmatch(provider or ""):
        raise InvalidArgument(
            f"invalid provider {provider!r}: must be a lower-case slug",
            reason="INVALID_PROVIDER",
            violations=[FieldViolation(field, "must match ^[a-z][a-z0-9_]{1,29}$")],
        )
    return provider


def dataset_name(org_slug: str) -> str:
    """The per-organisation dataset, ``{org_slug}_prod``."""
    return f"{validate_org_slug(org_slug)}_prod"


def raw_table_name(provider: str) -> str:
    """The raw billing table of a provider, ``cloud_{provider}_billing_raw_daily``."""
    return f"cloud_{validate_provider(provider)}_billing_raw_daily"
