"""The providers CloudAct knows, and the validation of a credential for one of them.

Every service reads providers from here, as data: credential_svc checks a credential when it is
created or rotated, ingest_svc again before it builds a connector (the setting may have changed
since, and old records predate the checks). Nothing here imports a cloud SDK.

``validate_credential`` checks, in order: the provider is known (``UNKNOWN_PROVIDER``); the config
and the secret match the provider's models, and each other (``BAD_CREDENTIAL_CONFIG``); every
endpoint field is an official endpoint unless the server allows overrides
(``ENDPOINT_OVERRIDE_DISABLED``). Each failure is an ``InvalidArgument`` whose BadRequest field
violations name the fields (``config.bucket``, ``secret.client_secret``), never a value.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from cloudact_providers.aws.credential import AwsSecret, AwsSourceConfig
from cloudact_providers.azure.credential import AzureSecret, AzureSourceConfig
from cloudact_providers.azure.credential import check_pair as azure_check_pair
from cloudact_providers.endpoints import endpoint_violations
from cloudact_providers.gcp.credential import GcpServiceAccountKey, GcpSourceConfig
from cloudact_providers.oci.credential import OciSecret, OciSourceConfig
from cloudact_providers.validation import summary, validate_part
from cloudact_shared.errors import FieldViolation, InvalidArgument
from cloudact_shared.naming import echo

PairCheck = Callable[[Any, Any], list[tuple[str, str]]]
"""Rules across a validated config and secret: (``config.x`` / ``secret.y`` field, what is wrong)."""


@dataclass(frozen=True)
class Provider:
    """One provider's registration: its slug, its name for people, and its credential models."""

    slug: str
    name: str
    config: type[BaseModel]
    """The non-secret config of a credential (where the export is)."""
    secret: type[BaseModel]
    """The secret of a credential (how to read the export)."""
    check_pair: PairCheck | None = None


PROVIDERS: dict[str, Provider] = {
    p.slug: p
    for p in (
        Provider("aws", "AWS", AwsSourceConfig, AwsSecret),
        Provider("azure", "Azure", AzureSourceConfig, AzureSecret, azure_check_pair),
        Provider("gcp", "GCP", GcpSourceConfig, GcpServiceAccountKey),
        Provider("oci", "OCI", OciSourceConfig, OciSecret),
    )
}


def known_providers() -> list[str]:
    """The slugs of every registered provider, sorted."""
    return sorted(PROVIDERS)


def registration(slug: str) -> Provider:
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
