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
    # OpenTelemetry tracing over OTLP/HTTP (e.g. http://otel-collector:4318); empty = off, and
    # then nothing is installed. Sampling is by trace id unless the caller's traceparent decided.
    otlp_endpoint: str = ""
    otlp_timeout_seconds: float = Field(default=5.0, gt=0)
    trace_sampling_ratio: float = Field(default=1.0, ge=0, le=1)
    trace_service_name: str = "storefront-api"

    # -- PostgreSQL --------------------------------------------------------------------
    database_url: SecretStr = SecretStr("postgresql+asyncpg://storefront:storefront@127.0.0.1:5432/storefront")
    database_url_file: Path | None = None
    database_read_url: SecretStr | None = None
    database_read_url_file: Path | None = None
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
    # Cookies/credentials are not used by the API, so cross-origin calls never carry them.
    cors_allow_credentials: bool = False
    hsts_max_age_seconds: int = 63_072_000
    # One log line per request. Off by default: the ingress logs access already and the line
    # costs about a sixth of a cached read. Requests slower than a second are always logged.
    access_log: bool = False
    log_json: bool = True

    # -- rate limits (fixed one-minute windows in Redis; 0 disables one) ---------------
    rate_limit_enabled: bool = True
    rate_limit_per_user_per_minute: int = 100
    rate_limit_per_ip_per_minute: int = 1000
    rate_limit_login_per_ip_per_minute: int = 10
    rate_limit_register_per_ip_per_minute: int = 5
    # After a Redis error the limiter counts per process for this long before retrying Redis,
    # so an outage costs one timeout, not one per request (fail-open, see docs).
    rate_limit_backoff_seconds: float = 5.0
    # Each process adds its hits to the shared Redis counters at most this often per key; with
    # several processes a limit can be exceeded by what the others admit within one interval.
    rate_limit_sync_seconds: float = 0.25

    # -- catalog and orders ------------------------------------------------------------
    # Product reads are cached in Redis this long at most (0 disables the cache).
    product_cache_ttl_seconds: int = 30
    # …and in each process this long, in front of Redis (0 disables the in-process level).
    product_local_cache_seconds: float = 1.0

    # -- queue: outbox, Redis Streams, worker (docs/configuration.md, "Queue and worker") -----
    # The worker's own HTTP port (/health, /ready, /metrics); `--host`/`--port` override them.
    worker_host: str = "0.0.0.0"  # noqa: S104 - a container listens on every interface
    worker_port: int = Field(default=8081, ge=1, le=65535)
    # Consumer name in the group; empty: the host name (the pod's name in Kubernetes).
    worker_consumer_name: str = ""
    # The relay reads this many outbox rows per round, and waits this long when none are left.
    outbox_batch_size: int = Field(default=200, ge=1, le=10_000)
    outbox_poll_interval_seconds: float = Field(default=0.2, gt=0)
    # Handled outbox rows are deleted this long after they were handled (0 keeps them).
    outbox_retention_seconds: int = Field(default=7 * 24 * 3600, ge=0)
    # Entries not yet delivered to the consumer group above which the relay pauses (events
    # then wait in the outbox): bounds the stream without ever dropping an undelivered entry.
    queue_max_undelivered: int = Field(default=100_000, ge=1)
    # Attempts at handling one stream entry before it goes to the dead-letter stream.
    queue_max_attempts: int = Field(default=5, ge=1)
    # An entry a consumer has held this long without acknowledging it is claimed by another.
    queue_claim_idle_seconds: float = Field(default=60.0, gt=0)
    # A consumer holding nothing and silent this long (its pod is gone) leaves the group.
    queue_forget_consumer_idle_seconds: float = Field(default=3600.0, gt=0)
    # First retry of a failed entry after up to this long (full jitter, doubling per attempt).
    queue_retry_base_seconds: float = Field(default=1.0, gt=0)
    queue_read_count: int = Field(default=50, ge=1, le=1000)
    # The dead-letter stream keeps this many newest entries (the alert counts dead letters on
    # the workers' counter, so it keeps firing once the stream is full).
    queue_dead_letters_max: int = Field(default=10_000, ge=1)

    # -- webhooks ------------------------------------------------------------------------
    # Targets resolving to loopback, private, link-local, CGNAT, multicast or reserved
    # addresses are refused unless this is on, or the address is in an allowed network.
    webhook_allow_private_targets: bool = False
    webhook_allowed_networks: list[str] = Field(default_factory=list)
    # https is required in production unless this is on.
    webhook_allow_http: bool = False
    webhook_timeout_seconds: float = Field(default=10.0, gt=0, le=60)
    webhook_max_attempts: int = Field(default=8, ge=1, le=50)
    # Retry n waits a random time in [0, min(max, base * 2^n)] (exponential, full jitter).
    webhook_backoff_base_seconds: float = Field(default=5.0, gt=0)
    webhook_backoff_max_seconds: float = Field(default=3600.0, gt=0)
    webhook_concurrency: int = Field(default=8, ge=1, le=256)

    # -- order expiry ----------------------------------------------------------------------
    # A pending order older than this is expired by the worker and its stock returned (0: never).
    order_pending_ttl_seconds: int = Field(default=3600, ge=0)
    order_expiry_interval_seconds: float = Field(default=30.0, gt=0)

    # -- identity: signing keys, tokens, passwords, MFA, PII (see docs/auth.md) ---------
    # The keyset file of docs/interfaces.md; re-read when it changes, no restart needed.
    jwt_keyset_file: Path = Path("/var/run/storefront/keys/keyset.json")
    jwt_keyset_poll_seconds: float = 2.0
    jwt_issuer: str = "storefront"
    jwt_audience: str = "storefront-api"
    jwt_clock_skew_seconds: int = 30
    access_token_ttl_seconds: int = 900
    mfa_token_ttl_seconds: int = 300
    refresh_token_ttl_seconds: int = 7 * 24 * 3600  # absolute lifetime of a token family
    refresh_token_idle_seconds: int = 24 * 3600  # a refresh token unused this long is dead
    # Cached session state (user version/role/active, family alive) lives this long in Redis.
    auth_state_cache_seconds: int = 30
    # Retention, enforced by a background purge every interval in each replica (one at a time;
    # an interval of 0 turns it off): ended sessions (refresh-token families) go this long after
    # they end, audit events after this many days (0 keeps them), finished webhook deliveries
    # (succeeded or dead-lettered) after this many days (0 keeps them).
    session_retention_seconds: int = Field(default=7 * 24 * 3600, ge=0)
    audit_retention_days: int = Field(default=365, ge=0)
    webhook_delivery_retention_days: int = Field(default=30, ge=0)
    retention_purge_interval_seconds: float = Field(default=3600, ge=0)
    mfa_required_for_admins: bool = False
    # base64 of 32 random bytes each; set directly or as mounted files.
    pii_encryption_key: SecretStr | None = None
    pii_encryption_key_file: Path | None = None
    blind_index_key: SecretStr | None = None
    blind_index_key_file: Path | None = None
    # argon2id cost; OWASP minimum is m=19 MiB, t=2, p=1. Raising them rehashes on login.
    argon2_memory_kib: int = Field(default=19 * 1024, ge=19 * 1024)
    argon2_time_cost: int = Field(default=2, ge=2)
    argon2_parallelism: int = Field(default=1, ge=1)
    # Password hashes computed at once; 0 = one per usable CPU (affinity and cgroup quota).
    password_hash_threads: int = Field(default=0, ge=0)
    # Brute force: failures counted per account+IP, per account and per IP within the window;
    # past a threshold each failure locks for base * 2^n seconds, never longer than the cap.
    login_failure_window_seconds: int = 900
    login_max_failures_per_account_ip: int = 5
    login_max_failures_per_account: int = 20
    login_max_failures_per_ip: int = 100
    login_lockout_base_seconds: int = 2
    login_lockout_max_seconds: int = 900
    # Seed admin for local runs (python -m app.cli create-admin uses these as defaults).
    seed_admin_email: str | None = None
    seed_admin_password: SecretStr | None = None
    seed_admin_password_file: Path | None = None
    seed_admin_name: str = "Administrator"

    @model_validator(mode="after")
    def _read_secret_files(self) -> Settings:
        """``X_FILE`` wins over ``X``: Kubernetes mounts Secrets as files."""
        for secret in ("database_url", "database_read_url", "redis_password", "pii_encryption_key",
                       "blind_index_key", "seed_admin_password"):
            path = getattr(self, f"{secret}_file")
            if path:
                setattr(self, secret, SecretStr(_read_setting_file(secret, path)))
        # Written by the operator and possibly not there yet: the node list then comes later.
        if self.redis_cluster_nodes_file and self.redis_cluster_nodes_file.exists():
            self.redis_cluster_nodes = _read_setting_file("redis_cluster_nodes", self.redis_cluster_nodes_file,
                                                          allow_empty=True)
        return self


def _read_setting_file(setting: str, path: Path, *, allow_empty: bool = False) -> str:
    try:
        value = path.read_text().strip()
    except OSError as exc:
        # A ValueError becomes a validation error that names the setting; the file's content never shows.
        raise ValueError(f"STOREFRONT_{setting.upper()}_FILE: cannot read {path}: {exc.strerror}") from None
    if not value and not allow_empty:
        raise ValueError(f"STOREFRONT_{setting.upper()}_FILE: {path} is empty")
    return value


@lru_cache
def get_settings() -> Settings:
    return Settings()
