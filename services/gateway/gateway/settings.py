"""The gateway's configuration: one class, read from GATEWAY_* environment variables."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class GatewaySettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GATEWAY_", frozen=True)

    host: str = "127.0.0.1"
    port: int = Field(8002, ge=1, le=65535)

    litellm_url: str = "http://127.0.0.1:4000"
    # The gateway authenticates to LiteLLM with this key, never with the caller's.
    litellm_master_key: SecretStr
    # Clients, their key hashes, models and limits: a file mounted from a Secret.
    clients_file: Path = Path("/etc/gateway/clients.json")

    redis_url: str = "redis://127.0.0.1:6379/0"
    redis_password: SecretStr | None = None
    # A Redis call that takes longer than this counts as Redis being down.
    redis_timeout_s: float = Field(0.25, gt=0)
    # Whether to keep serving (without rate limits) while Redis is unreachable.
    rate_limit_fail_open: bool = True
    # Busy clients (limits of 1,000+ a minute): entries taken ahead are used within this
    # many seconds or given back; 0 takes none ahead (one Redis call a request). ratelimit.py
    rate_limit_ahead_s: float = Field(1.0, ge=0, le=10)

    max_body_bytes: int = Field(1024 * 1024, gt=0)
    # Connecting to LiteLLM: it is in the same cluster, so a slow connect means it is down.
    upstream_connect_timeout_s: float = Field(2.0, gt=0)
    # A whole non-streaming call, and the wait for a stream's first byte.
    upstream_timeout_s: float = Field(300.0, gt=0)
    # Longest silence between two chunks of a stream before it ends with an error event.
    stream_idle_timeout_s: float = Field(60.0, gt=0)
    upstream_max_connections: int = Field(512, gt=0)
    # The one retry layer (gateway/retry.py): LiteLLM calls per request at most; the longest
    # Retry-After waited for; and how long after the first attempt a retry may still start.
    upstream_attempts: int = Field(2, ge=1, le=5)
    retry_max_wait_s: float = Field(4.0, ge=0)
    retry_budget_s: float = Field(10.0, ge=0)

    # SIGTERM: stop accepting, let in-flight requests finish within this bound, exit.
    shutdown_grace_s: float = Field(20.0, ge=0)
    health_probe_interval_s: float = Field(5.0, gt=0)
    # Redis-down warnings are logged at most once per this interval, not per request.
    degraded_log_interval_s: float = Field(30.0, gt=0)
