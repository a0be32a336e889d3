"""The conformance gate on the demo's FOCUS table: every provider's bundled data in one org, together.

Each sample passing alone (test_focus_validator.py) does not make the table `make demo` builds pass:
the rules are checked over the whole table (ServiceName -> ServiceCategory across providers, known
defects excusing only their rows, ...). This test builds that table the way the demo does, with the
demo's own sources (cloudact_cli/demo.py: the legacy CUR sample and a generated CUR 2.0 month in S3,
Microsoft's EA actual + amortized samples in Azurite, the OCI cost report in the local Object Storage,
a generated GCP month in bqemulator, a generated batch of custom cost events pushed to EventsService)
and the four services running in-process, reads the org's FOCUS table and validates it.
"""

from __future__ import annotations

import functools
import tempfile
from contextlib import ExitStack
from pathlib import Path

import boto3
import pyarrow.parquet as pq
import pytest
from botocore.exceptions import ClientError

from cloudact_cli import demo
from cloudact_cli.bigquery_emulator import bigquery_emulator, bqemulator_available
from cloudact_cli.emulators import azurite, azurite_available
from cloudact_cli.oci_object_storage import ApiKey, FakeObjectStorage, running
from cloudact_providers.registry import known_providers
from tests.conformance.validator import assert_conforms
from tests.conftest import Services
from tests.e2e.helpers import read_table

FOCUS_TABLE = "cost_data_standard_1_3"


def _bucket(s3: object) -> None:
    """The demo's bucket on the session's S3 endpoint (another test of the session may have made it)."""
    try:
        s3.create_bucket(Bucket=demo.BUCKET)  # type: ignore[attr-defined]
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
            raise


@pytest.mark.timeout(1800)
async def test_the_demo_focus_table_conforms(services: Services, s3_endpoint: str, tmp_path: Path) -> None:
    # No skip: the demo's emulators are part of `make install`, as they are of `make demo`.
    assert azurite_available(), "node or Azurite missing: run `make install`"
    assert bqemulator_available(), "bqemulator missing: run `make install`"
    settings = services.caller(demo.ORG, "admin")
    s3 = boto3.client(
        "s3",
        endpoint_url=s3_endpoint,
        region_name="us-east-1",
        aws_access_key_id="demo-access-key",
        aws_secret_access_key="demo-secret-key",
    )
    _bucket(s3)
    with tempfile.TemporaryDirectory(dir=tmp_path) as work:
        exports = [demo._upload_legacy(s3, Path(work)), demo._upload_cur2(s3, Path(work))]
    sources: dict[str, demo.DemoSource] = {
        "aws": functools.partial(demo._aws_exports, exports=exports, endpoint=s3_endpoint)
    }
    with ExitStack() as stack:
        sources["azure"] = functools.partial(demo._azure, endpoint=stack.enter_context(azurite()))
        key, storage = ApiKey(), FakeObjectStorage()
        storage.accept(key)
        stack.enter_context(running(storage))
        sources["oci"] = functools.partial(demo._oci, storage=storage, key=key)
        gcp = demo._load_gcp(stack.enter_context(bigquery_emulator()))
        sources["gcp"] = functools.partial(demo._gcp, export=gcp)
        sources["datahub"] = demo._push_events
        demo._start_api_sources(stack, sources)  # every provider with a demo source: its API on loopback
        assert set(sources) == set(known_providers()), "the demo runs every registered provider"
        await demo._run_sources(settings, sources)

    # The table as focus_svc stores it (what ExportFocus streams), read from the org's dataset.
    focus = read_table(services.settings, demo.ORG, FOCUS_TABLE)
    assert set(focus.column("x_source_provider").to_pylist()) == set(known_providers())
    table = tmp_path / "demo_focus.parquet"
    pq.write_table(focus, table)
    assert assert_conforms(table).startswith("Total:")
