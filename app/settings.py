"""One validated settings object, read from the environment (prefix-free names)."""

from __future__ import annotations

import os
import re
from enum import StrEnum
from typing import Annotated

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///data/customers.sqlite3"
SUPPORTED_DRIVERS = ("sqlite+aiosqlite", "postgresql+asyncpg")
_ORIGIN = re.compile(r"^https?://[a-z0-9.\-\[\]:]+\Z")


class Environment(StrEnum):
    DEVELOPMENT = "development"
    PRODUCTION = "production"


class PersistedDocuments(StrEnum):
    """Which documents run (README, "Persisted documents")."""

    OFF = "off"
    APQ = "apq"
    TRUSTED = "trusted"


class SqliteSynchronous(StrEnum):
    """When SQLite waits for the disk (README, "Durability")."""

    FULL = "full"
    NORMAL = "normal"


class Settings(BaseSettings):
    """Everything the gateway can be told; each field is an environment variable."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", frozen=True)

    environment: Environment = Environment.DEVELOPMENT
    database_url: str = DEFAULT_DATABASE_URL
    database_schema: str | None = Field(
        default=None, pattern=r"^[a-z_][a-z0-9_]{0,62}$", description="PostgreSQL schema to use"
    )
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    log_level: str = "INFO"

    # One process keeps one core busy with five connections (ten measured no faster);
    # fewer rows in flight keep its memory lower. It opens as many for reads
    # (app/store/driver.py) as for writes, so ten replicas fit within PostgreSQL's
    # default max_connections of 100.
    db_pool_size: int = Field(default=5, ge=1, le=200)
    db_statement_timeout_ms: int = Field(default=5_000, ge=100)
    # full: an acknowledged write survives a power loss; normal: only a crash of the process.
    sqlite_synchronous: SqliteSynchronous = SqliteSynchronous.FULL
    request_timeout_seconds: float = Field(default=10.0, gt=0)
    shutdown_grace_seconds: float = Field(default=10.0, ge=0)
    # A connection is closed when no complete request head arrives within this time (since
    # it opened, or since its last answer): idle keep-alives and slowloris clients alike.
    idle_timeout_seconds: float = Field(default=15.0, gt=0)
    # Open connections per process; a new one beyond it is answered 503 and closed.
    max_connections: int = Field(default=10_000, ge=1)

    # Each limit's default and the reason for it: README, "HTTP, limits and production".
    max_body_bytes: int = Field(default=100_000, ge=1_000)
    max_query_depth: int = Field(default=12, ge=2)
    max_aliases: int = Field(default=30, ge=1)
    max_tokens: int = Field(default=2_000, ge=50)
    max_operations: int = Field(default=10, ge=1)
    max_node_budget: int = Field(default=50_000, ge=1)
    max_batch_operations: int = Field(default=10, ge=1, le=1_000)

    persisted_documents: PersistedDocuments = PersistedDocuments.APQ

    # A bucket of points per API key (README, "Rate limits"); 0 turns rate limits off.
    rate_limit_bucket: int = Field(default=1_000, ge=0)
    rate_limit_restore_per_second: int = Field(default=50, gt=0)
    # At most this many refusals (429) a second per key and process; 0 answers them at once.
    rate_limit_refusals_per_second: int = Field(default=20, ge=0)
    # Shares the buckets between every gateway process; without it each process keeps its own.
    redis_url: str | None = Field(default=None, pattern=r"^(redis|rediss|unix)://")
    redis_key_prefix: str = Field(default="gateway:", pattern=r"^[A-Za-z0-9:_.-]{0,64}$")

    # GET /metrics: open in development; in production only with this Bearer token, or on
    # METRICS_PORT, a listener of its own on 127.0.0.1 (README, "Operating it").
    metrics_token: str | None = Field(default=None, min_length=16)
    metrics_port: int | None = Field(default=None, ge=1, le=65535)

    # Processes serving one port: a number, or "auto" for one per core (app/workers.py).
    workers: str = Field(default="1", pattern=r"^(auto|[1-9][0-9]{0,2})$")

    # The event log keeps each event at least this many days (README, "Live updates").
    event_retention_days: int = Field(default=30, ge=30, le=3_650)
    # Subscriptions (README, "Subscribing"): open ones per key in each process; how many
    # events behind the log a subscriber may fall before it is cut off; how often an idle
    # stream is pinged; how long a new WebSocket has to send connection_init.
    subscriptions_per_key: int = Field(default=100, ge=1)
    subscriber_max_lag: int = Field(default=1_000, ge=1)
    keepalive_seconds: float = Field(default=15.0, gt=0)
    connection_init_seconds: float = Field(default=10.0, gt=0)

    # Plans the hot query shapes instead of resolving field by field (app/api/fastpath);
    # off sends every document through graphql-core, with the same answers.
    fast_path: bool = True

    introspection: bool | None = None
    graphiql: bool | None = None
    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)

    @field_validator("database_url")
    @classmethod
    def _known_driver(cls, value: str) -> str:
        try:
            url = make_url(value)
        except ArgumentError as error:
            raise ValueError(f"DATABASE_URL is not a database URL: {value!r}") from error
        if url.drivername not in SUPPORTED_DRIVERS:
            raise ValueError(
                f"DATABASE_URL must use one of {', '.join(SUPPORTED_DRIVERS)}, "
                f"not {url.drivername!r}"
            )
        return value

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            return [origin.strip() for origin in value.split(",") if origin.strip()]
        return value

    @field_validator("cors_origins")
    @classmethod
    def _origins_are_origins(cls, value: list[str]) -> list[str]:
        origins = []
        for origin in value:
            normalized = origin.rstrip("/").lower()
            if normalized != "*" and not _ORIGIN.match(normalized):
                raise ValueError(
                    f"CORS_ORIGINS entries are origins like https://app.example.com "
                    f"(scheme, host, optional port, no path), not {origin!r}"
                )
            origins.append(normalized)
        return origins

    @model_validator(mode="after")
    def _safe_in_production(self) -> Settings:
        if self.is_production and "*" in self.cors_origins:
            raise ValueError(
                "CORS_ORIGINS='*' lets any web page call the API in production; "
                "list the frontend origins instead"
            )
        if self.is_production and self.is_sqlite and self.sqlite_path is None:
            raise ValueError("an in-memory SQLite database loses every customer on restart")
        return self

    @property
    def is_production(self) -> bool:
        return self.environment is Environment.PRODUCTION

    @property
    def is_sqlite(self) -> bool:
        return make_url(self.database_url).get_backend_name() == "sqlite"

    @property
    def sqlite_path(self) -> str | None:
        """The SQLite database file, or None for an in-memory database or another backend."""
        url = make_url(self.database_url)
        if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
            return None
        return url.database

    @property
    def worker_count(self) -> int:
        return (os.cpu_count() or 1) if self.workers == "auto" else int(self.workers)

    @property
    def metrics_on_main_port(self) -> bool:
        """Development serves /metrics openly; production only behind METRICS_TOKEN."""
        return not self.is_production or self.metrics_token is not None

    @property
    def introspection_enabled(self) -> bool:
        return self.introspection if self.introspection is not None else not self.is_production

    @property
    def graphiql_enabled(self) -> bool:
        return self.graphiql if self.graphiql is not None else not self.is_production

    @property
    def detailed_errors(self) -> bool:
        """Suggestions ("Did you mean …?") and error class names in responses."""
        return not self.is_production
