"""Positions: out-of-order fixes, GCJ-02 intake, validation that stores nothing, retention purge."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from geo.emergency import positions
from geo.emergency.positions import Fix
from geo.errors import InvalidInput
from geo.privacy.audit import Actor
from geo.settings import PositionSettings
from geo.spatial.crs import Crs, gcj02_to_wgs84, wgs84_to_gcj02

SETTINGS = PositionSettings(position_batch_max=5, position_retention_days=30)
ACTOR = Actor(None, "test")


@pytest.fixture
def staff_id(session: Session) -> int:
    return session.execute(text("SELECT staff_id FROM app_user WHERE username = 'worker1'")).scalar_one()


def _history(session: Session, staff_id: int) -> list:
    return session.execute(text(
        "SELECT at, ST_X(geom) AS lon, ST_Y(geom) AS lat, crs FROM staff_position WHERE staff_id = :s ORDER BY at"),
        {"s": staff_id}).all()


def _current(session: Session, staff_id: int):  # noqa: ANN202
    return session.execute(text("SELECT ST_X(position) AS lon, ST_Y(position) AS lat, position_at FROM staff"
                                " WHERE id = :s"), {"s": staff_id}).one()


def test_out_of_order_fixes_are_kept_but_do_not_move_the_current_position(session: Session, staff_id: int) -> None:
    now = datetime.now(UTC)
    newer = Fix(106.60, 26.40, at=now - timedelta(minutes=1))
    older = Fix(106.70, 26.50, at=now - timedelta(minutes=10))
    assert positions.record_fixes(session, staff_id, [newer], settings=SETTINGS).moved
    late = positions.record_fixes(session, staff_id, [older], settings=SETTINGS)
    assert late.accepted == 1 and not late.moved
    cur = _current(session, staff_id)
    assert (round(cur.lon, 9), round(cur.lat, 9)) == (106.60, 26.40) and cur.position_at == newer.at
    assert [(round(h.lon, 9), round(h.lat, 9)) for h in _history(session, staff_id)[-2:]] == [(106.70, 26.50),
                                                                                            (106.60, 26.40)]
    # a batch in any order: the newest fix becomes current
    batch = [Fix(106.61, 26.41, at=now - timedelta(seconds=30)), Fix(106.62, 26.42, at=now - timedelta(seconds=5)),
             Fix(106.63, 26.43, at=now - timedelta(seconds=50))]
    r = positions.record_fixes(session, staff_id, batch, settings=SETTINGS)
    assert r.accepted == 3 and r.moved and (round(r.current["lon"], 9), round(r.current["lat"], 9)) == (106.62, 26.42)


def test_gcj02_positions_are_stored_as_wgs84(session: Session, staff_id: int) -> None:
    true_lon, true_lat = 106.6543, 26.4321
    glon, glat = (float(v) for v in wgs84_to_gcj02(true_lon, true_lat))
    blon, blat = 106.65, 26.43
    r = positions.record_fixes(session, staff_id, [
        Fix(glon, glat, Crs.GCJ02, at=datetime.now(UTC) - timedelta(seconds=2)),
        Fix(blon, blat, Crs.BD09, at=datetime.now(UTC) - timedelta(seconds=1)),
    ], settings=SETTINGS)
    stored = _history(session, staff_id)[-2:]
    assert stored[0].crs == "gcj02" and stored[1].crs == "bd09"
    assert abs(stored[0].lon - true_lon) < 1e-8 and abs(stored[0].lat - true_lat) < 1e-8
    from geo.spatial.crs import to_wgs84

    wl, wa = to_wgs84(blon, blat, Crs.BD09)
    assert abs(stored[1].lon - wl) < 1e-9 and abs(stored[1].lat - wa) < 1e-9
    # and not where the raw GCJ-02 numbers would have put it (hundreds of metres off)
    metres = session.execute(text("SELECT ST_Distance(ST_MakePoint(:a, :b)::geography, ST_MakePoint(:c, :d)::geography)"),
                             {"a": glon, "b": glat, "c": stored[0].lon, "d": stored[0].lat}).scalar_one()
    assert metres > 100
    assert r.current["lon"] == pytest.approx(float(wl), abs=1e-9)
    back = gcj02_to_wgs84(glon, glat)
    assert abs(float(back[0]) - stored[0].lon) < 1e-9


@pytest.mark.parametrize("fixes, pointer", [
    ([Fix(106.6, 26.4), Fix(106.6, 95.0)], "/fixes/1/lat"),
    ([Fix(181.0, 26.4)], "/fixes/0/lon"),
    ([Fix(106.6, 26.4), Fix(106.6, 26.4, at=datetime.now(UTC) + timedelta(hours=1))], "/fixes/1/at"),
    ([Fix(106.6, 26.4, at=datetime(2026, 11, 23, 8, 0))], "/fixes/0/at"),  # no UTC offset
    ([Fix(106.6, 26.4, accuracy_m=-3)], "/fixes/0/accuracy_m"),
    ([Fix(106.6, 26.4)] * 6, "/fixes"),
    ([Fix(106.6, 26.4), Fix(0.0, 0.0)], "/fixes/1/lon"),  # a phone without a fix yet ("Null Island")
    ([], "/fixes"),
])
def test_bad_fixes_are_refused_and_nothing_is_stored(session: Session, staff_id: int, fixes, pointer) -> None:  # noqa: ANN001
    before = len(_history(session, staff_id)), _current(session, staff_id)
    with pytest.raises(InvalidInput) as err:
        positions.record_fixes(session, staff_id, fixes, settings=SETTINGS)
    assert err.value.pointer == pointer
    assert (len(_history(session, staff_id)), _current(session, staff_id)) == before


def test_fixes_older_than_the_retention_are_not_stored(session: Session, staff_id: int) -> None:
    old = Fix(106.6, 26.4, at=datetime.now(UTC) - timedelta(days=31))
    r = positions.record_fixes(session, staff_id, [old, Fix(106.61, 26.41)], settings=SETTINGS)
    assert (r.accepted, r.expired) == (1, 1)


def test_availability_changes_are_audited(session: Session, staff_id: int) -> None:
    r = positions.set_availability(session, staff_id, "busy", actor=ACTOR, by="self")
    assert r["availability"] == "busy"
    r = positions.set_availability(session, staff_id, "available", actor=ACTOR, by="dispatch")
    assert (r["previous"], r["availability"]) == ("busy", "available")
    rows = session.execute(text("SELECT detail FROM audit_log WHERE action = 'staff.availability' AND entity_id = :s"
                                " ORDER BY id DESC LIMIT 2"), {"s": str(staff_id)}).scalars().all()
    assert rows == [{"from": "busy", "to": "available", "by": "dispatch"},
                    {"from": rows[1]["from"], "to": "busy", "by": "self"}]


def test_history_is_coarsened_without_pii_and_audited_with_it(session: Session, staff_id: int) -> None:
    now = datetime.now(UTC)
    positions.record_fixes(session, staff_id, [Fix(106.60012, 26.40034, at=now - timedelta(minutes=4)),
                                               Fix(106.60012, 26.40034, at=now - timedelta(minutes=3)),
                                               Fix(106.60031, 26.40021, at=now - timedelta(minutes=2)),
                                               Fix(106.61234, 26.40021, at=now - timedelta(minutes=1))],
                           settings=SETTINGS)
    masked = positions.history(session, staff_id, actor=ACTOR, since=now - timedelta(minutes=5))
    # Only cells with ≥ 3 fixes, over whole days: the lone fix at 106.612 is not shown.
    assert masked["masked"] and masked["fixes"] == 3
    assert sorted((round(c["lon"], 3), round(c["lat"], 3), c["fixes"]) for c in masked["cells"]) == [(106.6, 26.4, 3)]
    assert all("at" not in c for c in masked["cells"])
    narrow = positions.history(session, staff_id, actor=ACTOR, since=now - timedelta(minutes=2, seconds=30),
                               until=now - timedelta(minutes=1, seconds=30))
    assert narrow["since"] <= now - timedelta(minutes=4) and narrow["fixes"] == 3  # a window is widened to days
    with pytest.raises(InvalidInput):
        positions.history(session, staff_id, actor=ACTOR, unmasked=True)  # no purpose
    full = positions.history(session, staff_id, actor=ACTOR, since=now - timedelta(minutes=5), unmasked=True,
                             purpose="landslide rescue")
    assert [round(f["lon"], 5) for f in full["fixes"]] == [106.60012, 106.60012, 106.60031, 106.61234]
    assert session.execute(text("SELECT count(*) FROM audit_log WHERE action = 'pii.read' AND entity = 'staff_position'"
                                " AND purpose = 'landslide rescue'")).scalar_one() == 1


def test_purge_removes_only_what_is_past_retention(session: Session, staff_id: int) -> None:
    session.execute(text("""
        INSERT INTO staff_position (staff_id, at, crs, geom)
        SELECT :s, now() - make_interval(days => d), 'wgs84', ST_SetSRID(ST_MakePoint(106.6, 26.4), 4326)
          FROM unnest(ARRAY[1, 29, 31, 400]) AS d"""), {"s": staff_id})
    other = session.execute(text("SELECT id FROM staff WHERE id <> :s ORDER BY id LIMIT 1"), {"s": staff_id}).scalar()
    session.execute(text("UPDATE staff SET position_at = now() - interval '40 days' WHERE id = :o"), {"o": other})
    left_before = session.execute(text("SELECT count(*) FROM staff_position WHERE at >= now() - interval '30 days'"
                                       )).scalar_one()
    done = positions.purge(session, retention_days=30)
    assert done.history_rows >= 2 and done.current_cleared >= 1
    ages = session.execute(text("SELECT min(at) FROM staff_position")).scalar_one()
    assert ages is None or ages >= done.cutoff
    assert session.execute(text("SELECT count(*) FROM staff_position")).scalar_one() == left_before
    assert session.execute(text("SELECT position FROM staff WHERE id = :o"), {"o": other}).scalar() is None
    assert session.execute(text("SELECT detail->>'history_rows' FROM audit_log WHERE action = 'positions.purge'"
                                " ORDER BY id DESC LIMIT 1")).scalar_one() == str(done.history_rows)


def test_purge_command(db_settings, engine: Engine, district, monkeypatch) -> None:  # noqa: ANN001
    """``gridmap positions purge`` commits: it runs against the session database with a retention so long
    that only the row this test inserted (dated 20 years ago) is old enough to go."""
    from importers.cli import app

    monkeypatch.setenv("GRIDMAP_DATABASE_URL", db_settings.database_url)
    with engine.begin() as c:
        sid = c.execute(text("SELECT min(id) FROM staff")).scalar_one()
        pid = c.execute(text("INSERT INTO staff_position (staff_id, at, crs, geom) VALUES (:s, now() - interval"
                             " '20 years', 'wgs84', ST_SetSRID(ST_MakePoint(106.6, 26.4), 4326)) RETURNING id"),
                        {"s": sid}).scalar_one()
    r = CliRunner().invoke(app, ["positions", "purge", "--days", "3650"])
    assert r.exit_code == 0, r.output
    assert "purged 1 position fixes" in r.output
    with engine.connect() as c:
        assert c.execute(text("SELECT count(*) FROM staff_position WHERE id = :p"), {"p": pid}).scalar_one() == 0
    assert CliRunner().invoke(app, ["positions", "purge", "--days", "0"]).exit_code == 2
