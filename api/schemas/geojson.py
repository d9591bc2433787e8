"""RFC 7946 GeoJSON responses.

Features arrive already serialised by PostGIS (geo.spatial.features); this module only
wraps them in a FeatureCollection with OGC API-style ``links`` for paging. The
pydantic models document the shape in OpenAPI.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from geo.spatial.features import Page

GEOJSON = "application/geo+json"


class Link(BaseModel):
    href: str
    rel: Literal["self", "next"]
    type: str = GEOJSON


class Feature(BaseModel):
    type: Literal["Feature"] = "Feature"
    id: int
    geometry: dict[str, Any] = Field(description="RFC 7946 geometry, WGS84 longitude/latitude.")
    properties: dict[str, Any]


class FeatureCollection(BaseModel):
    type: Literal["FeatureCollection"] = "FeatureCollection"
    features: list[Feature]
    numberMatched: int | None = Field(None, description="Features matching the query on every page.")
    numberReturned: int
    links: list[Link]


def collection_response(request: Request, page: Page) -> Response:
    links = [{"href": str(request.url), "rel": "self", "type": GEOJSON}]
    if page.next_after is not None:
        links.append({"href": str(request.url.include_query_params(after=page.next_after)), "rel": "next",
                      "type": GEOJSON})
    import json

    body = (
        '{"type":"FeatureCollection","features":[' + ",".join(page.features) + "],"
        + (f'"numberMatched":{page.number_matched},' if page.number_matched is not None else "")
        + f'"numberReturned":{len(page.features)},"links":{json.dumps(links)}}}'
    )
    return Response(body, media_type=GEOJSON)


def feature_response(feature_json: str) -> Response:
    return Response(feature_json, media_type=GEOJSON)
