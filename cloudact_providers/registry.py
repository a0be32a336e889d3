"""The providers CloudAct knows: one registration each, and the validation of a credential for one of them.

Every service, the CLI, the demo, the benchmarks and the tests read providers from here, as data
(``cloudact_providers.spec.ProviderSpec``): credential_svc checks a credential when it is created or
rotated, ingest_svc again before it builds a connector (the setting may have changed since, and old
records predate the checks) and finds the pipeline and the connector here; focus_svc finds the
mapping and the reference data. Importing this module imports the providers' packages, which hold
data and pydantic models only: no cloud SDK, no DuckDB, no service.

Adding a provider is one package ``cloudact_providers/<slug>/`` defining ``SPEC`` and one line in
``PROVIDER_PACKAGES``. ``register`` adds one at run time (a test's throwaway provider).

``validate_credential`` checks, in order: the provider is known (``UNKNOWN_PROVIDER``); the config
and the secret match the provider's models, and each other (``BAD_CREDENTIAL_CONFIG``); every
endpoint field is an official endpoint unless the server allows overrides
(``ENDPOINT_OVERRIDE_DISABLED``). Each failure is an ``InvalidArgument`` whose BadRequest field
violations name the fields (``config.bucket``, ``secret.client_secret``), never a value.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from pydantic import BaseModel

from cloudact_providers.endpoints import endpoint_violations
from cloudact_providers.spec import ProviderSpec
from cloudact_providers.validation import summary, validate_part
from cloudact_shared.errors import FieldViolation, InvalidArgument
from cloudact_shared.naming import PROVIDER_PATTERN, echo

__all__ = [
    "PROVIDERS",
    "PROVIDER_PACKAGES",
    "known_providers",
    "register",
    "registered",
    "registration",
    "unregister",
    "validate_credential",
]

PROVIDER_PACKAGES = (
    "cloudact_providers.aws",
    "cloudact_providers.azure",
    "cloudact_providers.gcp",
    "cloudact_providers.oci",
    "cloudact_providers.databricks",
    "cloudact_providers.snowflake",
    "cloudact_providers.datahub",
    "cloudact_providers.datadog",
    "cloudact_providers.mongodb",
    "cloudact_providers.openai",
    "cloudact_providers.anthropic",
)
"""The built-in providers: one package each, whose ``SPEC`` is its registration."""

PROVIDERS: dict[str, ProviderSpec] = {}
"""Every registered provider by slug: the built-in ones, and any added by ``register``."""


def register(spec: ProviderSpec) -> ProviderSpec:
    """Adds a provider to the registry (the built-in ones are added when this module is imported).

    Raises:
        ValueError: a provider with that slug is already registered, or ``spec`` breaks the
            naming rules every service relies on (its slug, its raw and quarantine table names).
    """
    if not PROVIDER_PATTERN.fullmatch(spec.slug):
        raise ValueError(f"provider slug {spec.slug!r} must match {PROVIDER_PATTERN.pattern}")
    if spec.slug in PROVIDERS:
        raise ValueError(f"provider {spec.slug!r} is already registered")
    expected = (f"cloud_{spec.slug}_billing_raw_daily", f"cloud_{spec.slug}_billing_quarantine")
    if (spec.raw_schema, spec.quarantine_schema) != expected:
        raise ValueError(f"provider {spec.slug!r}: its raw and quarantine schemas must be {expected}")
    PROVIDERS[spec.slug] = spec
    return spec


def unregister(slug: str) -> None:
    """Removes a provider added with ``register`` (a test's throwaway provider)."""
    PROVIDERS.pop(slug, None)


@contextmanager
def registered(spec: ProviderSpec) -> Iterator[ProviderSpec]:
    """``register(spec)`` for the duration of a ``with`` block, then ``unregister``."""
    register(spec)
    try:
        yield spec
    finally:
        unregister(spec.slug)


def _register_built_in() -> None:
    for package in PROVIDER_PACKAGES:
        spec = getattr(importlib.import_module(package), "SPEC", None)
        if not isinstance(spec, ProviderSpec):
            raise TypeError(f"{package}.SPEC must be a ProviderSpec")
        register(spec)


def known_providers() -> list[str]:
    """The slugs of every registered provider, sorted."""
    return sorted(PROVIDERS)


def registration(slug: str) -> ProviderSpec:
    """The registration of ``slug``.

    Raises:
        InvalidArgument: ``UNKNOWN_PROVIDER`` when no provider has that slug.
    """
    try:
        return PROVIDERS[slug]
    except KeyError:
        known = ", ".join(known_providers())
        raise InvalidArgument(
            f"unknown provider {echo(slug)}; known: {known}",
            reason="UNKNOWN_PROVIDER",
            violations=[FieldViolation("provider", f"must be one of {known}")],
        ) from None


def validate_credential(
    provider: str,
    config: Mapping[str, str],
    secret: Mapping[str, str] | None,
    *,
    allow_endpoint_overrides: bool,
) -> None:
    """Checks a credential before it is stored or used.

    Args:
        provider: the provider slug.
        config: the credential's non-secret config.
        secret: its secret; None checks the config alone (a rotation that keeps the secret).
        allow_endpoint_overrides: the server setting; False (production) accepts only the
            providers' official endpoints in endpoint fields.

    Raises:
        InvalidArgument: ``UNKNOWN_PROVIDER``, ``BAD_CREDENTIAL_CONFIG`` or
            ``ENDPOINT_OVERRIDE_DISABLED``, with a field violation per bad field; no value of the
            credential is ever in the message or a violation.
    """
    spec = registration(provider)
    parsed_config, violations = validate_part(spec.config, config, "config")
    parsed_secret: BaseModel | None = None
    if secret is not None:
        parsed_secret, secret_violations = validate_part(spec.secret, secret, "secret")
        violations += secret_violations
    if parsed_config is not None and parsed_secret is not None and spec.check_pair is not None:
        violations += [FieldViolation(f, d) for f, d in spec.check_pair(parsed_config, parsed_secret)]
    if violations:
        raise InvalidArgument(
            f"not a valid {spec.name} credential: {summary(violations)}",
            reason="BAD_CREDENTIAL_CONFIG",
            violations=violations,
        )
    if allow_endpoint_overrides:
        return
    assert parsed_config is not None  # no violations
    disallowed = endpoint_violations(parsed_config, "config")
    if parsed_secret is not None:
        disallowed += endpoint_violations(parsed_secret, "secret")
    if disallowed:
        raise InvalidArgument(
            f"the {spec.name} credential names an endpoint this server may not connect to: {summary(disallowed)}",
            reason="ENDPOINT_OVERRIDE_DISABLED",
            violations=disallowed,
        )


_register_built_in()
