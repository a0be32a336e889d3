"""Connector registry: provider slug -> connector factory. The pipeline looks connectors up only here."""

from __future__ import annotations

from cloudact_shared.errors import InvalidArgument
from ingest_svc.connectors.aws import AwsS3Connector
from ingest_svc.connectors.base import ConnectorFactory

CONNECTORS: dict[str, ConnectorFactory] = {
    "aws": AwsS3Connector,
}


def connector_factory(name: str) -> ConnectorFactory:
    """The factory registered under ``name``."""
    try:
        return CONNECTORS[name]
    except KeyError:
        raise InvalidArgument(f"no connector {name!r}; known: {', '.join(sorted(CONNECTORS))}") from None
