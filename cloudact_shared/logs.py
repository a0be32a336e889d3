"""Logging set-up for the service processes: one JSON object per line on stderr."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

from cloudact_shared.redact import redact_text


class _JsonFormatter(logging.Formatter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self._service = service

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "service": self._service,
            "logger": record.name,
            "msg": redact_text(record.getMessage()),
        }
        if record.exc_info:
            # An SDK exception that was not translated may still quote a signed URL: redact it too.
            entry["exc"] = redact_text(self.formatException(record.exc_info))
        return json.dumps(entry)


# Client libraries that log every HTTP request (with its URL and headers) or every rewrite at INFO:
# an operator reads the pipeline's own progress instead; their warnings and errors still show.
_PER_REQUEST_LOGGERS = (
    "azure.core.pipeline.policies.http_logging_policy",
    "httpx",
    "httpx2",
    "snowflake.connector",
    "sqlglot",
)


def configure_logging(level: str, service: str) -> None:
    """Routes the root logger to stderr as JSON lines at ``level`` (client libraries' per-request
    logging at WARNING at the most verbose)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_JsonFormatter(service))
    logging.basicConfig(level=level.upper(), handlers=[handler], force=True)
    for name in _PER_REQUEST_LOGGERS:
        logging.getLogger(name).setLevel(max(logging.WARNING, logging.getLogger().level))
