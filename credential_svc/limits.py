"""What a credential may hold: the bounds on its secret, config and name, checked before anything is stored.

Every message describes counts, sizes and rules, never a secret value (and never a secret field
name, which may well be a pasted secret); config keys are quoted only through ``echo``.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Callable, Mapping

from cloudact_shared.errors import FieldViolation, InvalidArgument
from cloudact_shared.naming import echo
from credential_svc.secret import Secret

MAX_SECRET_FIELDS = 32
MAX_SECRET_BYTES = 64 * 1024
"""A secret as canonical JSON (UTF-8); a service account key with its PEM is about 2.5 KiB."""
MAX_CONFIG_KEYS = 32
MAX_CONFIG_VALUE_CHARS = 8 * 1024
"""Room for a ca_bundle of a few PEM certificates; the whole config is bounded by MAX_CONFIG_BYTES."""
MAX_CONFIG_BYTES = 16 * 1024
FIELD_NAME_PATTERN = re.compile(r"[A-Za-z][A-Za-z0-9_.-]{0,63}")
"""Secret field names and config keys: identifiers, never free text (at most 64 characters)."""
MAX_DISPLAY_NAME = 200
MIN_SCRUBBED_VALUE = 6
"""Shorter secret values are not looked for in registry messages: "x" would match every message."""


def collect(*checks: Callable[[], object]) -> InvalidArgument | None:
    """Runs every check and merges their InvalidArguments into one (all violations at once)."""
    errors: list[InvalidArgument] = []
    for check in checks:
        try:
            check()
        except InvalidArgument as error:
            errors.append(error)
    if not errors:
        return None
    if len(errors) == 1:
        return errors[0]
    return InvalidArgument(
        "; ".join(error.message for error in errors),
        reason="INVALID_ARGUMENT",
        violations=[v for error in errors for v in error.violations],
    )


def check_display_name(display_name: str) -> None:
    if not display_name:
        raise invalid("display_name", "is required")
    if len(display_name) > MAX_DISPLAY_NAME:
        raise invalid("display_name", f"must be at most {MAX_DISPLAY_NAME} characters")
    # A name is shown in listings and terminals: no newlines, escapes or other control characters.
    if any(unicodedata.category(char) == "Cc" for char in display_name):
        raise invalid("display_name", "must not contain control characters")


def check_secret(secret: Secret, name: str) -> None:
    # Only counts, sizes and rules are ever described: no value, and no field name either (a field
    # name that breaks the rules may well be a pasted secret).
    if len(secret) == 0:
        raise invalid(name, "must have at least one field")
    if len(secret) > MAX_SECRET_FIELDS:
        raise invalid(name, f"must have at most {MAX_SECRET_FIELDS} fields (it has {len(secret)})")
    if any(not FIELD_NAME_PATTERN.fullmatch(field_name) for field_name in secret.field_names):
        raise invalid(name, f"field names must match ^{FIELD_NAME_PATTERN.pattern}$")
    if len(secret._canonical_json()) > MAX_SECRET_BYTES:
        raise invalid(name, f"must be at most {MAX_SECRET_BYTES} bytes as JSON")


def check_config(config: Mapping[str, str]) -> None:
    if len(config) > MAX_CONFIG_KEYS:
        raise invalid("config", f"must have at most {MAX_CONFIG_KEYS} keys (it has {len(config)})")
    for key, value in config.items():
        if not FIELD_NAME_PATTERN.fullmatch(key):
            raise invalid("config", f"key {echo(key)} must match ^{FIELD_NAME_PATTERN.pattern}$")
        if len(value) > MAX_CONFIG_VALUE_CHARS:
            raise invalid("config", f"value of {key!r} must be at most {MAX_CONFIG_VALUE_CHARS} characters")
    size = len(json.dumps(dict(config), separators=(",", ":"), ensure_ascii=False).encode())
    if size > MAX_CONFIG_BYTES:
        raise invalid("config", f"must be at most {MAX_CONFIG_BYTES} bytes as JSON (it is {size})")


def without_secret_values(error: InvalidArgument, secret: Secret, field_name: str) -> InvalidArgument:
    """``error`` with its ``secret.*`` violations renamed to ``field_name`` and any text quoting a value withheld.

    The registry promises never to quote a value; this keeps the vault's own promise if it ever does.
    """
    values = [value for value in secret.reveal().values() if len(value) >= MIN_SCRUBBED_VALUE]

    def clean(text: str) -> str:
        return "(withheld: it quoted a secret value)" if any(value in text for value in values) else text

    def renamed(name: str) -> str:
        head, dot, rest = name.partition(".")
        return field_name + dot + rest if head == "secret" else name

    return InvalidArgument(
        clean(error.message),
        reason=error.reason,
        violations=[FieldViolation(renamed(v.field), clean(v.description)) for v in error.violations],
        metadata={key: clean(value) for key, value in error.metadata.items()},
    )


def invalid(field_name: str, description: str) -> InvalidArgument:
    return InvalidArgument(
        f"{field_name} {description}",
        reason="INVALID_ARGUMENT",
        violations=[FieldViolation(field_name, description)],
    )
