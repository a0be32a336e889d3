"""Fixtures shared by the suites: paths, an S3 endpoint (moto) on loopback, the four services."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import boto3
import pytest
from moto.server import ThreadedMotoServer
from pydantic import SecretStr

from cloudact_cli.supervisor import start_in_process
from cloudact_providers.spec import ProviderSpec, Sample
from cloudact_shared.server import BuiltServer
from cloudact_shared.settings import CloudactSettings
from tests.channels import org_token

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "tests" / "data"
"""Every file the tests read: fixtures per provider, and the vendored public samples (samples/SOURCES.md)."""
SAMPLES = DATA / "samples"
LEGACY_CUR_SAMPLE = SAMPLES / "aws" / "cur_legacy_sample-anonymous-aws-export-dataset.csv"
EA_ACTUAL = SAMPLES / "azure" / "EA_ActualCost_Small.csv"
EA_AMORTIZED = SAMPLES / "azure" / "EA_AmortizedCost_Small.csv"
EA_FOCUS_CONVERTERS = SAMPLES / "azure" / "ea_actual_sample-anonymous-ea-export-dataset.csv"
KOKU_GCP = SAMPLES / "gcp" / "koku_2022-08-01_5.csv"
OCI_COST_REPORT = SAMPLES / "oci" / "reports_cost-csv_0000000030000269.csv"


def sample_inputs(spec: ProviderSpec, sample: Sample, directory: Path) -> list[Path]:
    """The input files of one of a provider's registered samples (``ProviderSpec.samples``).

    Args:
        spec: the provider's registration.
        sample: one of its samples: files named relative to ``DATA``, or generated.
        directory: where a generated sample is written.
    """
    if sample.make is not None:
        return spec.sample_writer(sample)(directory)
    return [DATA / name for name in sample.files]


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """A moto S3 server on 127.0.0.1 (real HTTP, real botocore signing on the client side)."""
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def s3_client(s3_endpoint: str) -> object:
    return boto3.client(
        "s3",
        endpoint_url=s3_endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


@dataclass
class Services:
    """The four services running in-process on ephemeral loopback ports."""

    settings: CloudactSettings
    servers: dict[str, BuiltServer]

    def caller(self, org: str, role: str = "viewer") -> CloudactSettings:
        """The settings a ``cloudact`` command would run with as ``role`` of ``org`` (CLOUDACT_TOKEN set)."""
        return self.settings.model_copy(update={"token": SecretStr(org_token(self.settings.tokens_path, org, role))})


@pytest.fixture
async def services(tmp_path: Path) -> AsyncIterator[Services]:
    # The tests' sources are emulators on loopback: their endpoints are overrides.
    settings = CloudactSettings(data_dir=tmp_path / "data", allow_endpoint_overrides=True)
    settings, servers = await start_in_process(settings)
    yield Services(settings, servers)
    for server in servers.values():
        await server.stop(0)
