"""One typed Settings object, read from ``CRM_*`` environment variables.

Every variable is documented in the README; keep the two in step.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


def _split_names(value: object) -> object:
    """Accept ``"a, b"`` from the environment as well as a real list."""
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CRM_", extra="ignore")

    database_url: str = "sqlite+aiosqlite:///./crm.db"
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

    @field_validator("plugins", "disabled_plugins", "cors_origins", mode="before")
    @classmethod
    def _names(cls, value: object) -> object:
        return _split_names(value)

    @field_validator("default_phone_region", "default_currency")
    @classmethod
    def _upper(cls, value: str) -> str:
        return value.upper()
