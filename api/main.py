"""The FastAPI application factory. Settings come in explicitly; nothing is built at import time."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from api import problems
from api.routes import divisions, grids, layers, locate, points, tiles, web
from api.web.assets import STATIC_DIR, leaflet_dist
from geo.db import make_engine, make_sessionmaker
from geo.settings import DatabaseSettings, ServerSettings


def create_app(
    db_settings: DatabaseSettings | None = None, server_settings: ServerSettings | None = None
) -> FastAPI:
    db_settings = db_settings or DatabaseSettings()
    server_settings = server_settings or ServerSettings()
    app = FastAPI(
        title="gridmap",
        summary="Grid-based grassroots governance (网格化服务管理) on PostGIS",
        version="0.1.0",
    )
    engine = make_engine(db_settings)
    app.state.engine = engine
    app.state.sessionmaker = make_sessionmaker(engine)
    app.state.server_settings = server_settings
    problems.install(app)
    for router in (locate.router, layers.router, divisions.router, grids.router, points.households,
                   points.cameras, points.events, points.staff, tiles.router, web.router):
        app.include_router(router)
    app.mount("/static/vendor/leaflet", StaticFiles(directory=leaflet_dist()), name="leaflet")
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    return app
