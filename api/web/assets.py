"""Where the app's static files live on disk.

Directories served by the app:

* ``STATIC_DIR`` (``api/web/static``): our own ``gridmap.js`` / ``gridmap.css``,
  mounted at ``/static``.
* ``leaflet_dist()`` (``api/web/node_modules/leaflet/dist``): Leaflet, mounted at
  ``/static/vendor/leaflet``.
* ``geoman_dist()`` (``node_modules/@geoman-io/leaflet-geoman-free/dist``): leaflet-geoman, the
  drawing and vertex-editing plugin with snapping (the grid editor), at ``/static/vendor/geoman``.
* ``swagger_ui_dist()`` and ``redoc_bundles()``: Swagger UI and ReDoc for ``/docs``
  and ``/redoc``, mounted at ``/static/vendor/swagger-ui`` and ``/static/vendor/redoc``.

The vendor directories are installed by npm from ``api/web/package-lock.json`` and
never committed; ``npm ci --prefix api/web`` (part of ``make setup``) puts them there.
Nothing is loaded from a CDN: the map and the API docs work on an isolated network.
"""

from __future__ import annotations

import pathlib

WEB_DIR = pathlib.Path(__file__).resolve().parent
STATIC_DIR = WEB_DIR / "static"
NODE_MODULES = WEB_DIR / "node_modules"


def _installed(package: str, directory: str, marker: str) -> pathlib.Path:
    """``node_modules/<package>/<directory>``, checked to hold ``marker``.

    Raises ``FileNotFoundError`` with the command to fix it when the npm packages have not been
    installed, so the app refuses to start rather than serve a blank page.
    """
    path = NODE_MODULES / package / directory
    if not (path / marker).is_file():
        raise FileNotFoundError(
            f"{package} is not installed (expected {path / marker}). "
            "Run `npm ci --prefix api/web` (or `make setup`) from the repository root."
        )
    return path


def leaflet_dist() -> pathlib.Path:
    """The directory holding ``leaflet.js``, ``leaflet.css`` and ``images/``."""
    return _installed("leaflet", "dist", "leaflet.js")


def geoman_dist() -> pathlib.Path:
    """The directory holding ``leaflet-geoman.min.js`` and ``leaflet-geoman.css`` (a UMD bundle: global ``L.PM``)."""
    return _installed("@geoman-io/leaflet-geoman-free", "dist", "leaflet-geoman.min.js")


def swagger_ui_dist() -> pathlib.Path:
    """The directory holding ``swagger-ui-bundle.js``, ``swagger-ui.css`` and the favicons."""
    return _installed("swagger-ui-dist", ".", "swagger-ui-bundle.js")


def redoc_bundles() -> pathlib.Path:
    """The directory holding ``redoc.standalone.js`` (ReDoc with its dependencies in one file)."""
    return _installed("redoc", "bundles", "redoc.standalone.js")
