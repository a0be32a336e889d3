"""A throwaway provider, registered only by the test that runs it: the proof that a provider is its own files.

"Tiny ledger" exports dropped in a local folder (``formats.py``): one semicolon-separated line per
charge. The package has exactly the files ``docs/architecture.md`` lists for a new
provider, with its SQL in ``sql/`` beside it (``sql_root``) instead of the repository's ``sql/``;
``tests/contract/test_throwaway_provider.py`` registers it with ``cloudact_providers.registry.registered``
and runs it end to end. Nothing outside this folder names it.
"""

from pathlib import Path

from cloudact_providers.spec import PipelineSpec, ProviderSpec, Sample
from tests.contract.throwaway_provider.credential import ThrowawayConfig, ThrowawaySecret

_HERE = "tests.contract.throwaway_provider"

SPEC = ProviderSpec(
    slug="throwaway",
    name="Throwaway",
    category="saas",
    config=ThrowawayConfig,
    secret=ThrowawaySecret,
    pipeline=PipelineSpec(
        description="Tiny ledger exports from a local folder (a test provider).",
        # Each month's ledger is rewritten until the month after it closes.
        revision_window_months=2,
    ),
    raw_schema="cloud_throwaway_billing_raw_daily",
    quarantine_schema="cloud_throwaway_billing_quarantine",
    mapping="mappings/throwaway.sql",
    reference=("reference/throwaway_services.csv",),
    connector=f"{_HERE}.connector:FolderConnector",
    raw_select=f"{_HERE}.formats:build_raw_select",
    generator=f"{_HERE}.synthetic:generate",
    samples=(Sample("ledger", make=f"{_HERE}.synthetic:ledger_sample", focus_rows=12),),
    sql_root=Path(__file__).resolve().parent / "sql",
)
