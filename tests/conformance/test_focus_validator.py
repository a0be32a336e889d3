"""FOCUS conformance: the FinOps Foundation's focus-validator over the FOCUS output of every provider.

One test, parametrized from the registration: each registered provider names its vendored samples
and fixtures (``ProviderSpec.samples``), and each is converted with ``cloudact convert`` and
validated. A provider added to the registry is validated with no edit here.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from cloudact_providers.registry import known_providers, registration
from tests.conformance.validator import assert_sample_conforms

CASES = [(slug, sample.name) for slug in known_providers() for sample in registration(slug).samples]


@pytest.mark.timeout(960)
@pytest.mark.parametrize(("provider", "sample"), CASES, ids=[f"{p}/{s}" for p, s in CASES])
def test_validator_passes_every_rule_but_known_defects(provider: str, sample: str, tmp_path: Path) -> None:
    spec = registration(provider)
    case = next(s for s in spec.samples if s.name == sample)
    assert assert_sample_conforms(spec, case, tmp_path).startswith("Total:")
