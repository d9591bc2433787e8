"""Grid history: every change is a new version; the old one is kept with its period."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.orm import Session


def test_changing_a_grid_keeps_the_old_version(session: Session) -> None:
    gid = session.execute(text("SELECT min(id) FROM grid")).scalar_one()
    session.execute(text("SELECT set_config('gridmap.actor', 'planner-1', true),"
                         " set_config('gridmap.reason', 'renamed after survey', true)"))
    session.execute(text("UPDATE grid SET name = name || '（新）' WHERE id = :id"), {"id": gid})
    rows = session.execute(
        text("SELECT version, valid_to IS NULL AS current, author, reason FROM grid_version"
             " WHERE grid_id = :id ORDER BY version"), {"id": gid}
    ).all()
    assert [(r.version, r.current) for r in rows] == [(1, False), (2, True)]
    assert (rows[1].author, rows[1].reason) == ("planner-1", "renamed after survey")
    assert session.execute(text("SELECT version FROM grid WHERE id = :id"), {"id": gid}).scalar_one() == 2


def test_an_update_that_changes_nothing_makes_no_version(session: Session) -> None:
    gid = session.execute(text("SELECT min(id) FROM grid")).scalar_one()
    session.execute(text("UPDATE grid SET name = name WHERE id = :id"), {"id": gid})
    assert session.execute(text("SELECT count(*) FROM grid_version WHERE grid_id = :id"),
                           {"id": gid}).scalar_one() == 1


def test_clockwise_or_invalid_geometry_is_refused_by_the_database(session: Session) -> None:
    import pytest
    from sqlalchemy.exc import IntegrityError

    gid = session.execute(text("SELECT min(id) FROM grid")).scalar_one()
    with pytest.raises(IntegrityError):
        with session.begin_nested():
            session.execute(text("UPDATE grid SET geom = ST_ForcePolygonCW(geom) WHERE id = :id"), {"id": gid})
