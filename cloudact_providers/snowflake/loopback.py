"""Snowflake on loopback: fakesnow's server (its own venv) holding a generated organization's billing views.

Runtime code (``make demo``) and the tests' server. Snowflake's connector protocol is not plain HTTP
routes, so this wraps fakesnow (``fakesnow_server.py``, run by ``.venv-fakesnow``'s Python as a
subprocess) rather than ``LoopbackApi``: the real snowflake-connector-python signs in to it and runs
the connector's SQL on DuckDB. The server checks passwords and key-pair JWTs and the roles' grants on
``SNOWFLAKE.BILLING`` and ``SNOWFLAKE.ORGANIZATION_USAGE`` (fakesnow has no access control of its own).

:func:`fakesnow_server` starts it with its users and grants; :func:`create_billing_views` creates the
three views (as tables) with their documented columns, quoted mixed-case names for the FOCUS view, and
:func:`load_month` fills them from ``synthetic.py`` (the FOCUS view from 2026-01 only, as Snowflake's).
:func:`demo_source` is the demo's organization: December 2025 (usage in currency only) and January
2026 (both views), and a service user signing in with a key pair.
"""

from __future__ import annotations

import csv
import json
import os
import secrets
import socket
import subprocess
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, Final

import snowflake.connector
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from snowflake.connector.connection import SnowflakeConnection

from cloudact_providers.connector import DemoAccount, DemoUnavailable
from cloudact_providers.snowflake import synthetic, views
from cloudact_shared.readiness import wait_until

REPO: Final = Path(__file__).resolve().parents[2]
FAKESNOW_VENV: Final = REPO / ".venv-fakesnow"
LAUNCHER: Final = Path(__file__).with_name("fakesnow_server.py")
ACCOUNT: Final = "acme-org"
WAREHOUSE: Final = "BILLING_WH"
ADMIN_ROLE: Final = "ACCOUNTADMIN"
BILLING_ROLE: Final = "FINOPS_READER"
"""A role granted both the FOCUS view (ORGANIZATION_BILLING_VIEWER) and ORGANIZATION_USAGE."""
USAGE_ROLE: Final = "USAGE_READER"
"""A role granted ORGANIZATION_USAGE only: the connector falls back to it for every month."""

_STAGE: Final = "LOADING.STAGES.BILLING"
_NULL: Final = "\\N"
"""How a NULL is written in the CSV files loaded (the stage's NULL_IF)."""
_NUMBER, _TEXT, _TZ = "NUMBER(38, 9)", "TEXT", "TIMESTAMP_TZ"
_FOCUS_TYPES: Final = {
    "BillingPeriodStart": _TZ,
    "BillingPeriodEnd": _TZ,
    "ChargePeriodStart": _TZ,
    "ChargePeriodEnd": _TZ,
    "ConsumedQuantity": _NUMBER,
    "PricingQuantity": _NUMBER,
    "ListUnitPrice": _NUMBER,
    "ListCost": _NUMBER,
    "ContractedUnitPrice": _NUMBER,
    "ContractedCost": _NUMBER,
    "EffectiveCost": _NUMBER,
    "BilledCost": _NUMBER,
    "CapacityReservationId": "NUMBER(38, 0)",
    "ContractApplied": "VARIANT",
    "x_UpdatedAt": _TZ,
}
_USAGE_TYPES: Final = {
    "CONTRACT_NUMBER": "NUMBER(38, 0)",
    "USAGE_DATE": "DATE",
    "USAGE": "NUMBER(38, 3)",
    "USAGE_IN_CURRENCY": "NUMBER(38, 2)",
    "IS_ADJUSTMENT": "BOOLEAN",
}
_RATE_TYPES: Final = {
    "DATE": "DATE",
    "CONTRACT_NUMBER": "NUMBER(38, 0)",
    "EFFECTIVE_RATE": "NUMBER(38, 2)",
    "IS_ADJUSTMENT": "BOOLEAN",
}
_FOCUS_NAMES: Final = tuple(synthetic.focus_rows(synthetic.charges(synthetic.SAMPLE_PERIOD, days=1))[0])
_USAGE_NAMES: Final = tuple(synthetic.usage_rows(synthetic.charges(synthetic.SAMPLE_PERIOD, days=1))[0])
_RATE_NAMES: Final = tuple(synthetic.rate_rows(synthetic.charges(synthetic.SAMPLE_PERIOD, days=1))[0])


@dataclass(frozen=True)
class User:
    """A Snowflake user of the loopback account: how it signs in, and its roles (the first is its default)."""

    roles: tuple[str, ...]
    password: str | None = field(default=None, repr=False)
    public_key: str | None = None
    """The PEM public key registered for key-pair sign-in."""

    def settings(self) -> dict[str, Any]:
        return {
            "password": self.password,
            "public_key": self.public_key,
            "roles": list(self.roles),
            "default_role": self.roles[0],
        }


@dataclass(frozen=True)
class FakeSnowflake:
    """A running fakesnow server."""

    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def connect(self, user: str, password: str, role: str | None = None) -> SnowflakeConnection:
        """A connection for setting up data (Snowflake's side); the connector builds its own from a credential."""
        return snowflake.connector.connect(
            account=ACCOUNT,
            user=user,
            password=password,
            role=role,
            host="127.0.0.1",
            port=self.port,
            protocol="http",
            network_timeout=60,
            session_parameters={"CLIENT_OUT_OF_BAND_TELEMETRY_ENABLED": False, "CLIENT_TELEMETRY_ENABLED": False},
        )


def fakesnow_available(venv: Path = FAKESNOW_VENV) -> bool:
    """Whether ``make install`` has built fakesnow's venv."""
    return (venv / "bin" / "python").is_file()


@contextmanager
def fakesnow_server(
    users: Mapping[str, User], grants: Mapping[str, Sequence[str]], *, venv: Path = FAKESNOW_VENV, timeout: float = 60
) -> Iterator[FakeSnowflake]:
    """Runs fakesnow (in memory) on a free loopback port until the block ends.

    Args:
        users: the account's users by name.
        grants: schema (``SNOWFLAKE.BILLING``, ``SNOWFLAKE.ORGANIZATION_USAGE``) -> the roles that may read it.
    """
    python = venv / "bin" / "python"
    if not python.is_file():
        raise DemoUnavailable(f"fakesnow is not installed in {venv} (run 'make install')")
    config = {"users": {name: user.settings() for name, user in users.items()}, "grants": dict(grants)}
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
    env["CLOUDACT_FAKESNOW"] = json.dumps(config)
    with tempfile.TemporaryDirectory(prefix="fakesnow-") as work:
        log = Path(work) / "fakesnow.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                [str(python), str(LAUNCHER)], stdout=out, stderr=subprocess.STDOUT, env=env, cwd=work
            )
        try:
            yield FakeSnowflake(_wait_until_ready(process, log, timeout))
        finally:
            _stop(process)


def _wait_until_ready(process: subprocess.Popen[bytes], log: Path, timeout: float) -> int:
    def answering_port() -> int | None:
        if process.poll() is not None:
            raise RuntimeError(f"fakesnow exited ({process.returncode}):\n{log.read_text(errors='replace')[-3000:]}")
        first = log.read_text(errors="replace").partition("\n")[0]
        if not first.startswith('{"port"'):
            return None
        port = int(json.loads(first)["port"])
        with socket.socket() as probe:
            return port if probe.connect_ex(("127.0.0.1", port)) == 0 else None

    try:
        return wait_until(answering_port, what="fakesnow", timeout=timeout)
    except (RuntimeError, TimeoutError):
        _stop(process)
        raise


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _quoted(name: str) -> str:
    return '"' + name + '"'


def create_billing_views(connection: SnowflakeConnection) -> None:
    """Creates the three views (as tables) with their documented columns, in the shared SNOWFLAKE database."""
    focus_columns = ", ".join(f"{_quoted(n)} {_FOCUS_TYPES.get(n, _TEXT)}" for n in _FOCUS_NAMES)
    usage_columns = ", ".join(f"{n} {_USAGE_TYPES.get(n, _TEXT)}" for n in _USAGE_NAMES)
    rate_columns = ", ".join(f"{n} {_RATE_TYPES.get(n, _TEXT)}" for n in _RATE_NAMES)
    with connection.cursor() as cursor:
        for statement in (
            "CREATE DATABASE IF NOT EXISTS SNOWFLAKE",
            "CREATE SCHEMA IF NOT EXISTS SNOWFLAKE.BILLING",
            "CREATE SCHEMA IF NOT EXISTS SNOWFLAKE.ORGANIZATION_USAGE",
            f"CREATE TABLE {views.FOCUS_VIEW} ({focus_columns})",
            f"CREATE TABLE {views.USAGE_VIEW} ({usage_columns})",
            f"CREATE TABLE {views.RATES_VIEW} ({rate_columns})",
        ):
            cursor.execute(statement)


def load_rows(connection: SnowflakeConnection, table: str, rows: Sequence[Mapping[str, Any]]) -> None:
    """Bulk-loads ``rows`` into ``table`` as Snowflake loads files: a CSV file PUT to a stage, then
    ``COPY INTO`` (row by row INSERTs through fakesnow take ~20 ms each). The rows' keys are the
    table's columns, in its order."""
    if not rows:
        return
    names = list(rows[0])
    with tempfile.TemporaryDirectory(prefix="snowflake-load-") as directory:
        # A file name COPY INTO has not loaded yet: it skips files it loaded before (load metadata).
        path = Path(directory) / f"{table.rsplit('.', 1)[-1].lower()}-{secrets.token_hex(6)}.csv"
        with path.open("w", newline="", encoding="utf-8") as out:
            writer = csv.writer(out)
            for row in rows:
                writer.writerow([_NULL if row[n] is None else views.text_of(row[n]) for n in names])
        with connection.cursor() as cursor:
            for statement in (
                "CREATE DATABASE IF NOT EXISTS LOADING",
                "CREATE SCHEMA IF NOT EXISTS LOADING.STAGES",
                f"CREATE STAGE IF NOT EXISTS {_STAGE}",
                f"PUT 'file://{path}' @{_STAGE} AUTO_COMPRESS=FALSE OVERWRITE=TRUE",
                f"COPY INTO {table} FROM @{_STAGE}/{path.name} "
                f"FILE_FORMAT=(TYPE=CSV FIELD_OPTIONALLY_ENCLOSED_BY='\"' NULL_IF=('\\\\N'))",
            ):
                cursor.execute(statement)


def load_month(connection: SnowflakeConnection, period: date, *, days: int | None = None) -> None:
    """Fills the views with ``period``'s month of the synthetic organization (its first ``days`` days): the
    usage and rate sheet always, the FOCUS view from 2026-01 (its history starts there)."""
    items = synthetic.charges(period, days)
    load_rows(connection, views.USAGE_VIEW, synthetic.usage_rows(items))
    load_rows(connection, views.RATES_VIEW, synthetic.rate_rows(items))
    if period >= views.FOCUS_HISTORY_START:
        load_rows(connection, views.FOCUS_VIEW, synthetic.focus_rows(items))


def key_pair() -> tuple[str, str]:
    """A fresh RSA key pair: (private key PEM, PKCS#8 unencrypted; public key PEM)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private, public


DEMO_PERIODS: Final = (date(2025, 12, 1), date(2026, 1, 1))
"""December 2025 (before the FOCUS view's history: read from ORGANIZATION_USAGE) and January 2026 (the view)."""


@contextmanager
def demo_source(work: Path) -> Iterator[DemoAccount]:
    """The demo's Snowflake organization on fakesnow, and a service user that signs in with a key pair
    (a ``DemoSource``; ``work`` is not needed: fakesnow holds the views in memory)."""
    del work
    if not fakesnow_available():
        raise DemoUnavailable(f"fakesnow is not installed in {FAKESNOW_VENV} (run 'make install')")
    admin_password = secrets.token_urlsafe(18)
    private_key, public_key = key_pair()
    users = {
        "SETUP": User((ADMIN_ROLE,), password=admin_password),
        "CLOUDACT_SVC": User((BILLING_ROLE,), public_key=public_key),
    }
    grants = {
        "SNOWFLAKE.BILLING": [ADMIN_ROLE, BILLING_ROLE],
        "SNOWFLAKE.ORGANIZATION_USAGE": [ADMIN_ROLE, BILLING_ROLE],
    }
    with fakesnow_server(users, grants) as server:
        setup = server.connect("SETUP", admin_password, ADMIN_ROLE)
        try:
            create_billing_views(setup)
            for period in DEMO_PERIODS:
                load_month(setup, period)
        finally:
            setup.close()
        yield DemoAccount(
            display_name="snowflake-demo-organization",
            config={
                "account": ACCOUNT,
                "user": "CLOUDACT_SVC",
                "role": BILLING_ROLE,
                "warehouse": WAREHOUSE,
                "endpoint": server.url,
            },
            secret={"private_key": private_key},
            periods=DEMO_PERIODS,
        )
