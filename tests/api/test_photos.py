"""Photos: what an upload becomes (no metadata, upright), what is refused, who may read them, how
they are attached to a report and to a handler's steps, and the purge of unattached ones."""

from __future__ import annotations

import io
import uuid

import photo_files as pf
import pytest
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import text
from sqlalchemy.orm import Session

from api.ratelimit import ReportLimit
from geo.settings import PhotoSettings


@pytest.fixture(autouse=True)
def _photo_state(app):  # noqa: ANN001, ANN202
    """A generous upload limit of the test's own (the limit itself has its own test) and default settings;
    both put back afterwards."""
    saved = (getattr(app.state, "photo_limit", None), app.state.photo_settings)
    app.state.photo_limit = ReportLimit(app.state.engine, 1_000_000, 1_000_000, prefix=f"phototest{uuid.uuid4().hex}")
    yield
    app.state.photo_limit, app.state.photo_settings = saved


def _upload(client: TestClient, data: bytes, name: str = "p.jpg", content_type: str = "image/jpeg"):  # noqa: ANN202
    return client.post("/photos", files={"file": (name, data, content_type)})


def _worker1_point(session: Session) -> tuple[float, float]:
    session.execute(text("SELECT set_config('gridmap.scope_all', 'on', true)"))
    return tuple(session.execute(text("""
        SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(g.geom) AS p FROM grid g
        JOIN app_user u ON u.grid_id = g.id WHERE u.username = 'worker1') g""")).one())


def _report(client: TestClient, session: Session, photo_ids: list[str]):  # noqa: ANN202
    lon, lat = _worker1_point(session)
    return client.post("/events", json={"category": "environment.garbage", "description": "垃圾成堆",
                                         "location": {"lon": lon, "lat": lat}, "photo_ids": photo_ids})


def _bytes_of(client: TestClient, photo_id: str, **headers: str) -> bytes:
    got = client.get(f"/photos/{photo_id}", headers=headers)
    assert got.status_code == 200, got.text
    return got.content


def test_upload_answers_the_gps_hint_and_stores_the_photo_without_metadata_and_upright(anonymous, as_user,
                                                                                       session) -> None:  # noqa: ANN001
    up = _upload(anonymous, pf.phone_jpeg(orientation=6))
    assert up.status_code == 201, up.text
    body = up.json()
    assert body["exif_location"] == pytest.approx(pf.GPS_DECIMAL, abs=1e-6)  # the hint, for the uploader only
    assert (body["content_type"], body["width"], body["height"]) == ("image/jpeg", 32, 64)  # turned upright
    created = _report(anonymous, session, [body["id"]])
    assert created.status_code == 201, created.text
    stored = _bytes_of(as_user("admin"), body["id"])
    assert len(stored) == body["bytes"]
    for planted in pf.PLANTED:  # nothing the phone wrote survives, in any encoding
        assert planted not in stored, planted
    img = Image.open(io.BytesIO(stored))
    assert img.format == "JPEG" and img.size == (32, 64)
    assert not img.getexif() and not {"exif", "icc_profile", "comment", "xmp"} & set(img.info)
    rgb = img.convert("RGB")
    top, bottom = rgb.getpixel((16, 6)), rgb.getpixel((16, 57))
    assert top[0] > 150 > top[2] and bottom[2] > 150 > bottom[0], (top, bottom)  # red went to the top (90° cw)
    # nor does the location reach anyone else: not in the list, not in the event
    listed = as_user("admin").get(f"/events/{created.json()['id']}/photos").text
    assert str(round(pf.GPS_DECIMAL["lat"], 4)) not in listed and "exif" not in listed


def test_png_comes_back_without_text_exif_or_icc(anonymous, as_user, session) -> None:  # noqa: ANN001
    up = _upload(anonymous, pf.phone_png(), "p.png", "image/png")
    assert up.status_code == 201, up.text
    assert up.json()["content_type"] == "image/png"
    assert up.json()["exif_location"] == pytest.approx(pf.GPS_DECIMAL, abs=1e-6)
    assert _report(anonymous, session, [up.json()["id"]]).status_code == 201
    stored = _bytes_of(as_user("admin"), up.json()["id"])
    for planted in (*pf.PLANTED, b"eXIf", b"iCCP", b"tEXt", b"iTXt", b"zTXt"):
        assert planted not in stored, planted
    img = Image.open(io.BytesIO(stored))
    assert not img.getexif() and not img.info.get("icc_profile") and not getattr(img, "text", {})


def test_the_type_is_what_the_bytes_are_not_what_the_upload_says(anonymous) -> None:  # noqa: ANN001
    up = _upload(anonymous, pf.phone_png(), "innocent.jpg", "image/jpeg")
    assert up.status_code == 201 and up.json()["content_type"] == "image/png"


@pytest.mark.parametrize(("name", "data", "says"), [
    ("page.jpg", b"<html><script>alert(1)</script></html>", "not an image"),
    ("empty.jpg", b"", "empty"),
    ("cut.jpg", pf.phone_jpeg()[:400], "damaged"),
    ("anim.gif", b"GIF89a" + b"\x00" * 64, "not an image"),
    ("bomb.png", pf.bomb_png(), "pixels"),  # 900 MP: past Pillow's own limit
    ("big.png", pf.bomb_png(8000), "pixels"),  # 64 MP: under Pillow's, over ours
])
def test_what_is_not_a_whole_accepted_image_is_refused(anonymous, session, name: str, data: bytes,  # noqa: ANN001
                                                       says: str) -> None:
    before = session.execute(text("SELECT count(*) FROM photo")).scalar_one()
    got = _upload(anonymous, data, name)
    assert got.status_code == 422, got.text
    assert got.headers["content-type"].startswith("application/problem+json")
    assert says in got.json()["detail"] and got.json().get("pointer") == "file"
    assert session.execute(text("SELECT count(*) FROM photo")).scalar_one() == before


def test_size_limits(app, anonymous) -> None:  # noqa: ANN001
    app.state.photo_settings = PhotoSettings(photo_max_mb=0.001)  # about 1 KB
    got = _upload(anonymous, pf.phone_jpeg())
    assert got.status_code == 422 and "larger than" in got.json()["detail"]
    app.state.photo_settings = PhotoSettings()
    huge = anonymous.post("/photos", files={"file": ("big.jpg", b"\xff" * (9 * 1024 * 1024), "image/jpeg")})
    assert huge.status_code == 413, huge.text  # past the route's body limit: refused before it is read


def test_anonymous_uploads_are_rate_limited_per_address(app, anonymous, as_user) -> None:  # noqa: ANN001
    app.state.photo_limit = ReportLimit(app.state.engine, 1, 2, prefix=f"phototest{uuid.uuid4().hex}")
    codes = [_upload(anonymous, pf.plain_jpeg()).status_code for _ in range(3)]
    assert codes == [201, 201, 429]
    assert _upload(as_user("worker1"), pf.plain_jpeg()).status_code == 201  # signed in: not this limit


def test_access_by_territory_role_and_tracking_token(anonymous, as_user, session) -> None:  # noqa: ANN001
    pid = _upload(anonymous, pf.plain_jpeg()).json()["id"]
    anonymous.headers.pop("Authorization", None)
    created = _report(anonymous, session, [pid])
    assert created.status_code == 201, created.text
    eid, token = created.json()["id"], created.json()["token"]
    expected = _bytes_of(as_user("admin"), pid)
    for user in ("admin", "head1", "worker1", "worker2", "viewer", "emergency", "planner", "department"):
        sees_event = as_user(user).get(f"/events/{eid}").status_code == 200  # the event's own rule is the oracle
        got = as_user(user).get(f"/photos/{pid}")
        listed = as_user(user).get(f"/events/{eid}/photos")
        assert got.status_code == listed.status_code == (200 if sees_event else 404), (user, got.text)
        if sees_event:
            assert got.content == expected and [p["id"] for p in listed.json()] == [pid]
    assert as_user("worker1").get(f"/photos/{pid}").status_code == 200
    assert as_user("viewer").get(f"/photos/{pid}").status_code == 404  # no events:read
    anonymous.headers.pop("Authorization", None)
    assert anonymous.get(f"/photos/{pid}").status_code == 404
    assert anonymous.get(f"/photos/{pid}", headers={"X-Tracking-Token": str(uuid.uuid4())}).status_code == 404
    got = anonymous.get(f"/photos/{pid}", headers={"X-Tracking-Token": token})
    assert got.status_code == 200 and got.content == expected
    assert got.headers["content-type"] == "image/jpeg"
    assert got.headers["x-content-type-options"] == "nosniff"
    assert "private" in got.headers["cache-control"]
    listed = anonymous.get(f"/events/{eid}/photos", params={"token": token})
    assert listed.status_code == 200
    assert listed.json() == [{"id": pid, "stage": "report", "content_type": "image/jpeg", "width": 48, "height": 36,
                              "taken_by": "citizen"}]
    assert anonymous.get(f"/photos/{uuid.uuid4()}", headers={"X-Tracking-Token": token}).status_code == 404
    assert anonymous.get("/photos/not-a-uuid").status_code == 404


def test_an_unattached_photo_is_seen_by_its_signed_in_uploader_only(as_user) -> None:  # noqa: ANN001
    pid = _upload(as_user("worker1"), pf.plain_jpeg()).json()["id"]
    assert as_user("worker1").get(f"/photos/{pid}").status_code == 200
    assert as_user("admin").get(f"/photos/{pid}").status_code == 404


def test_bad_photo_ids_are_refused_by_position_and_nothing_is_stored(anonymous, session) -> None:  # noqa: ANN001
    good = _upload(anonymous, pf.plain_jpeg()).json()["id"]
    used = _upload(anonymous, pf.plain_jpeg()).json()["id"]
    assert _report(anonymous, session, [used]).status_code == 201
    five = [_upload(anonymous, pf.plain_jpeg()).json()["id"] for _ in range(5)]
    old = _upload(anonymous, pf.plain_jpeg()).json()["id"]  # expired after the last upload (which would purge it)
    session.execute(text("UPDATE photo SET created_at = now() - interval '25 hours' WHERE id = :i"), {"i": old})
    events = session.execute(text("SELECT count(*) FROM event")).scalar_one()
    for ids, pointer, says in (([good, str(uuid.uuid4())], "photo_ids/1", "no such photo"),
                               ([good, used], "photo_ids/1", "already attached"),
                               ([old], "photo_ids/0", "expired"),
                               ([good, "x"], "photo_ids/1", "not a photo id"),
                               ([good, good], "photo_ids/1", "same photo"),
                               (five, "photo_ids", "at most 4")):
        got = _report(anonymous, session, ids)
        assert got.status_code == 422, got.text
        assert got.json()["pointer"] == pointer and says in got.json()["detail"], got.json()
    assert session.execute(text("SELECT count(*) FROM event")).scalar_one() == events  # nothing stored half-way
    assert session.execute(text("SELECT event_id FROM photo WHERE id = :i"), {"i": good}).scalar() is None


def test_handler_photos_before_and_after_on_start_and_feedback(as_user, session) -> None:  # noqa: ANN001
    admin = as_user("admin")
    eid = _report(admin, session, []).json()["id"]
    for step in ("accept", "assign"):
        assert admin.post(f"/events/{eid}/{step}", json={}).status_code == 200
    wrong = admin.post(f"/events/{eid}/start", json={"photo_ids": [_upload(admin, pf.plain_jpeg()).json()["id"]]})
    assert wrong.status_code == 422 and wrong.json()["pointer"] == "photo_ids"
    before = _upload(admin, pf.plain_jpeg((90, 90, 90))).json()["id"]
    assert admin.post(f"/events/{eid}/start", json={"before_photo_ids": [before]}).status_code == 200
    after = [_upload(admin, pf.plain_jpeg()).json()["id"] for _ in range(2)]
    done = admin.post(f"/events/{eid}/feedback", json={"note": "已清理", "photo_ids": after})
    assert done.status_code == 200, done.text
    listed = admin.get(f"/events/{eid}/photos").json()
    assert [(p["stage"], p["taken_by"]) for p in listed] == [("before", "staff"), ("after", "staff"), ("after", "staff")]
    from geo.media.photos import count_for_event

    assert (count_for_event(session, eid, "after"), count_for_event(session, eid, "before")) == (2, 1)


def test_unattached_photos_are_purged_after_a_day_on_the_next_upload(anonymous, session) -> None:  # noqa: ANN001
    stale = _upload(anonymous, pf.plain_jpeg()).json()["id"]
    kept = _upload(anonymous, pf.plain_jpeg()).json()["id"]
    assert _report(anonymous, session, [kept]).status_code == 201
    fresh = _upload(anonymous, pf.plain_jpeg()).json()["id"]
    session.execute(text("UPDATE photo SET created_at = now() - interval '25 hours' WHERE id IN (:a, :b)"),
                    {"a": stale, "b": kept})
    _upload(anonymous, pf.plain_jpeg())
    left = set(session.execute(text("SELECT id::text FROM photo WHERE id IN (:a, :b, :c)"),
                               {"a": stale, "b": kept, "c": fresh}).scalars())
    assert left == {kept, fresh}


def test_directory_storage_writes_a_file_named_by_the_id(app, anonymous, as_user, session, tmp_path) -> None:  # noqa: ANN001
    app.state.photo_settings = PhotoSettings(photos_dir=tmp_path)
    up = _upload(anonymous, pf.phone_jpeg(), "../../etc/passwd.jpg")
    assert up.status_code == 201, up.text
    pid = up.json()["id"]
    assert [p.name for p in tmp_path.iterdir()] == [pid]
    assert session.execute(text("SELECT storage, data IS NULL FROM photo WHERE id = :i"), {"i": pid}).one() == ("dir", True)
    assert _report(anonymous, session, [pid]).status_code == 201
    assert _bytes_of(as_user("admin"), pid) == (tmp_path / pid).read_bytes()
