"""Where the app's static files live on disk.

Directories served by the app:

* ``STATIC_DIR`` (``api/web/static``): our own ES modules (``js/``, see docs/web.md) and
  ``gridmap.css``, mounted at ``/static``.
* ``VENDOR``: the whitelist of npm package directories, ``{name: (node_modules subdirectory,
  a file that must be there)}``, each mounted at ``/static/vendor/<name>`` (``vendor_dirs()``):
  Leaflet for the map, leaflet-geoman for drawing grids, Swagger UI and ReDoc for ``/docs``
  and ``/redoc``. A feature that needs a library adds one entry here (and its package to ``package.json``). Nothing else under
  ``node_modules`` is served.

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


# name -> (directory under node_modules, a file it must hold)
VENDOR: dict[str, tuple[str, str]] = {
    "leaflet": ("leaflet/dist", "leaflet.js"),
    # Drawing and reshaping grids with snapping (editor/draw.js, editor/reshape.js): a UMD bundle, global L.PM.
    "geoman": ("@geoman-io/leaflet-geoman-free/dist", "leaflet-geoman.min.js"),
    "gcoord": ("gcoord/dist", "gcoord.global.prod.js"),  # WGS84 <-> GCJ-02 for js/crs.js
    "protomaps-leaflet": ("protomaps-leaflet/dist", "protomaps-leaflet.js"),  # vector basemaps
    "echarts": ("echarts/dist", "echarts.min.js"),  # the leaders' statistics page (/stats): global echarts
    "swagger-ui": ("swagger-ui-dist", "swagger-ui-bundle.js"),
    "redoc": ("redoc/bundles", "redoc.standalone.js"),
}


def vendor_dirs() -> dict[str, pathlib.Path]:
    """``{name: directory}`` for every ``VENDOR`` entry, checked to be installed (see ``_installed``)."""
    out: dict[str, pathlib.Path] = {}
    for name, (subdir, marker) in VENDOR.items():
        package, _, directory = subdir.partition("/")
        if package.startswith("@"):  # a scoped package: @scope/name/dir
            scoped, _, directory = directory.partition("/")
            package = f"{package}/{scoped}"
        out[name] = _installed(package, directory or ".", marker)
    return out


def leaflet_dist() -> pathlib.Path:
    """The directory holding ``leaflet.js``, ``leaflet.css`` and ``images/``."""
    return _installed("leaflet", "dist", "leaflet.js")


def swagger_ui_dist() -> pathlib.Path:
    """The directory holding ``swagger-ui-bundle.js``, ``swagger-ui.css`` and the favicons."""
    return _installed("swagger-ui-dist", ".", "swagger-ui-bundle.js")


def redoc_bundles() -> pathlib.Path:
    """The directory holding ``redoc.standalone.js`` (ReDoc with its dependencies in one file)."""
    return _installed("redoc", "bundles", "redoc.standalone.js")
