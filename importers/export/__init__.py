"""Exports: any grid layer, divisions, households, cameras, events, residents and the fusion problems, as
GeoPackage, Shapefile (.zip), KML, GeoJSON, CSV or XLSX, inside the caller's territory.

``run.run_export`` is the one entry (the CLI's ``gridmap export`` and the API's ``GET /exports/{what}``
both call it); ``datasets`` says what each kind holds and reads it in chunks; ``writers`` writes them.
"""
