"""The FastAPI application factory. Settings come in explicitly; nothing is built at import time."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from starlette.middleware.gzip import GZipMiddleware
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from api import heavy, problems
from api.caching import CacheHeaders
from api.forms import FormBodies
from api.limits import BodyLimit
from api.ratelimit import ReportLimit
from api.routes import (
    audit,
    auth,
    basemap,
    break_glass,
    citizen,
    citizen_pages,
    dispatch,
    divisions,
    events,
    exports,
    fusion,
    grid_edits,
    grid_undo,
    grids,
    imports,
    layers,
    live,
    locate,
    open311,
    photos,
    points,
    positions,
    residents,
    responders,
    search,
    stats_page,
    tiles,
    visits,
    web,
    work,
)
from api.web import docs
from api.web.assets import STATIC_DIR, vendor_dirs
from geo.access.login_throttle import ThrottlePolicy
from geo.access.security import TokenSettings, signing_key
from geo.db import make_engine, make_sessionmaker
from geo.live.settings import LiveSettings
from geo.privacy import logsafe
from geo.settings import (
    AuthSettings,
    BasemapSettings,
    DatabaseSettings,
    EmergencySettings,
    GridRules,
    PhotoSettings,
    PositionSettings,
    ServerSettings,
)
from tiles.basemap import open_basemap


def create_app(
    db_settings: DatabaseSettings | None = None,
    server_settings: ServerSettings | None = None,
    auth_settings: AuthSettings | None = None,
    position_settings: PositionSettings | None = None,
    grid_rules: GridRules | None = None,
    basemap_settings: BasemapSettings | None = None,
    photo_settings: PhotoSettings | None = None,
) -> FastAPI:
    logsafe.install()  # before anything can log: no personal data in any record (PIPL)
    db_settings = db_settings or DatabaseSettings()
    server_settings = server_settings or ServerSettings()
    auth_settings = auth_settings or AuthSettings()
    app = FastAPI(
        title="gridmap",
        summary="Grid-based grassroots governance (网格化服务管理) on PostGIS",
        version="0.1.0",
        docs_url=None,  # /docs and /redoc are api/web/docs.py: local assets, no CDN
        redoc_url=None,
    )
    # Opened first, so a missing or corrupt basemap file stops start-up with its path (tiles.basemap).
    app.state.basemap = open_basemap(basemap_settings)
    engine = make_engine(db_settings, as_app=True)
    app.state.engine = engine
    app.state.sessionmaker = make_sessionmaker(engine)
    app.state.server_settings = server_settings
    app.state.position_settings = position_settings or PositionSettings()
    app.state.emergency_settings = EmergencySettings()
    app.state.grid_rules = grid_rules or GridRules()
    app.state.photo_settings = photo_settings = photo_settings or PhotoSettings()
    app.state.live_settings = LiveSettings()  # read here, so a bad GRIDMAP_LIVE_* stops start-up (api/routes/live.py)
    app.state.token_settings = TokenSettings(
        key=auth_settings.token_key or _stored_key(app),
        access_minutes=auth_settings.access_token_minutes,
        refresh_hours=auth_settings.refresh_token_hours,
    )
    app.state.throttle_policy = ThrottlePolicy(
        pair_failures=auth_settings.login_pair_failures, address_failures=auth_settings.login_address_failures,
        account_failures=auth_settings.login_account_failures, max_delay_s=auth_settings.login_max_delay_s,
        forget_s=auth_settings.login_forget_s)
    problems.install(app)
    heavy.install(app, per_user=server_settings.heavy_per_user, total=server_settings.heavy_total,
                  cache_bytes=server_settings.heavy_cache_mb * 1024 * 1024)
    app.state.report_limit = ReportLimit(engine, server_settings.public_reports_per_minute,
                                         server_settings.public_reports_burst)
    # events.router before points.events: /events/overdue must not be read as /events/{event_id}.
    # grid_undo.router before grids.router: /grids/edits must not be read as /grids/{grid_id}.
    for router in (locate.router, layers.router, divisions.router, grid_edits.router, grid_undo.router, grids.router,
                   events.router, events.catalogue, work.router, points.households,
                   points.cameras, points.events, points.staff, tiles.router, basemap.router, web.router,
                   auth.router, residents.router, audit.router, open311.router,
                   positions.router, responders.router, fusion.router, imports.router, exports.router,
                   dispatch.router, break_glass.router, visits.router,
                   stats_page.router, citizen.router, citizen_pages.router,
                   search.router, photos.router, live.router, docs.router):
        app.include_router(router)
    uploads = {("POST", "/imports"): server_settings.import_upload_max_mb * 1024 * 1024,  # files: limit of their own
               ("POST", "/photos"): photo_settings.max_bytes + 64 * 1024}  # the photo and the multipart framing
    app.add_middleware(FormBodies, uploads=frozenset(uploads))  # inside BodyLimit: counted before decoded
    app.add_middleware(BodyLimit, uploads=uploads)
    # Inside the compression middleware: ETags hash the plain body, which gzip's embedded timestamp would
    # otherwise change on every response.
    app.add_middleware(CacheHeaders)
    # Every answer is compressed when the client accepts gzip (Vary: Accept-Encoding): a county's
    # micro-grids as GeoJSON shrink several times over. Under 1 KB it is not worth a gzip header;
    # level 6 compresses about as well as 9 at a fraction of the CPU. Streamed answers are compressed
    # chunk by chunk; large chunks in a worker thread, off the event loop.
    app.add_middleware(GZipMiddleware, minimum_size=1024, compresslevel=6)
    # Outermost, so every layer sees the real client. Forwarded headers are believed only from the
    # proxies in GRIDMAP_TRUSTED_PROXIES (default none); `gridmap serve` turns uvicorn's own off.
    app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=server_settings.trusted_proxy_list)
    # The npm packages' whitelisted directories (api/web/assets.py VENDOR), before /static itself.
    for name, directory in vendor_dirs().items():
        app.mount(f"/static/vendor/{name}", StaticFiles(directory=directory), name=f"vendor-{name}")
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    return app


def _stored_key(app: FastAPI) -> str:
    from sqlalchemy.exc import OperationalError

    try:
        with app.state.sessionmaker() as session:
            return signing_key(session)
    except OperationalError as exc:
        raise RuntimeError(
            "cannot connect as the application role; run `gridmap db up` (local database) or set "
            "GRIDMAP_APP_DATABASE_URL to a role that owns nothing and cannot bypass row-level security"
        ) from exc
