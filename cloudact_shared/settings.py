"""Settings every service shares, read from CLOUDACT_* environment variables or a TOML file.

Settings are built once in a service's ``__main__`` (or ``cloudact serve``) and passed down;
nothing else reads the environment.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

from pydantic import ByteSize, Field, SecretStr, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

MIB = 2**20
PROCESS_RESERVE_BYTES = 320 * MIB
"""What a service process holds before any run: the interpreter, pyarrow, DuckDB, Delta Lake,
Polars, gRPC and the four servers of ``cloudact serve`` in one process (measured: 250 MB), with
room for the allocators' slack."""
ROW_BYTES = 6144
"""Memory per row of a batch in flight, for the widest rows streamed. Measured at 1M rows: a CUR
2.0 row staged from Parquet costs ~4.4 KB (DuckDB's Arrow export of its maps and strings, beyond
DuckDB's own limit), a legacy CUR raw row 2.0 KB and a FOCUS row 1.1 KB in pyarrow; the rest is
room for wider exports (many tag or cost-category columns)."""
BATCHES_IN_FLIGHT = 4
"""Batches alive at once while streaming into a table: the one DuckDB produced, its cast copy, the
one being joined to the fixed row-group size, and the Parquet writer's encoded row group."""
MIN_BATCH_ROWS = 2048
"""DuckDB's vector size: no batch is smaller (but a source's or a slice's last)."""
MIN_MEMORY_BUDGET = PROCESS_RESERVE_BYTES + 128 * MIB
DEFAULT_MEMORY_BUDGET = 1_000_000_000


@dataclass(frozen=True)
class MemoryPlan:
    """How a memory budget is spent: a fixed process reserve, then half to DuckDB, half to Arrow.

    DuckDB (staging, the FOCUS conversion, the slice rewrite) and the Arrow batches it streams
    out are alive at the same time, so the two halves add up; the steps of a run follow one
    another, so the budget covers one run's peak.
    """

    budget_bytes: int
    duckdb_bytes: int
    batch_rows: int

    @classmethod
    def for_budget(cls, budget_bytes: int) -> MemoryPlan:
        working = budget_bytes - PROCESS_RESERVE_BYTES
        per_batch_rows = working // 2 // (BATCHES_IN_FLIGHT * ROW_BYTES)
        # Whole DuckDB vectors: DuckDB hands batches over in multiples of them.
        batch_rows = max(MIN_BATCH_ROWS, per_batch_rows // MIN_BATCH_ROWS * MIN_BATCH_ROWS)
        return cls(budget_bytes, working // 2, batch_rows)

    @property
    def arrow_bytes(self) -> int:
        """The Arrow share: the batches in flight at ``ROW_BYTES`` a row."""
        return BATCHES_IN_FLIGHT * ROW_BYTES * self.batch_rows

    @property
    def duckdb_memory_limit(self) -> str:
        """The DuckDB share as a ``memory_limit`` value."""
        return f"{self.duckdb_bytes // MIB}MiB"

    def check_fits(self) -> None:
        """Raises ValueError when the reserve, DuckDB and the Arrow batches exceed the budget."""
        needed = PROCESS_RESERVE_BYTES + self.duckdb_bytes + self.arrow_bytes
        if needed > self.budget_bytes:
            raise ValueError(
                f"memory_budget {self.budget_bytes // MIB} MiB is too small for duckdb_memory_limit "
                f"{self.duckdb_bytes // MIB} MiB plus raw_batch_rows {self.batch_rows} "
                f"({BATCHES_IN_FLIGHT} batches of {ROW_BYTES} B rows: {self.arrow_bytes // MIB} MiB) "
                f"plus the process reserve {PROCESS_RESERVE_BYTES // MIB} MiB; lower them or raise the budget"
            )


class CloudactSettings(BaseSettings):
    """Where the data lives and where each service listens."""

    model_config = SettingsConfigDict(env_prefix="CLOUDACT_", extra="forbid")

    data_dir: Path = Path("./data")
    """Root of the embedded lakehouse, key ring and credential records."""
    warehouse: Literal["embedded", "bigquery"] = "embedded"
    """Where the tables live and the SQL runs (CLOUDACT_WAREHOUSE): "embedded" = Delta Lake tables
    under data_dir with DuckDB; "bigquery" = one BigQuery dataset per organisation in
    bigquery_project, the FOCUS conversion run there as the stored procedure."""
    bigquery_project: str | None = None
    """The GCP project holding the {org}_prod datasets (CLOUDACT_BIGQUERY_PROJECT); required when
    warehouse is "bigquery"."""
    bigquery_location: str = "US"
    """Where datasets are created and jobs run (a multi-region such as US or EU, or a region)."""
    bigquery_dataset_prefix: str = Field(default="", pattern=r"^[A-Za-z0-9_]{0,100}$")
    """Put before every dataset name in BigQuery ({prefix}{org_slug}_prod), so several deployments
    (staging, production) can share one project; empty by default, the seed's naming."""
    bigquery_credentials_file: Path | None = None
    """A service-account key file; default: Application Default Credentials (the workload's own
    service account on Cloud Run / GKE)."""
    bigquery_endpoint: str | None = None
    """The BigQuery REST endpoint (http://127.0.0.1:9050 for the emulator; default Google's). A
    non-default endpoint is called without credentials: it is only for a loopback emulator."""
    bigquery_read_endpoint: str | None = None
    """host:port of the Storage Read API (the emulator's gRPC port, plaintext); default Google's."""
    key_backend: Literal["local", "cloudkms"] = "local"
    """Who wraps credential data keys (CLOUDACT_KEY_BACKEND): "local" = the key ring file
    (keyring_file); "cloudkms" = the Cloud KMS key kms_key_name."""
    kms_key_name: str | None = Field(
        default=None, pattern=r"^projects/[^/]+/locations/[^/]+/keyRings/[^/]+/cryptoKeys/[^/]+$"
    )
    """The Cloud KMS key (projects/P/locations/L/keyRings/R/cryptoKeys/K) whose primary version
    wraps new data keys; required when key_backend is "cloudkms"."""
    kms_endpoint: str | None = None
    """host:port of a plaintext loopback KMS (tests and the demo); default Google's, over TLS."""
    credential_address: str = "127.0.0.1:50051"
    """host:port credential_svc listens on and clients dial."""
    ingest_address: str = "127.0.0.1:50052"
    """host:port ingest_svc (PipelineService) listens on."""
    focus_address: str = "127.0.0.1:50053"
    """host:port focus_svc listens on."""
    query_address: str = "127.0.0.1:50054"
    """host:port query_svc listens on."""
    http_address: str = "127.0.0.1:8080"
    """host:port of `cloudact serve`'s HTTPS side (the JSON gateway of the annotated RPCs and the
    dashboard), with a certificate of the same local CA."""
    http_timeout_seconds: float = Field(default=60.0, gt=0)
    """Deadline of each gRPC call the HTTP gateway makes for a request (HTTP 504 when it passes)."""
    credential_internal_address: str = "127.0.0.1:50061"
    """host:port where credential_svc serves its internal RPC (DecryptCredential) over mutual TLS:
    only the pipeline side's service certificates can connect there."""
    focus_internal_address: str = "127.0.0.1:50063"
    """host:port where focus_svc serves its internal RPC (ConvertToFocus) over mutual TLS."""
    secrets_dir: Path | None = None
    """TLS material (tls/) and the token signing key and revocation list (tokens/); default
    data_dir/secrets, created 0700."""
    tls_dir: Path | None = None
    """Each service's certificate and key ({service}.pem, {service}-key.pem); default secrets_dir/tls.
    Point it at certificates issued elsewhere (a company CA, a mesh) to use those instead."""
    tls_ca_file: Path | None = None
    """The CA bundle every service and client trusts; default tls_dir/ca.pem."""
    tls_trust_domain: str = Field(default="cloudact.local", pattern=r"^[a-z0-9.-]+$")
    """SPIFFE trust domain of the service certificates: spiffe://{trust_domain}/{service}."""
    keyring_file: Path | None = None
    """The local key-encryption key ring; default {data_dir}-keys/keyring.json, outside data_dir so a
    copy of the data and credential records never carries the key that opens them."""
    audit_log_file: Path | None = None
    """Where the audit trail (one JSON line per call: who, org, what, result) goes; default
    data_dir/audit/audit.jsonl (0600)."""
    allow_endpoint_overrides: bool = False
    """Whether credentials may point a connector at a non-standard endpoint (endpoint_url, account_url
    outside Azure, OCI endpoint, BigQuery api_endpoint...). Off in production: ingest_svc would fetch
    any URL a caller names. Tests and the demo turn it on for their local emulators."""
    vacuum_interval_hours: float = Field(default=24.0, ge=0)
    """How often each service vacuums the tables it writes (0 = never)."""
    vacuum_retention_hours: int = Field(default=168, ge=1)
    """Files replaced more recently than this are kept by vacuum (time travel and in-flight readers)."""
    reconcile_interval_seconds: float = Field(default=300.0, ge=0)
    """How often ingest_svc re-checks unfinished runs and re-converts raw slices whose FOCUS slice is
    out of step (0 = only at start-up)."""
    downstream_timeout_seconds: float = Field(default=600.0, gt=0)
    """Deadline for a call to another service when the incoming call has none."""
    shutdown_grace_seconds: float = Field(default=10.0, ge=0)
    """How long in-flight RPCs may finish after SIGTERM."""
    scheduler_orgs: str = Field(default="", pattern=r"^[a-z0-9_, ]*$")
    """Comma-separated organisations whose due pipelines ``cloudact serve`` runs (docs/scheduling.md);
    empty: its scheduler runs none."""
    scheduler_interval_seconds: float = Field(default=60.0, gt=0)
    """How often ``cloudact serve`` looks for due pipelines (each look is jittered by up to a quarter)."""
    scheduler_retry_seconds: float = Field(default=300.0, ge=0)
    """Back-off before a failed scheduled run is tried again; doubled after each failure of the same slot."""
    memory_budget: ByteSize = Field(default=ByteSize(DEFAULT_MEMORY_BUDGET), ge=MIN_MEMORY_BUDGET)
    """The peak memory of a service process running one pipeline run, whatever the run's size
    ("1GB", "768MiB" or bytes): DuckDB's memory limit, the Arrow batches in flight and the Parquet
    row groups are derived from it (``memory_plan``, docs/memory-budget.md)."""
    raw_batch_rows: int | None = Field(default=None, ge=MIN_BATCH_ROWS)
    """Rows per Arrow batch and per Parquet row group when staging and writing tables; default
    derived from memory_budget. Set explicitly, it must still fit the budget."""
    duckdb_memory_limit: ByteSize | None = None
    """DuckDB's memory_limit (it spills to disk beyond it); default derived from memory_budget.
    Set explicitly, it must still fit the budget."""
    sql_max_rows: int = Field(default=100_000, ge=1)
    """Most rows query_svc's ExecuteSql sends for one query (a request may ask for fewer); the
    answer says when the limit cut it."""
    sql_timeout_seconds: float = Field(default=30.0, gt=0)
    """Time limit of one ExecuteSql query (the caller's gRPC deadline when that is sooner): past it
    the query is interrupted and the call ends DEADLINE_EXCEEDED."""
    sql_memory_limit: ByteSize = Field(default=ByteSize(256 * MIB), ge=16 * MIB)
    """DuckDB memory limit of one ExecuteSql query; it may spill as much again to disk."""
    sql_threads: int = Field(default=2, ge=1)
    """DuckDB threads of one ExecuteSql query."""
    sql_max_bytes_billed: ByteSize = Field(default=ByteSize(10 * 2**30), ge=10 * MIB)
    """On BigQuery, the most bytes one ExecuteSql query may bill; a bigger one is refused by BigQuery
    before it runs (on-demand pricing bills bytes read, 10 MiB at least per table)."""
    log_level: str = "INFO"
    otel_exporter: Literal["none", "otlp", "console"] = "none"
    """Where each service sends its traces (CLOUDACT_OTEL_EXPORTER): "none" = nowhere (the trace
    context is still passed between the services), "otlp" = an OpenTelemetry collector over
    OTLP/gRPC at otel_endpoint, "console" = stdout (debugging)."""
    otel_endpoint: str | None = Field(default=None, pattern=r"^https?://[^\s/]+$")
    """The OTLP/gRPC collector, http://host:4317 (plaintext) or https://host:4317 (TLS); default
    the exporter's own (OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, else http://localhost:4317)."""
    credential_metrics_address: str | None = Field(default=None, pattern=r"^\S+:\d{1,5}$")
    """host:port where credential_svc serves Prometheus metrics over plain HTTP at /metrics (port 0:
    any free one); unset = not served. Off by default: it is the one port without TLS or tokens."""
    ingest_metrics_address: str | None = Field(default=None, pattern=r"^\S+:\d{1,5}$")
    """host:port where ingest_svc serves Prometheus metrics (see credential_metrics_address)."""
    focus_metrics_address: str | None = Field(default=None, pattern=r"^\S+:\d{1,5}$")
    """host:port where focus_svc serves Prometheus metrics (see credential_metrics_address)."""
    query_metrics_address: str | None = Field(default=None, pattern=r"^\S+:\d{1,5}$")
    """host:port where query_svc serves Prometheus metrics (see credential_metrics_address)."""
    ready_file: Path | None = None
    """Where a service writes the ports it bound (JSON) once it serves; ``cloudact serve`` sets it, so
    addresses ending in ``:0`` work (the supervisor hands the ports it reads to the next service)."""
    token: SecretStr | None = None
    """The bearer token the ``cloudact`` command sends (CLOUDACT_TOKEN); mint one with
    ``cloudact tokens create``. Services never read it."""

    @model_validator(mode="after")
    def _plan_fits_budget(self) -> CloudactSettings:
        """Refuses overrides that, with the process reserve, exceed memory_budget."""
        self.memory_plan.check_fits()
        return self

    @model_validator(mode="after")
    def _production_backends_named(self) -> CloudactSettings:
        """Refuses a BigQuery warehouse without a project, or Cloud KMS without a key."""
        if self.warehouse == "bigquery" and not self.bigquery_project:
            raise ValueError("warehouse 'bigquery' needs bigquery_project (CLOUDACT_BIGQUERY_PROJECT)")
        if self.key_backend == "cloudkms" and not self.kms_key_name:
            raise ValueError("key_backend 'cloudkms' needs kms_key_name (CLOUDACT_KMS_KEY_NAME)")
        return self

    @property
    def memory_plan(self) -> MemoryPlan:
        """How memory_budget is spent, with any explicit override of its parts."""
        plan = MemoryPlan.for_budget(self.memory_budget)
        if self.duckdb_memory_limit is not None:
            plan = replace(plan, duckdb_bytes=int(self.duckdb_memory_limit))
        if self.raw_batch_rows is not None:
            plan = replace(plan, batch_rows=self.raw_batch_rows)
        return plan

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Explicit arguments, then CLOUDACT_* env vars, then $CLOUDACT_SETTINGS_FILE (TOML)."""
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        settings_file = os.environ.get("CLOUDACT_SETTINGS_FILE")
        if settings_file:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=settings_file))
        return tuple(sources)

    def service_addresses(self, service: str) -> list[str]:
        """Where ``service`` listens: its public address, then its internal (mutual TLS) one if any."""
        return [getattr(self, name) for name in _ADDRESS_FIELDS[service]]

    def with_ports(self, service: str, port: int, internal_port: int | None) -> CloudactSettings:
        """These settings with ``service``'s addresses moved to the ports it actually bound."""
        fields = _ADDRESS_FIELDS[service]
        update = {fields[0]: _with_port(getattr(self, fields[0]), port)}
        if len(fields) > 1 and internal_port is not None:
            update[fields[1]] = _with_port(getattr(self, fields[1]), internal_port)
        return self.model_copy(update=update)

    @property
    def secrets_path(self) -> Path:
        return self.secrets_dir or self.data_dir / "secrets"

    @property
    def tls_path(self) -> Path:
        return self.tls_dir or self.secrets_path / "tls"

    @property
    def ca_path(self) -> Path:
        return self.tls_ca_file or self.tls_path / "ca.pem"

    @property
    def tokens_path(self) -> Path:
        return self.secrets_path / "tokens"

    @property
    def keyring_path(self) -> Path:
        data = self.data_dir.absolute()
        return self.keyring_file or data.parent / f"{data.name}-keys" / "keyring.json"

    @property
    def audit_path(self) -> Path:
        return self.audit_log_file or self.data_dir / "audit" / "audit.jsonl"


_ADDRESS_FIELDS = {
    "credential_svc": ("credential_address", "credential_internal_address"),
    "ingest_svc": ("ingest_address",),
    "focus_svc": ("focus_address", "focus_internal_address"),
    "query_svc": ("query_address",),
    "http": ("http_address",),
}
"""Each service's address settings: its public address, then its internal (mutual TLS) one if any."""


def _with_port(address: str, port: int) -> str:
    return f"{address.rsplit(':', 1)[0]}:{port}"


def port_of(address: str) -> int:
    """The port of a host:port address."""
    return int(address.rsplit(":", 1)[1])
