"""Settings every service shares, read from CLOUDACT_* environment variables or a TOML file.

Settings are built once in a service's ``__main__`` (or ``cloudact serve``) and passed down;
nothing else reads the environment.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import tempfile
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)


class CloudactSettings(BaseSettings):
    """Where the data lives and where each service listens."""

    model_config = SettingsConfigDict(env_prefix="CLOUDACT_", extra="forbid")

    data_dir: Path = Path("./data")
    """Root of the embedded lakehouse, key ring and credential records."""
    storage_backend: Literal["embedded"] = "embedded"
    """Which TableStore to use; "embedded" = Delta Lake tables + DuckDB under data_dir."""
    credential_address: str = "127.0.0.1:50051"
    """host:port credential_svc listens on and clients dial."""
    ingest_address: str = "127.0.0.1:50052"
    """host:port ingest_svc (PipelineService) listens on."""
    focus_address: str = "127.0.0.1:50053"
    """host:port focus_svc listens on."""
    query_address: str = "127.0.0.1:50054"
    """host:port query_svc listens on."""
    pipeline_token: SecretStr | None = None
    """Bearer token that proves the pipeline identity to credential_svc; when unset it is
    read from (or created in) data_dir/secrets/pipeline.token with 0600 permissions."""
    downstream_timeout_seconds: float = Field(default=600.0, gt=0)
    """Deadline for a call to another service when the incoming call has none."""
    shutdown_grace_seconds: float = Field(default=10.0, ge=0)
    """How long in-flight RPCs may finish after SIGTERM."""
    raw_batch_rows: int = Field(default=100_000, gt=0)
    """Rows per Arrow batch when reading sources and writing tables (bounds memory)."""
    duckdb_memory_limit: str = "1GB"
    """DuckDB memory_limit for conversions; DuckDB spills to disk beyond it."""
    log_level: str = "INFO"

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

    def resolved_pipeline_token(self) -> str:
        """The pipeline identity token, creating the token file on first use."""
        if self.pipeline_token is not None:
            return self.pipeline_token.get_secret_value()
        path = self.data_dir / "secrets" / "pipeline.token"
        if not path.exists():
            _create_token_file(path)
        return path.read_text().strip()


def _create_token_file(path: Path) -> None:
    """Creates the token file atomically: services starting together all read the same whole token."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    path.parent.chmod(0o700)
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=".pipeline.token.")
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(32))
        os.chmod(temp, 0o600)
        # link() fails if another process won the race; then its complete file is the token.
        with contextlib.suppress(FileExistsError):
            os.link(temp, path)
    finally:
        os.unlink(temp)


def port_of(address: str) -> int:
    """The port of a host:port address."""
    return int(address.rsplit(":", 1)[1])
