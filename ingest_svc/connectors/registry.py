"""Connector registry: provider slug -> how to reach its exports and how to read its files.

The pipeline (ingest_svc) and ``cloudact convert`` look providers up only here: adding a provider
is one entry, never an ``if provider == ...`` elsewhere.
"""

from __future__ import annotations

from dataclasses import dataclass

from cloudact_shared.errors import InvalidArgument
from ingest_svc.connectors import aws_formats
from ingest_svc.connectors.aws import AwsS3Connector
from ingest_svc.connectors.base import ConnectorFactory, RawSelectBuilder


@dataclass(frozen=True)
class ConnectorSpec:
    """A provider's source access and its file parser."""

    factory: ConnectorFactory
    """Builds the connector that lists and downloads the export from a decrypted credential."""
    raw_select: RawSelectBuilder
    """Turns one downloaded export file into a DuckDB SELECT of raw-table rows."""


CONNECTORS: dict[str, ConnectorSpec] = {
    "aws": ConnectorSpec(AwsS3Connector, aws_formats.build_raw_select),
}


def connector(name: str) -> ConnectorSpec:
    """The connector registered under ``name``.

    Raises:
        InvalidArgument: when there is none.
    """
    try:
        return CONNECTORS[name]
    except KeyError:
        raise InvalidArgument(f"no connector {name!r}; known: {', '.join(sorted(CONNECTORS))}") from None
