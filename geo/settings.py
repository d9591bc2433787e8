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
# The server's own role on that cluster: owns nothing, cannot bypass row-level security.
DEFAULT_APP_DATABASE_URL = "postgresql+psycopg2://gridmap_app:gridmap_app@127.0.0.1:5432/gridmap"
APP_ROLE = "gridmap_app"


class DatabaseSettings(BaseSettings):
    """Where the PostGIS database is and how the pool behaves."""

    model_config = SettingsConfigDict(env_prefix="GRIDMAP_")

    database_url: str = Field(default=DEFAULT_DATABASE_URL, description="Owner role: migrations and the CLI.")
    app_database_url: str | None = Field(
        default=None,
        description="The server's role (no ownership, no BYPASSRLS). Default: gridmap_app on the same "
        "database as database_url.",
    )
    pool_size: int = Field(default=10, ge=1, le=200)
    statement_timeout_ms: int = Field(default=30_000, ge=100)

    @property
    def is_default(self) -> bool:
        return self.database_url == DEFAULT_DATABASE_URL

    @property
    def server_url(self) -> str:
        """The URL the API connects with: the application role, on the owner's database."""
        if self.app_database_url:
            return self.app_database_url
        from sqlalchemy.engine import make_url

        owner = make_url(self.database_url)
        return owner.set(username=APP_ROLE, password=APP_ROLE).render_as_string(hide_password=False)


class ServerSettings(BaseSettings):
    """The HTTP server and API limits."""

    model_config = SettingsConfigDict(env_prefix="GRIDMAP_")

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    page_max: int = Field(default=1000, ge=1, description="Largest page a list endpoint serves.")
    page_default: int = Field(default=100, ge=1)
    public_reports_per_minute: int = Field(
        default=6, ge=1, description="Reports one client address may submit per minute without signing in.")


class AuthSettings(BaseSettings):
    """Bearer tokens. The signing key defaults to the one the migration generated in the database."""

    model_config = SettingsConfigDict(env_prefix="GRIDMAP_")

    token_key: str | None = Field(default=None, min_length=32, repr=False)
    access_token_minutes: int = Field(default=15, ge=1, le=24 * 60)
    refresh_token_hours: int = Field(default=12, ge=1, le=24 * 30)
    # Sign-in throttling (geo/login_throttle.py): after this many failures for a key, each further failure
    # makes the next attempt for that key wait twice as long (1 s, 2 s, 4 s, ... up to login_max_delay_s).
    login_pair_failures: int = Field(default=3, ge=1, description="Free failures per (account, address).")
    login_address_failures: int = Field(default=20, ge=1, description="Free failures per address, any account.")
    login_account_failures: int = Field(
        default=50, ge=1, description="Free failures per account from addresses that never signed in to it.")
    login_max_delay_s: int = Field(default=900, ge=1, le=86_400, description="The longest wait a failure causes.")
    login_forget_s: int = Field(default=3600, ge=60, description="Failures are forgotten after this long quiet.")


class PositionSettings(BaseSettings):
    """Responders' positions: when a fix is stale, how long the history is kept (PIPL), input limits."""

    model_config = SettingsConfigDict(env_prefix="GRIDMAP_")

    position_stale_minutes: int = Field(default=30, ge=1, le=24 * 60,
                                        description="A fix older than this is stale: not used to dispatch.")
    position_retention_days: int = Field(default=30, ge=1, le=3650,
                                         description="Position history older than this is purged (行踪轨迹, PIPL).")
    position_batch_max: int = Field(default=500, ge=1, le=10_000, description="Most fixes in one batch upload.")
    position_future_skew_s: int = Field(default=120, ge=0, le=3600,
                                        description="How far ahead of the server clock a fix's time may be.")
