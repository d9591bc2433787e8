"""Coordinate systems, checks on incoming geometry and GeoJSON straight from PostGIS."""
