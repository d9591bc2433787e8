"""Large answers are gzip-compressed when the client accepts it, and plain when it does not.

The micro-grid layer at county zoom was about 9 MB of GeoJSON on the wire; compressed it is a
fraction of that (figures in bench/README.md).
"""

from __future__ import annotations

import gzip

from fastapi.testclient import TestClient

from api.web.assets import redoc_bundles

MICRO_PAGE = "/grids?layer=micro&limit=1000"


def test_a_large_collection_comes_back_gzipped_when_accepted(client: TestClient) -> None:
    packed = client.get(MICRO_PAGE, headers={"Accept-Encoding": "gzip"})
    plain = client.get(MICRO_PAGE, headers={"Accept-Encoding": "identity"})
    assert packed.status_code == plain.status_code == 200
    assert packed.headers["content-encoding"] == "gzip"
    assert "content-encoding" not in plain.headers
    for r in (packed, plain):
        assert "accept-encoding" in r.headers["vary"].lower()  # a cache keeps the two apart
        assert r.headers["content-type"].startswith("application/geo+json")
    assert packed.content == plain.content  # the same document once decoded
    assert len(plain.json()["features"]) > 100
    wire = int(packed.headers["content-length"])
    assert wire == packed.num_bytes_downloaded
    assert wire < len(plain.content) / 4, (wire, len(plain.content))


def test_small_answers_are_not_compressed(client: TestClient) -> None:
    r = client.get("/health", headers={"Accept-Encoding": "gzip"})
    assert r.status_code == 200 and "content-encoding" not in r.headers


def test_a_streamed_file_is_compressed_chunk_by_chunk(anonymous: TestClient) -> None:
    # StaticFiles streams a file in chunks; the compressed stream must decode to the file exactly.
    with anonymous.stream("GET", "/static/vendor/redoc/redoc.standalone.js",
                          headers={"Accept-Encoding": "gzip"}) as r:
        raw = b"".join(r.iter_raw())
    assert r.status_code == 200 and r.headers["content-encoding"] == "gzip"
    assert "content-length" not in r.headers  # streamed: the compressed length is not known up front
    original = (redoc_bundles() / "redoc.standalone.js").read_bytes()
    assert gzip.decompress(raw) == original
    assert len(raw) < len(original) / 2


def test_the_body_limit_still_answers_413_to_a_gzip_client(client: TestClient) -> None:
    big = b'{"type":"Polygon","coordinates":[' + b"[0,0]," * 500_000 + b"]}"
    r = client.post("/grids", content=big, headers={"Accept-Encoding": "gzip", "Content-Type": "application/json"})
    assert r.status_code == 413
    assert r.headers["content-type"].startswith("application/problem+json")
    assert "exceeds" in r.json()["detail"]
