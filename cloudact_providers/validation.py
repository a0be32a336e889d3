"""Credential parts validated by their pydantic model, reported as field violations that never hold a value.

Pydantic's own messages (``Field required``, ``String should match pattern ...``, ``Extra inputs are
not permitted``) name the rule, not the input; ``ValidationError``'s ``str`` does quote the input, so
it is never used. A model-level rule that concerns several fields raises ``fields_error`` to name
them, so each becomes its own violation (``secret.client_secret``) instead of one on the whole part.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from pydantic_core import PydanticCustomError

from cloudact_shared.errors import FieldViolation

_Model = TypeVar("_Model", bound=BaseModel)
_FIELDS_ERROR = "credential_fields"
_NAME_LIMIT = 64
"""Field names come from the caller (unknown keys): cut, so a huge key never comes back whole."""


def fields_error(fields: Sequence[str], message: str) -> PydanticCustomError:
    """A model-level validation error about ``fields``: one violation per field, with ``message``.

    ``message`` must not contain a value (it is shown to callers); ``{`` and ``}`` are not allowed.
    """
    return PydanticCustomError(_FIELDS_ERROR, message, {"fields": ",".join(fields)})


def validate_part(
    model: type[_Model], data: Mapping[str, Any], where: str
) -> tuple[_Model | None, list[FieldViolation]]:
    """Validates one credential part (its config or its secret) against ``model``.

    Args:
        model: the provider's config or secret model.
        data: the part as the caller sent it.
        where: the prefix of violation fields, e.g. ``config`` or ``credential.secret``.

    Returns:
        The model (None when invalid) and the violations, each naming a field and the rule it
        breaks, never a value.
    """
    try:
        return model.model_validate(dict(data)), []
    except ValidationError as exc:
        violations: list[FieldViolation] = []
        for error in exc.errors(include_input=False, include_url=False):
            violations.extend(_violations(error, where))
        return None, violations


def _violations(error: Any, where: str) -> list[FieldViolation]:
    named = str((error.get("ctx") or {}).get("fields", "")) if error["type"] == _FIELDS_ERROR else ""
    if named:
        return [FieldViolation(f"{where}.{name}", error["msg"]) for name in named.split(",")]
    path = ".".join(str(part)[:_NAME_LIMIT] for part in error["loc"])
    return [FieldViolation(f"{where}.{path}".rstrip("."), error["msg"])]


def summary(violations: Sequence[FieldViolation]) -> str:
    """``field: rule; field: rule`` for an error message."""
    return "; ".join(f"{v.field}: {v.description}" for v in violations)
