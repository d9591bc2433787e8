"""Settings of the live stream (environment prefix ``GRIDMAP_LIVE_``)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class LiveSettings(BaseSettings):
    """Caps and timings of ``GET /live``. Per process: with ``--workers N`` the process cap is N times this."""

    model_config = SettingsConfigDict(env_prefix="GRIDMAP_LIVE_", extra="ignore")

    per_user: int = Field(default=4, ge=1, le=100_000,
                          description="Streams one account may hold open at once in a process (a few tabs).")
    per_process: int = Field(default=500, ge=1, le=100_000, description="Streams one server process serves.")
    heartbeat_s: float = Field(default=15, gt=0, le=300,
                               description="A comment line this often, so proxies and phones keep the stream.")
    replay: int = Field(default=5000, ge=0, le=1_000_000,
                        description="Notifications kept for reconnecting clients (Last-Event-ID).")
    queue: int = Field(default=2000, ge=10, le=1_000_000,
                       description="Messages waiting for one slow client before its stream is ended.")
