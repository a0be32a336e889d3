"""Fixtures of the telemetry tests: the four services with their metrics endpoints, spans kept in memory."""

from __future__ import annotations

import asyncio
import urllib.request
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client.parser import text_string_to_metric_families

from cloudact_cli.supervisor import start_in_process
from cloudact_shared.settings import CloudactSettings
from cloudact_shared.telemetry import add_span_processor, remove_span_processor
from tests.conftest import Services

ANY_PORT = "127.0.0.1:0"

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]
"""Scraped samples: (sample name, its labels) -> value."""


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    """Every span ended in this process while the test runs (all four services' providers)."""
    exporter = InMemorySpanExporter()
    processor = SimpleSpanProcessor(exporter)
    add_span_processor(processor)
    yield exporter
    remove_span_processor(processor)


@pytest.fixture
async def observed(tmp_path: Path) -> AsyncIterator[Services]:
    """The four services in-process, each serving its metrics on an ephemeral loopback port."""
    settings = CloudactSettings(
        data_dir=tmp_path / "data",
        allow_endpoint_overrides=True,
        credential_metrics_address=ANY_PORT,
        ingest_metrics_address=ANY_PORT,
        focus_metrics_address=ANY_PORT,
        query_metrics_address=ANY_PORT,
    )
    settings, servers = await start_in_process(settings)
    yield Services(settings, servers)
    for server in servers.values():
        await server.stop(0)


async def scrape(services: Services, service: str) -> Samples:
    """GET /metrics of ``service`` over HTTP, parsed with prometheus_client's own parser."""
    port = services.servers[service].metrics_port
    assert port is not None, f"{service} serves no metrics"

    def get() -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
            assert response.status == 200
            return str(response.read().decode())

    text = await asyncio.to_thread(get)
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    """The value of one sample (0 when the series does not exist yet)."""
    return samples.get((name, frozenset(labels.items())), 0.0)
