"""ASGI entry point for uvicorn: settings come from the GRIDMAP_ environment."""

import sys

from api.main import create_app
from tiles.basemap import BasemapError

try:
    app = create_app()
except BasemapError as exc:  # a missing or corrupt basemap file: one line naming it, not a traceback
    sys.exit(f"error: GRIDMAP_BASEMAP_FILE {exc}")
