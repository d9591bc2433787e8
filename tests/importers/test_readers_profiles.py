"""Saved field maps (import profiles) in the real database, as the application role, rolled back."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import shapely
from pyogrio.raw import write
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from geo.errors import InvalidInput, NotFound
from geo.settings import APP_ROLE
from importers.files import read_source
from importers.files.profiles import delete_profile, list_profiles, load_profile, save_profile


@pytest.fixture
def app_session(engine: Engine) -> Iterator[Session]:
    """A session as gridmap_app (the server's role) inside a transaction that is rolled back."""
    with engine.connect() as conn:
        outer = conn.begin()
        conn.execute(text(f"SET LOCAL ROLE {APP_ROLE}"))
        session = Session(bind=conn, join_transaction_mode="create_savepoint")
        try:
            yield session
        finally:
            session.close()
            outer.rollback()


def test_save_load_list_replace_and_delete(app_session: Session) -> None:
    saved = save_profile(app_session, name="自然资源局", kind="grids", mapping={"code": "WGBM", "name": "WGMC"},
                         author="planner")
    assert (saved.name, saved.kind, saved.mapping, saved.author) == ("自然资源局", "grids",
                                                                     {"code": "WGBM", "name": "WGMC"}, "planner")
    save_profile(app_session, name="自然资源局", kind="households", mapping={"address": "DZ", "lon": "X", "lat": "Y"})
    save_profile(app_session, name="民政局", kind="grids", mapping={"code": "编码"})
    assert load_profile(app_session, name=" 自然资源局 ", kind="grids").mapping == {"code": "WGBM", "name": "WGMC"}
    assert [p.name for p in list_profiles(app_session, kind="grids")] == ["民政局", "自然资源局"]
    assert [(p.kind, p.name) for p in list_profiles(app_session)] == [("grids", "民政局"), ("grids", "自然资源局"),
                                                                      ("households", "自然资源局")]
    save_profile(app_session, name="自然资源局", kind="grids", mapping={"code": "BM"})  # replaces
    assert load_profile(app_session, name="自然资源局", kind="grids").mapping == {"code": "BM"}
    delete_profile(app_session, name="民政局", kind="grids")
    with pytest.raises(NotFound) as err:
        load_profile(app_session, name="民政局", kind="grids")
    assert "自然资源局" in err.value.detail  # names the ones there are


def test_bad_profiles_are_refused_before_anything_is_stored(app_session: Session) -> None:
    with pytest.raises(InvalidInput, match="no field 'colour'"):
        save_profile(app_session, name="x", kind="grids", mapping={"colour": "YS"})
    with pytest.raises(InvalidInput, match="unknown kind"):
        save_profile(app_session, name="x", kind="trees", mapping={"code": "A"})
    with pytest.raises(InvalidInput, match="1 to 100"):
        save_profile(app_session, name=" ", kind="grids", mapping={"code": "A"})
    with pytest.raises(InvalidInput, match="needs a field map"):
        save_profile(app_session, name="x", kind="grids", mapping={})
    assert list_profiles(app_session) == []


def test_a_saved_profile_reads_a_file(app_session: Session, tmp_path: Path) -> None:
    path = tmp_path / "grids.gpkg"
    write(path, shapely.to_wkb(np.array([shapely.box(106.6, 26.4, 106.61, 26.41)])),
          field_data=[np.array(["G1"], dtype=object), np.array(["花溪一网格"], dtype=object)], fields=["WGBM", "WGMC"],
          geometry_type="Polygon", crs="EPSG:4326", driver="GPKG")
    save_profile(app_session, name="自然资源局", kind="grids", mapping={"code": "WGBM", "name": "WGMC"})
    profile = load_profile(app_session, name="自然资源局", kind="grids")
    t = read_source(path, "grids", mapping=profile.mapping)
    assert t.columns == {"code": ["G1"], "name": ["花溪一网格"]}
    save_profile(app_session, name="民政局", kind="grids", mapping={"code": "网格编码"})
    with pytest.raises(InvalidInput, match="WGBM"):  # another office's profile: the file's fields are named
        read_source(path, "grids", mapping=load_profile(app_session, name="民政局", kind="grids").mapping)
