"""Run the web server: a plain function, so ``gridmap serve`` and ``gridmap demo --serve`` share it.

The typer commands only parse options and call :func:`run_server`. Nothing else calls a typer
command function: its parameters' defaults are typer ``OptionInfo`` objects, not values, and
``demo --serve`` once crashed on exactly that (``'>' not supported between 'OptionInfo' and 'int'``).
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import ValidationError

from geo.settings import ServerSettings

APP = "api.asgi:app"  # an import string: uvicorn imports it in each worker process


@dataclass(frozen=True)
class ServerAddress:
    host: str
    port: int
    workers: int

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"


def server_address(host: str | None = None, port: int | None = None, workers: int = 1) -> ServerAddress:
    """Where to listen: the arguments given, else ``GRIDMAP_HOST`` / ``GRIDMAP_PORT``, else 127.0.0.1:8000.

    Raises ``ValueError`` with a one-line reason for a port outside 1–65535 or fewer than one worker,
    so a bad option is refused before anything starts.
    """
    overrides = {k: v for k, v in (("host", host), ("port", port)) if v is not None}
    try:
        settings = ServerSettings(**overrides)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise ValueError(f"--{first['loc'][0]}: {first['msg']}") from None
    if workers < 1:
        raise ValueError(f"--workers: must be at least 1, got {workers}")
    return ServerAddress(settings.host, settings.port, workers)


def basemap_problem() -> str | None:
    """The GRIDMAP_BASEMAP_* settings' first problem as one line (a missing file names its path), or None.

    The file's contents are checked when the app opens it (``tiles.basemap``, in ``api.asgi``).
    """
    from geo.settings import BasemapSettings

    try:
        BasemapSettings()
    except ValidationError as exc:
        return str(exc.errors()[0]["msg"]).removeprefix("Value error, ")
    return None


def run_server(address: ServerAddress) -> None:
    """Serve the API and the web map until interrupted (SIGINT or SIGTERM end it cleanly)."""
    import uvicorn

    uvicorn.run(
        APP,
        host=address.host,
        port=address.port,
        workers=address.workers,
        log_level="info",
        access_log=False,
        # The client address comes from the socket, never from X-Forwarded-For: uvicorn's default trusts
        # that header from loopback, so anything on this machine could claim any address (and get round
        # per-address rate limits). The app itself honours forwarded headers only from the proxies listed
        # in GRIDMAP_TRUSTED_PROXIES (issue 12).
        proxy_headers=False,
    )
