"""All configuration, from the environment (prefix ``STOREFRONT_``) and mounted files.

Secrets may be given directly or, preferably, as ``*_FILE`` paths to mounted Secret files.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="STOREFRONT_", env_file=None, extra="ignore")

    # -- service -----------------------------------------------------------------------
    environment: Literal["development", "test", "production"] = "production"
    version: str = "0.1.0"
    git_sha: str = "unknown"
    log_level: str = "INFO"

    # -- PostgreSQL --------------------------------------------------------------------
    database_url: SecretStr = SecretStr("postgresql+asyncpg://storefront:storefront@127.0.0.1:5432/storefront")
    database_url_file: Path | None = None
    database_read_url: SecretStr | None = None
    database_pool_size: int = 10
    database_max_overflow: int = 10
    database_pool_timeout_seconds: float = 5.0
    database_connect_timeout_seconds: float = 3.0
    database_statement_timeout_ms: int = 10_000

    # -- Redis -------------------------------------------------------------------------
    redis_mode: Literal["standalone", "cluster"] = "standalone"
    redis_url: str = "redis://127.0.0.1:6379/0"
    # Comma-separated host:port list, written by the operator in cluster mode.
    redis_cluster_nodes: str = ""
    redis_cluster_nodes_file: Path | None = None
    redis_password: SecretStr | None = None
    redis_password_file: Path | None = None
    redis_socket_timeout_seconds: float = 1.0

    # -- HTTP --------------------------------------------------------------------------
    cors_origins: list[str] = Field(default_factory=list)
    max_body_bytes: int = 10 * 1024 * 1024
    request_timeout_seconds: float = 30.0
    trusted_proxy_count: int = 0

    @model_validator(mode="after")
    def _read_secret_files(self) -> "Settings":
        if self.database_url_file:
            self.database_url = SecretStr(self.database_url_file.read_text().strip())
        if self.redis_password_file:
            self.redis_password = SecretStr(self.redis_password_file.read_text().strip())
        if self.redis_cluster_nodes_file and self.redis_cluster_nodes_file.exists():
            self.redis_cluster_nodes = self.redis_cluster_nodes_file.read_text().strip()
        return self


@lru_cache
def get_settings() -> Settings:
    return Settings()
