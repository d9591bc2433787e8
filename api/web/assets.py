"""Where the web map's static files live on disk.

Two directories are served by the app:

* ``STATIC_DIR`` (``api/web/static``): our own ``gridmap.js`` / ``gridmap.css``,
  mounted at ``/static``.
* ``leaflet_dist()`` (``api/web/node_modules/leaflet/dist``): Leaflet as
  installed by npm from ``api/web/package-lock.json``, mounted at
  ``/static/vendor/leaflet``. It is not committed; ``npm ci --prefix api/web``
  (part of ``make setup``) puts it there.
"""

from __future__ import annotations

import pathlib

WEB_DIR = pathlib.Path(__file__).resolve().parent
STATIC_DIR = WEB_DIR / "static"
NODE_MODULES = WEB_DIR / "node_modules"


def leaflet_dist() -> pathlib.Path:
    """Return the directory holding ``leaflet.js``, ``leaflet.css`` and ``images/``.

    Raises ``FileNotFoundError`` with the command to fix it when the npm
    packages have not been installed.
    """
    dist = NODE_MODULES / "leaflet" / "dist"
    if not (dist / "leaflet.js").is_file():
        raise FileNotFoundError(
            f"Leaflet is not installed (expected {dist / 'leaflet.js'}). "
            "Run `npm ci --prefix api/web` (or `make setup`) from the repository root."
        )
    return dist
