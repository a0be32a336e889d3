"""The FOCUS output of every sample, fixture and generator, converted once per session.

What the shared-projection tests check row by row: every provider's registered samples
(``ProviderSpec.samples``), its synthetic generator, and the golden cases of
tests/contract/test_golden_outputs.py (which add the generated CUR 2.0 and legacy CUR months).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from cloudact_cli.convert import convert_files
from cloudact_providers.registry import known_providers, registration
from cloudact_providers.spec import ProviderSpec, Sample
from tests.conftest import sample_inputs
from tests.contract.test_golden_outputs import CASES

Inputs = Callable[[Path], list[Path]]
GENERATED_ROWS = 2_000


def _registered(spec: ProviderSpec, sample: Sample) -> Inputs:
    return lambda directory: sample_inputs(spec, sample, directory)


def _generated(spec: ProviderSpec) -> Inputs:
    return lambda directory: [spec.synthetic_generator()(directory, GENERATED_ROWS)]


def every_input() -> dict[str, tuple[str, Inputs]]:
    """Case name -> (provider, its input files written into a directory)."""
    cases: dict[str, tuple[str, Inputs]] = {f"golden/{name}": case for name, case in CASES.items()}
    for slug in known_providers():
        spec = registration(slug)
        cases |= {f"{slug}/{sample.name}": (slug, _registered(spec, sample)) for sample in spec.samples}
        cases[f"{slug}/synthetic"] = (slug, _generated(spec))
    return cases


@pytest.fixture(scope="session")
def focus_outputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[dict[str, Any]]]:
    """Case name -> its FOCUS rows (as ``cloudact convert`` writes them, read back from Parquet)."""
    outputs: dict[str, list[dict[str, Any]]] = {}
    for name, (provider, inputs) in sorted(every_input().items()):
        directory = tmp_path_factory.mktemp(name.replace("/", "_"))
        convert_files(provider, inputs(directory), directory / "focus.parquet", threads=2)
        outputs[name] = pq.read_table(directory / "focus.parquet").to_pylist()
    return outputs
