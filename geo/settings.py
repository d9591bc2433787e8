"""Settings, one class per concern, each with the ``GRIDMAP_`` prefix.

Nothing here is created at import time: callers build settings explicitly and
pass them on (``create_app(settings)``), so tests can run with their own.
"""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

# The local cluster that ``gridmap db up`` provisions when no URL is given. It
# listens on loopback only; set GRIDMAP_DATABASE_URL for any real deployment.
DEFAULT_DATABASE_URL = "postgresql+psycopg2://gridmap:gridmap@127.0.0.1:5432/gridmap"


class DatabaseSettings(BaseSettings):
    """Where the PostGIS database is and how the pool behaves."""

    model_config = SettingsConfigDict(env_prefix="GRIDMAP_")

    database_url: str = DEFAULT_DATABASE_URL
    pool_size: int = Field(default=10, ge=1, le=200)
    statement_timeout_ms: int = Field(default=30_000, ge=100)

    @property
    def is_default(self) -> bool:
        return self.database_url == DEFAULT_DATABASE_URL


class ServerSettings(BaseSettings):
    """The HTTP server and API limits."""

    model_config = SettingsConfigDict(env_prefix="GRIDMAP_")

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    page_max: int = Field(default=1000, ge=1, description="Largest page a list endpoint serves.")
    page_default: int = Field(default=100, ge=1)
