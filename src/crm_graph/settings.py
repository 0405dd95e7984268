"""One typed Settings object, read from ``CRM_*`` environment variables.

Every variable is documented in the README; keep the two in step.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


def _split_names(value: object) -> object:
    """Accept ``"a, b"`` from the environment as well as a real list."""
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CRM_", extra="ignore")

    database_url: str = "sqlite+aiosqlite:///./crm.db"
    # Connections kept per process (a request takes one), and more opened for bursts only.
    database_pool_size: int = Field(default=20, ge=1)
    database_max_overflow: int = Field(default=10, ge=0)
    env: Literal["development", "production", "test"] = "development"
    # None = every installed plugin; [] (CRM_PLUGINS="") = none.
    plugins: Annotated[list[str] | None, NoDecode] = None
    disabled_plugins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    default_phone_region: str = "US"
    default_currency: str = "USD"
    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    max_page_size: int = 100
    max_query_depth: int = 12
    max_query_aliases: int = 15
    max_query_tokens: int = 2000
    max_query_cost: int = 20_000
    max_body_bytes: int = 1_048_576
    sql_echo: bool = False
    # The web app's built files, served at /app (None: the checkout's examples/spa/dist).
    web_app_dir: str | None = None
    # One log line per HTTP request from crm-graph serve (uvicorn's access log).
    access_log: bool = True
    # The compiled read path (see the README's "Compiled reads").
    compiled_reads: bool = True
    plan_cache_size: int = Field(default=256, ge=1)
    # Events (see the Events section of the README).
    event_retention_days: int = Field(default=30, ge=0)
    event_prune_interval_seconds: float = Field(default=3600.0, gt=0)
    event_poll_interval_seconds: float = Field(default=1.0, gt=0)
    event_safety_poll_seconds: float = Field(default=30.0, gt=0)
    event_heartbeat_seconds: float = Field(default=30.0, gt=0)
    event_subscriber_buffer: int = Field(default=1000, ge=1)
    webhook_allow_private_targets: bool = False
    webhook_retry_scale: float = Field(default=1.0, gt=0)
    webhook_timeout_seconds: float = Field(default=15.0, gt=0)
    webhook_workers: int = Field(default=4, ge=0)
    # Outbound e-mail (see the Outbound e-mail section of the README).
    smtp_url: SecretStr | None = None
    smtp_timeout_seconds: float = Field(default=30.0, gt=0)
    smtp_retry_seconds: float = Field(default=60.0, gt=0)
    smtp_max_attempts: int = Field(default=8, ge=1)
    smtp_poll_seconds: float = Field(default=5.0, gt=0)

    # The scheduler of plugins' jobs (docs/plugins.md, scheduler): off in processes that serve
    # requests only (crm-graph serve --no-scheduler).
    scheduler: bool = True
    scheduler_lease_seconds: float = Field(default=60.0, gt=0)
    scheduler_max_attempts: int = Field(default=5, ge=1)
    scheduler_retry_seconds: float = Field(default=30.0, gt=0)
    scheduler_poll_seconds: float = Field(default=60.0, gt=0)
    scheduler_workers: int = Field(default=4, ge=1)

    # Security (see the Security section of the README).
    jwt_secret: SecretStr | None = Field(default=None, min_length=32)
    jwt_public_key: str | None = None
    jwt_algorithm: Literal["HS256", "RS256"] = "HS256"
    jwt_issuer: str = "crm-graph"
    jwt_audience: str = "crm-graph"
    jwt_role_claim: str = "role"
    jwt_leeway_seconds: int = Field(default=30, ge=0)
    roles: dict[str, list[str]] = Field(default_factory=dict)
    teams: dict[str, list[str]] = Field(default_factory=dict)
    rate_limit_per_minute: int = Field(default=600, ge=0)
    rate_limit_burst: int = Field(default=100, ge=1)
    auth_failures_per_minute: int = Field(default=10, ge=0)
    auth_failure_burst: int = Field(default=20, ge=1)
    trusted_proxies: Annotated[list[str], NoDecode] = Field(default_factory=list)
    max_subscriptions_per_socket: int = Field(default=10, ge=1)
    audit_hash_key: SecretStr = SecretStr("")
    # Signs link tokens (crm_graph.auth.link_tokens); required in production.
    secret_key: SecretStr | None = Field(default=None, min_length=32)

    @property
    def exposes_schema(self) -> bool:
        """Introspection, GraphiQL and "Did you mean ...?" suggestions all reveal the schema:
        outside production only."""
        return self.env != "production"

    @field_validator(
        "plugins", "disabled_plugins", "cors_origins", "trusted_proxies", mode="before"
    )
    @classmethod
    def _names(cls, value: object) -> object:
        return _split_names(value)

    @field_validator("default_phone_region", "default_currency")
    @classmethod
    def _upper(cls, value: str) -> str:
        return value.upper()
