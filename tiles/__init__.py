"""Mapbox vector tiles and TileJSON for grid layers and divisions. Imports geo only."""
