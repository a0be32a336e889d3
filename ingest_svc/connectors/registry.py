"""Connector registry: provider slug -> how to reach its exports and how to read its files.

The pipeline (ingest_svc) and ``cloudact convert`` look providers up only here: adding a provider
is one entry, never an ``if provider == ...`` elsewhere.
"""

from __future__ import annotations

from dataclasses import dataclass

from cloudact_shared.errors import InvalidArgument
from ingest_svc.connectors import aws_formats, azure_formats, gcp_formats, oci_formats
from ingest_svc.connectors.aws import AwsS3Connector
from ingest_svc.connectors.azure import AzureBlobConnector
from ingest_svc.connectors.base import ConnectorFactory, RawSelectBuilder
from ingest_svc.connectors.gcp import BigQueryBillingExportConnector
from ingest_svc.connectors.oci import OciObjectStorageConnector


@dataclass(frozen=True)
class ConnectorSpec:
    """A provider's file parser, and its source access when the pipeline can read it yet."""

    raw_select: RawSelectBuilder
    """Turns one export file into a DuckDB SELECT of raw-table rows (the pipeline and ``convert``)."""
    factory: ConnectorFactory | None = None
    """Builds the connector that lists and downloads the export from a decrypted credential; None
    for a provider whose files can be converted but whose source is not connected yet."""


CONNECTORS: dict[str, ConnectorSpec] = {
    "aws": ConnectorSpec(raw_select=aws_formats.build_raw_select, factory=AwsS3Connector),
    "azure": ConnectorSpec(raw_select=azure_formats.build_raw_select, factory=AzureBlobConnector),
    "oci": ConnectorSpec(raw_select=oci_formats.build_raw_select, factory=OciObjectStorageConnector),
    "gcp": ConnectorSpec(raw_select=gcp_formats.build_raw_select, factory=BigQueryBillingExportConnector),
}


def source_factory(name: str) -> ConnectorFactory:
    """The source connector factory of ``name``.

    Raises:
        InvalidArgument: when ``name`` has no connector or its source is not connected yet.
    """
    factory = connector(name).factory
    if factory is None:
        raise InvalidArgument(f"provider {name!r} has no source connector yet; its export files can be converted")
    return factory


def connector(name: str) -> ConnectorSpec:
    """The connector registered under ``name``.

    Raises:
        InvalidArgument: when there is none.
    """
    try:
        return CONNECTORS[name]
    except KeyError:
        raise InvalidArgument(f"no connector {name!r}; known: {', '.join(sorted(CONNECTORS))}") from None
