"""Browser map for gridmap: the folium page builder and the assets it serves.

The page is a thin shell (no embedded data); the ES modules under ``static/js/``
(docs/web.md) pull grids, divisions and points from the JSON API as the view needs
them. Leaflet itself
is installed from the npm registry into ``api/web/node_modules`` and served by
the app, so the page never reaches a CDN or a third-party basemap.
"""
