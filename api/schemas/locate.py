"""The answer of GET /locate."""

from __future__ import annotations

from pydantic import BaseModel, Field


class DivisionRef(BaseModel):
    id: int
    code: str = Field(description="12-digit statistical division code.")
    name: str


class GridRef(BaseModel):
    id: int
    code: str
    name: str
    layer_name: str


class LocateResult(BaseModel):
    lon: float = Field(description="The point in WGS84.")
    lat: float
    crs: str = Field(description="The CRS the point was given in.")
    divisions: dict[str, DivisionRef] = Field(description="county, township and village containing the point.")
    grids: dict[str, GridRef | None] = Field(description="Covering grid per layer code; null where none covers.")
