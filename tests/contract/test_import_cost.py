"""Imports cost only what is used: no service, no CLI command and no provider imports another's SDK.

Each module is imported in a fresh interpreter and ``sys.modules`` is read: the registry, the CLI,
``cloudact convert``, the four services and every provider's file formats import no cloud SDK at all
(connectors are entry points, imported on first use); a provider's connector imports its own SDK and
no other provider's. The SDKs are what each registration declares (``ProviderSpec.sdk``).
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from cloudact_providers.registry import known_providers, registration

SDKS = {slug: registration(slug).sdk for slug in known_providers()}
NO_SDK = [
    "cloudact_providers.registry",
    "cloudact_cli.main",
    "cloudact_cli.convert",
    "credential_svc.server",
    "ingest_svc.server",
    "focus_svc.server",
    "query_svc.server",
    *(f"cloudact_providers.{slug}.formats" for slug in SDKS),
]


def _imported_sdks(*modules: str) -> dict[str, list[str]]:
    """Provider slug -> the modules of its SDK that importing ``modules`` (alone, fresh) loaded."""
    code = (
        "import importlib, json, sys\n"
        f"for module in {list(modules)!r}: importlib.import_module(module)\n"
        f"sdks = {SDKS!r}\n"
        "print(json.dumps({slug: sorted(m for m in sys.modules if any(m == s or m.startswith(s + '.') for s in roots))"
        " for slug, roots in sdks.items()}))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    found: dict[str, list[str]] = json.loads(result.stdout)
    return {slug: modules for slug, modules in found.items() if modules}


def test_every_provider_declares_its_sdk() -> None:
    # Custom cost events (category custom, DataHub) are pushed to CloudAct: no vendor, no SDK.
    assert all(sdk for slug, sdk in SDKS.items() if registration(slug).category != "custom"), SDKS


@pytest.mark.parametrize("module", NO_SDK)
def test_module_imports_no_provider_sdk(module: str) -> None:
    assert _imported_sdks(module) == {}


@pytest.mark.parametrize("provider", sorted(SDKS))
def test_a_connector_imports_its_own_sdk_only(provider: str) -> None:
    found = _imported_sdks(f"cloudact_providers.{provider}.connector")
    expected = [provider] if SDKS[provider] else []
    assert sorted(slug for slug in found if slug == provider) == expected, found
    # A vendor's SDK may import another provider's SDK itself, at import time (databricks-sdk imports
    # google.auth for its GCP sign-in; snowflake-connector-python imports boto3, aioboto3 and
    # azure.identity whenever they are installed): those modules come with the SDK, not from our code,
    # and are the only ones of another provider a connector may load.
    dragged = _imported_sdks(*SDKS[provider]) if SDKS[provider] else {}
    others = {slug: modules for slug, modules in found.items() if slug != provider}
    ours = {slug: [m for m in modules if m not in dragged.get(slug, [])] for slug, modules in others.items()}
    assert not any(ours.values()), {slug: modules[:3] for slug, modules in ours.items() if modules}
