"""Settings, one class per concern, each with the ``GRIDMAP_`` prefix.

Nothing here is created at import time: callers build settings explicitly and
pass them on (``create_app(settings)``), so tests can run with their own.
"""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path
from typing import Any

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# The local cluster that ``gridmap db up`` provisions when no URL is given. It
# listens on loopback only. These passwords are the old defaults: provisioning
# now replaces them with random ones kept in the secrets file (below), and any
# real deployment sets GRIDMAP_DATABASE_URL / GRIDMAP_APP_DATABASE_URL itself.
DEFAULT_DATABASE_URL = "postgresql+psycopg2://gridmap:gridmap@127.0.0.1:5432/gridmap"
# The server's own role on that cluster: owns nothing, cannot bypass row-level security.
DEFAULT_APP_DATABASE_URL = "postgresql+psycopg2://gridmap_app:gridmap_app@127.0.0.1:5432/gridmap"
APP_ROLE = "gridmap_app"
# Where provisioning writes the generated role passwords (as the two URLs), mode 0600, owned by
# root, in a 0700 directory. Outside the checkout and the venv on purpose: `make clean`, a fresh
# clone or a second checkout must not lose or fork the credentials of the one local cluster, and
# /etc is where a root-run service's secrets are looked for. GRIDMAP_SECRETS_FILE moves it.
SECRETS_FILE = "/etc/gridmap/database.env"


def secrets_path() -> Path:
    return Path(os.environ.get("GRIDMAP_SECRETS_FILE") or SECRETS_FILE)


def read_secrets(path: Path | None = None) -> dict[str, str]:
    """``KEY=VALUE`` lines of the secrets file; empty when it is missing or unreadable (not root)."""
    try:
        lines = (path or secrets_path()).read_text().splitlines()
    except OSError:
        return {}
    pairs = (line.split("=", 1) for line in lines if "=" in line and not line.lstrip().startswith("#"))
    return {k.strip(): v.strip() for k, v in pairs}


def _same_server(a: str, b: str) -> bool:
    from sqlalchemy.engine import make_url

    ua, ub = make_url(a), make_url(b)
    return (ua.host, ua.port or 5432) == (ub.host, ub.port or 5432)


BULK_STATEMENT_TIMEOUT_MS = 3_600_000  # an hour: see DatabaseSettings.for_bulk


class DatabaseSettings(BaseSettings):
    """Where the PostGIS database is and how the pool behaves.

    Without GRIDMAP_DATABASE_URL (and no URL passed in), the URLs come from the secrets file that
    ``gridmap db up`` wrote, else the old defaults (before the first provisioning).
    """

    model_config = SettingsConfigDict(env_prefix="GRIDMAP_", extra="ignore")

    database_url: str = Field(default=DEFAULT_DATABASE_URL, description="Owner role: migrations and the CLI.")
    app_database_url: str | None = Field(
        default=None,
        description="The server's role (no ownership, no BYPASSRLS). Default: gridmap_app on the same "
        "database as database_url.",
    )
    pool_size: int = Field(default=10, ge=1, le=200)
    statement_timeout_ms: int = Field(default=30_000, ge=100)

    @classmethod
    def for_bulk(cls, **values: Any) -> "DatabaseSettings":
        """Settings for the CLI's long jobs (demo load, import, export).

        The 30 s statement timeout protects the server from a runaway request; a county-size COPY or
        reassignment legitimately runs for minutes (the demo's household COPY met it on a loaded
        machine). An explicit GRIDMAP_STATEMENT_TIMEOUT_MS still wins.
        """
        if "statement_timeout_ms" not in values and not os.environ.get("GRIDMAP_STATEMENT_TIMEOUT_MS"):
            values["statement_timeout_ms"] = BULK_STATEMENT_TIMEOUT_MS
        return cls(**values)

    def __init__(self, **values: Any) -> None:
        if ("database_url" not in values and "_env_file" not in values
                and not os.environ.get("GRIDMAP_DATABASE_URL") and secrets_path().is_file()
                and os.access(secrets_path(), os.R_OK)):  # not root: the file is not ours to read
            values["_env_file"] = secrets_path()
        super().__init__(**values)

    @property
    def is_default(self) -> bool:
        """Whether this is the local cluster that ``gridmap db up`` provisions (any password)."""
        return not os.environ.get("GRIDMAP_DATABASE_URL") and _same_server(self.database_url, DEFAULT_DATABASE_URL)

    @property
    def server_url(self) -> str:
        """The URL the API connects with: the application role, on the owner's database.

        Its password: the provisioned one from the secrets file when that file describes this
        server (so per-test and benchmark databases on the local cluster work), else the old default.
        """
        if self.app_database_url:
            return self.app_database_url
        from sqlalchemy.engine import make_url

        password = APP_ROLE
        stored = read_secrets().get("GRIDMAP_APP_DATABASE_URL")
        if stored and _same_server(stored, self.database_url):
            password = make_url(stored).password or APP_ROLE
        owner = make_url(self.database_url)
        return owner.set(username=APP_ROLE, password=password).render_as_string(hide_password=False)


class ServerSettings(BaseSettings):
    """The HTTP server and API limits."""

    model_config = SettingsConfigDict(env_prefix="GRIDMAP_")

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    page_max: int = Field(default=1000, ge=1, description="Largest page a list endpoint serves.")
    page_default: int = Field(default=100, ge=1)
    public_reports_per_minute: float = Field(
        default=6, gt=0, le=1_000_000,
        description="Anonymous reports: the rate at which one client address's allowance refills, per minute.")
    public_reports_burst: int = Field(
        default=30, ge=1, le=1_000_000,
        description="Anonymous reports one client address may send at once (a village kiosk, phones behind one "
        "carrier NAT) before the per-minute rate applies.")
    trusted_proxies: str = Field(
        default="",
        description="Comma-separated addresses or CIDRs of reverse proxies whose X-Forwarded-For and "
        "X-Forwarded-Proto are believed. Default none: the peer address is the client.")
    # Heavy requests (fusion, topology, exports, imports): api/heavy.py. Per process: with --workers N the
    # service runs at most N × heavy_total of them at once.
    heavy_per_user: int = Field(default=2, ge=1, le=100, description="Heavy calls one account may run at once.")
    heavy_total: int = Field(default=3, ge=1, le=100, description="Heavy calls one process runs at once.")
    heavy_cache_mb: int = Field(default=64, ge=0, le=4096, description="Memory for cached fusion/topology results.")
    import_upload_max_mb: int = Field(
        default=200, ge=1, le=4096,
        description="Largest upload to POST /imports (a county's households as CSV, a GeoPackage of its grids); "
        "every other request keeps the 2 MB body limit.")

    @field_validator("trusted_proxies")
    @classmethod
    def _proxies_are_addresses(cls, value: str) -> str:
        """A typo must fail at start-up: uvicorn would take it as a literal host and silently trust nothing."""
        for item in (v.strip() for v in value.split(",") if v.strip()):
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError:
                raise ValueError(f"GRIDMAP_TRUSTED_PROXIES: {item!r} is not an IP address or CIDR") from None
        return value

    @property
    def trusted_proxy_list(self) -> list[str]:
        return [v.strip() for v in self.trusted_proxies.split(",") if v.strip()]


class AuthSettings(BaseSettings):
    """Bearer tokens. The signing key defaults to the one the migration generated in the database."""

    model_config = SettingsConfigDict(env_prefix="GRIDMAP_")

    token_key: str | None = Field(default=None, min_length=32, repr=False)
    access_token_minutes: int = Field(default=15, ge=1, le=24 * 60)
    refresh_token_hours: int = Field(default=12, ge=1, le=24 * 30)
    # Sign-in throttling (geo/access/login_throttle.py): after this many failures for a key, each further failure
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


class GridRules(BaseSettings):
    """What a stored grid must be: big enough, and not a sliver (geo/rules.py applies these).

    Thinness is measured by the widest point of the shape (twice the radius of
    its maximum inscribed circle), not by Polsby–Popper 4πA/P²: Polsby–Popper
    falls with every extra vertex of a boundary that follows a river or a
    village line, so it would refuse real grids, while a shape that is nowhere
    wider than a couple of metres is a sliver whatever its outline.
    """

    model_config = SettingsConfigDict(env_prefix="GRIDMAP_")

    grid_min_area_m2: float = Field(default=50.0, ge=0, description="Smallest area a grid may have (m²).")
    grid_min_width_m: float = Field(
        default=3.0, ge=0, description="A grid nowhere wider than this (metres) is a sliver and is refused.")
    gap_tolerance_m2: float = Field(
        default=1.0, ge=0,
        description="On a full-cover layer (不重不漏), an edit may leave uncovered at most this many m² "
        "(snapping noise); a larger gap is refused or filled into a neighbour.")


# The placeholders a basemap URL template may use: XYZ ({z}/{x}/{y}, {-y} for TMS) or WMTS
# ({TileMatrix}/{TileRow}/{TileCol}, KVP or RESTful), with {s} for subdomains.
_XYZ = ("{z}", "{x}", "{y}")
_WMTS = ("{TileMatrix}", "{TileRow}", "{TileCol}")
# The first bytes of the two file formats (SQLite 3 for MBTiles; PMTiles v3's magic).
_SQLITE_MAGIC = b"SQLite format 3\x00"
_PMTILES_MAGIC = b"PMTiles"


class BasemapSettings(BaseSettings):
    """The basemap under the grids: a local tile file the app serves, or an intranet tile service.

    Why a setting and not a default: an isolated government network has no OpenStreetMap or AMap, so
    the operator brings either an .mbtiles/.pmtiles file (raster or vector; its format, bounds, zooms,
    attribution and vector layers are read from the file itself by ``tiles.basemap``) or the URL of an
    intranet 天地图 / other tile service. With neither, the map draws its own look from the app's data.
    The datum matters: 天地图 is CGCS2000 (≈ WGS84 at map scale), AMap-style tiles are GCJ-02, and the
    web map shifts its overlays to match (``js/crs.js``).

    Only cheap checks happen here (the file exists and starts like MBTiles or PMTiles; the template
    has its placeholders), so ``gridmap serve`` refuses a wrong path before starting; the file's
    contents are checked when the app opens it.
    """

    model_config = SettingsConfigDict(env_prefix="GRIDMAP_")

    basemap_file: Path | None = Field(
        default=None, description="A local .mbtiles or .pmtiles file (raster png/jpg/webp or vector mvt/pbf).")
    basemap_url: str | None = Field(
        default=None, max_length=2000,
        description="An XYZ ({z}/{x}/{y}) or WMTS ({TileMatrix}/{TileRow}/{TileCol}) tile URL template; "
        "{s} picks one of basemap_subdomains.")
    basemap_subdomains: str = Field(default="", max_length=200,
                                    description="Comma-separated values for {s} (天地图: t0,t1,...,t7).")
    basemap_datum: str = Field(default="wgs84", description="wgs84 | cgcs2000 | gcj02: the datum of the tiles.")
    basemap_attribution: str | None = Field(
        default=None, max_length=500, description="Shown in the map corner; a file's own attribution otherwise.")
    basemap_min_zoom: int | None = Field(default=None, ge=0, le=24)
    basemap_max_zoom: int | None = Field(default=None, ge=0, le=24)

    @field_validator("basemap_datum")
    @classmethod
    def _known_datum(cls, value: str) -> str:
        datum = value.strip().lower()
        if datum not in ("wgs84", "cgcs2000", "gcj02"):
            raise ValueError(f"GRIDMAP_BASEMAP_DATUM: {value!r} is not one of wgs84, cgcs2000, gcj02")
        return datum

    @field_validator("basemap_file")
    @classmethod
    def _tile_file(cls, value: Path | None) -> Path | None:
        """A wrong path must stop the server at start-up, not answer 500 for every tile."""
        if value is None or str(value) == "":
            return None
        path = value.expanduser().resolve()
        if not path.is_file():
            raise ValueError(f"GRIDMAP_BASEMAP_FILE: {path} does not exist or is not a file")
        try:
            with path.open("rb") as f:
                head = f.read(16)
        except OSError as exc:
            raise ValueError(f"GRIDMAP_BASEMAP_FILE: {path} cannot be read ({exc.strerror})") from None
        if not (head.startswith(_SQLITE_MAGIC) or head.startswith(_PMTILES_MAGIC)):
            raise ValueError(f"GRIDMAP_BASEMAP_FILE: {path} is neither an MBTiles (SQLite) nor a PMTiles file")
        return path

    @field_validator("basemap_url")
    @classmethod
    def _template(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        url = value.strip()
        if not (url.startswith(("http://", "https://", "/"))):
            raise ValueError(f"GRIDMAP_BASEMAP_URL: {url!r} must be an http(s) URL or a path on this server")
        xyz = url.replace("{-y}", "{y}")  # Leaflet's TMS row
        if not (all(p in xyz for p in _XYZ) or all(p in url for p in _WMTS)):
            raise ValueError("GRIDMAP_BASEMAP_URL: needs the placeholders {z}, {x} and {y} (XYZ) or "
                             "{TileMatrix}, {TileRow} and {TileCol} (WMTS)")
        return url

    @model_validator(mode="after")
    def _one_source(self) -> "BasemapSettings":
        if self.basemap_file is not None and self.basemap_url is not None:
            raise ValueError("set GRIDMAP_BASEMAP_FILE or GRIDMAP_BASEMAP_URL, not both")
        if "{s}" in (self.basemap_url or "") and not self.subdomain_list:
            raise ValueError("GRIDMAP_BASEMAP_URL uses {s}: set GRIDMAP_BASEMAP_SUBDOMAINS too")
        low, high = self.basemap_min_zoom, self.basemap_max_zoom
        if low is not None and high is not None and low > high:
            raise ValueError(f"GRIDMAP_BASEMAP_MIN_ZOOM ({low}) is above GRIDMAP_BASEMAP_MAX_ZOOM ({high})")
        return self

    @property
    def subdomain_list(self) -> list[str]:
        return [s.strip() for s in self.basemap_subdomains.split(",") if s.strip()]

    @property
    def leaflet_url(self) -> str | None:
        """The URL template in Leaflet's placeholders: WMTS's TileMatrix/TileRow/TileCol are z/y/x.

        That holds for a Web Mercator tile matrix set whose matrix n is zoom n (天地图's ``_w`` layers,
        GoogleMapsCompatible); 天地图's geographic ``_c`` sets are not Web Mercator and are not supported.
        """
        if self.basemap_url is None:
            return None
        return (self.basemap_url.replace("{TileMatrix}", "{z}").replace("{TileRow}", "{y}")
                .replace("{TileCol}", "{x}"))


class PhotoSettings(BaseSettings):
    """Photos of reports (geo/media): where the bytes go, how big an upload may be, how fast one address
    may upload without an account."""

    model_config = SettingsConfigDict(env_prefix="GRIDMAP_")

    photos_dir: Path | None = Field(
        default=None,
        description="A directory for the photos' bytes (one file per photo, named by its id). Default: in "
        "PostgreSQL (bytea), so backups and transactions cover them.")
    photo_max_mb: float = Field(default=8, gt=0, le=64, description="Largest photo upload, in MB.")
    photo_max_pixels: int = Field(
        default=40_000_000, ge=10_000, le=200_000_000,
        description="Most pixels a photo may have (a 40 MP phone camera); larger is refused before decoding "
        "(decompression bombs).")
    photo_uploads_per_minute: float = Field(
        default=20, gt=0, le=1_000_000, description="Uploads without an account: the refill rate per address.")
    photo_uploads_burst: int = Field(
        default=40, ge=1, le=1_000_000, description="Uploads one address may send at once without an account.")
    photo_unattached_hours: int = Field(
        default=24, ge=1, le=24 * 30, description="A photo no report names within this long is purged.")

    @field_validator("photos_dir")
    @classmethod
    def _writable_dir(cls, value: Path | None) -> Path | None:
        """A wrong directory must stop the server at start-up, not fail every upload."""
        if value is None or str(value) == "":
            return None
        path = value.expanduser().resolve()
        if not path.is_dir() or not os.access(path, os.W_OK | os.X_OK):
            raise ValueError(f"GRIDMAP_PHOTOS_DIR: {path} is not a writable directory")
        return path

    @property
    def max_bytes(self) -> int:
        return int(self.photo_max_mb * 1024 * 1024)
