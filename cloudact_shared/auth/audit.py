"""The audit trail: one JSON line per call (who, org, what, result), appended to one 0600 file.

Every service process appends to the same file; each line is written with one ``write`` on an
``O_APPEND`` descriptor, which the kernel keeps whole between processes on a local file system.
Only identities, scope ids and outcomes are written: never a request body, so never a secret.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


class AuditLog:
    """Appends audit records of one service to the audit file."""

    def __init__(self, path: Path, service: str) -> None:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        self._service = service
        self.path = path

    def record(self, *, who: dict[str, str], action: str, result: str, scope: dict[str, str], **extra: Any) -> None:
        """Writes one line: when, which service, who, what (``action`` and its ``scope``), result."""
        entry = {
            "ts": datetime.now(UTC).isoformat(),
            "service": self._service,
            "who": who,
            "action": action,
            **scope,
            "result": result,
            **extra,
        }
        os.write(self._fd, (json.dumps(entry, sort_keys=True) + "\n").encode())

    def close(self) -> None:
        os.close(self._fd)


def read_audit(path: Path) -> list[dict[str, Any]]:
    """Every record in an audit file (for tests and operators)."""
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
