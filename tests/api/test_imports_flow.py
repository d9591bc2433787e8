# ruff: noqa: F811 - the fixtures imported from imports_site are parameters of the tests below
"""An upload's whole life on real files: planned in the background, reported, applied, applied again.

The files are the district's own grids and cameras written out as GeoJSON and CSV, so a re-import is
known to change nothing, and an edited copy to change exactly what was edited. Includes the fault
test: a process killed in the middle of an apply leaves nothing visible, and applying again completes.
"""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
import textwrap

import pytest
from fastapi.testclient import TestClient
from imports_site import Site, _as, http, site  # noqa: F401 - the fixtures
from openpyxl import load_workbook
from sqlalchemy import Engine, text

pytestmark = pytest.mark.usefixtures("site")


def _grids_geojson(engine: Engine, *, where: str, params: dict) -> bytes:
    """Comprehensive grids as a county office's GeoJSON: 网格编码, 网格名称, 所属村(社区) (village code)."""
    with engine.connect() as c:
        rows = c.execute(text(f"""
            SELECT g.code, g.name, d.code AS village, ST_AsGeoJSON(g.geom, 9) AS geometry
            FROM grid g JOIN grid_layer l ON l.id = g.layer_id AND l.code = 'comprehensive'
            JOIN division d ON d.id = g.division_id WHERE {where} ORDER BY g.code"""), params).all()
    features = [{"type": "Feature", "properties": {"网格编码": r.code, "网格名称": r.name, "所属村(社区)": r.village},
                 "geometry": json.loads(r.geometry)} for r in rows]
    return json.dumps({"type": "FeatureCollection", "features": features}, ensure_ascii=False).encode()


def _town_grids(site: Site, town: str) -> bytes:
    return _grids_geojson(site.engine, where="d.parent_id = (SELECT id FROM division WHERE code = :t)",
                          params={"t": town})


def _wait(http: TestClient, site: Site, user: str, job_id: int) -> dict:
    """The job once planned (TestClient runs the background plan before the upload's answer returns)."""
    job = http.get(f"/imports/{job_id}", headers=_as(site, user)).json()
    assert job["status"] in ("planned", "failed"), job
    assert job["status"] == "planned", job["error"]
    assert job["progress"] == 1
    return job


def _upload(http: TestClient, site: Site, user: str, kind: str, name: str, body: bytes, **fields) -> dict:  # noqa: ANN003
    r = http.post("/imports", headers=_as(site, user), data={"kind": kind, **fields},
                  files=[("file", (name, body, "application/octet-stream"))])
    assert r.status_code == 202, r.text
    return _wait(http, site, user, r.json()["id"])


def _versions(engine: Engine) -> int:
    with engine.connect() as c:
        return int(c.execute(text("SELECT count(*) FROM grid_version")).scalar_one())


def test_reimporting_the_districts_own_grids_changes_nothing(http, site) -> None:  # noqa: ANN001
    body = _town_grids(site, site.towns[0])
    grids = len(json.loads(body)["features"])
    job = _upload(http, site, "admin", "grids", "综合网格.geojson", body, layer="comprehensive")
    report = job["report"]
    assert report["ok"], report["problems"]
    assert report["counts"]["unchanged"] == grids and report["counts"]["created"] == 0
    assert report["counts"]["changed"] == 0 and report["changes"] == []
    before = _versions(site.engine)
    done = http.post(f"/imports/{job['id']}/apply", headers=_as(site, "admin"))
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "applied" and done.json()["report"]["applied"]
    assert _versions(site.engine) == before
    again = http.post(f"/imports/{job['id']}/apply", headers=_as(site, "admin"))
    assert again.status_code == 200 and again.json()["applied_at"] == done.json()["applied_at"]
    with site.engine.connect() as c:
        assert c.execute(text("SELECT count(*) FROM import_job_file WHERE job_id = :j"), {"j": job["id"]}
                         ).scalar_one() == 0  # bytes dropped once applied; the SHA-256 stays
        audit = c.execute(text("SELECT detail FROM audit_log WHERE action = 'import.apply' ORDER BY id DESC LIMIT 1")
                          ).scalar_one()
    assert audit["sha256"] == job["sha256"] and audit["file"] == "综合网格.geojson"


def test_a_township_planner_imports_only_their_township(http, site) -> None:  # noqa: ANN001
    """planner_a's territory is the first township: the second's grids in the same file are problems, the
    plan is not ok, and apply is refused with nothing written; the problem list names the rows."""
    body = _grids_geojson(site.engine, where="d.parent_id IN (SELECT id FROM division WHERE code = ANY(:t))",
                          params={"t": site.towns[:2]})
    job = _upload(http, site, "planner_a", "grids", "两镇网格.geojson", body, layer="comprehensive")
    report = job["report"]
    assert not report["ok"]
    theirs = [p for p in report["problems"] if p["severity"] == "error"]
    assert theirs and all(p["row"] is not None for p in theirs)
    before = _versions(site.engine)
    refused = http.post(f"/imports/{job['id']}/apply", headers=_as(site, "planner_a"))
    assert refused.status_code == 409 and "problems" in refused.json()["detail"]
    assert _versions(site.engine) == before
    listed = http.get(f"/imports/{job['id']}/problems.csv", headers=_as(site, "planner_a"))
    assert listed.status_code == 200 and listed.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(listed.content.decode("utf-8-sig"))))
    assert {int(r["row"]) for r in rows if r["severity"] == "error"} == {p["row"] for p in theirs}
    sheet = http.get(f"/imports/{job['id']}/problems.xlsx", headers=_as(site, "planner_a"))
    book = load_workbook(io.BytesIO(sheet.content))
    assert book["problems"].max_row == len(report["problems"]) + 1
    # The first township alone is theirs to import.
    own = _upload(http, site, "planner_a", "grids", "本镇网格.geojson", _town_grids(site, site.towns[0]),
                  layer="comprehensive")
    assert own["report"]["ok"], own["report"]["problems"]


def test_a_renamed_grid_is_one_change_applied_once(http, site) -> None:  # noqa: ANN001
    data = json.loads(_town_grids(site, site.towns[0]))
    feature = data["features"][0]
    code, old = feature["properties"]["网格编码"], feature["properties"]["网格名称"]
    feature["properties"]["网格名称"] = old + "新"
    body = json.dumps(data, ensure_ascii=False).encode()
    job = _upload(http, site, "admin", "grids", "改名.geojson", body, layer="comprehensive")
    changes = job["report"]["changes"]
    assert [c["code"] for c in changes] == [code] and changes[0]["action"] == "changed"
    assert http.post(f"/imports/{job['id']}/apply", headers=_as(site, "admin")).status_code == 200
    with site.engine.connect() as c:
        assert c.execute(text("SELECT name FROM grid WHERE code = :c"), {"c": code}).scalar_one() == old + "新"
    second = _upload(http, site, "admin", "grids", "改名.geojson", body, layer="comprehensive")
    assert second["report"]["counts"]["changed"] == 0  # the same file again: nothing to do


def _cameras_csv(site: Site, n: int, prefix: str) -> bytes:
    with site.engine.connect() as c:
        points = c.execute(text("""
            SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(geom) AS p FROM grid g
            JOIN grid_layer l ON l.id = g.layer_id AND l.code = 'comprehensive' ORDER BY g.code LIMIT :n) s"""),
                           {"n": n}).all()
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["摄像头编号", "摄像头名称", "经度", "纬度", "朝向", "视角", "可视距离"])
    for i, (lon, lat) in enumerate(points):
        writer.writerow([f"{prefix}{i:04d}", f"测试点位{i}", f"{lon:.7f}", f"{lat:.7f}", 90, 60, 50])
    return buf.getvalue().encode()


def _cameras(site: Site, prefix: str) -> int:
    with site.engine.connect() as c:
        return int(c.execute(text("SELECT count(*) FROM camera WHERE code LIKE :p"), {"p": f"{prefix}%"}).scalar_one())


def test_a_process_killed_mid_apply_leaves_nothing_and_the_next_apply_completes(http, site) -> None:  # noqa: ANN001
    prefix = "IMPFAULT"
    job = _upload(http, site, "admin", "cameras", "摄像头.csv", _cameras_csv(site, 5, prefix))
    assert job["report"]["ok"] and job["report"]["counts"]["created"] == 5, job["report"]
    # Another process applies the job and dies after the importer has written, before the commit.
    script = textwrap.dedent(f"""
        import os
        from geo.access.scope import Scope
        from geo.db import make_engine, make_sessionmaker
        from geo.privacy.audit import Actor
        from geo.settings import DatabaseSettings
        from importers import jobs, pipeline

        real = pipeline.apply

        def dying(session, *args, **kwargs):
            report = real(session, *args, **kwargs)
            session.flush()
            os._exit(17)  # killed: the rows are written in the open transaction, never committed

        pipeline.apply = dying
        factory = make_sessionmaker(make_engine(DatabaseSettings(), as_app=True))
        jobs.apply_job(factory, {job['id']}, actor=Actor(None, "fault test"), scope=Scope.county(),
                       user_id=None, admin=True)
    """)
    env = {**os.environ, "GRIDMAP_DATABASE_URL": site.engine.url.render_as_string(hide_password=False)}
    died = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300)
    assert died.returncode == 17, died.stderr
    assert http.get(f"/imports/{job['id']}", headers=_as(site, "admin")).json()["status"] == "applying"
    assert _cameras(site, prefix) == 0  # nothing of the import is visible
    done = http.post(f"/imports/{job['id']}/apply", headers=_as(site, "admin"))
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "applied" and _cameras(site, prefix) == 5
    # The same file as a new job: nothing to create, and applying it changes nothing.
    again = _upload(http, site, "admin", "cameras", "摄像头.csv", _cameras_csv(site, 5, prefix))
    assert again["report"]["counts"]["created"] == 0 and again["report"]["counts"]["unchanged"] == 5
    assert http.post(f"/imports/{again['id']}/apply", headers=_as(site, "admin")).status_code == 200
    assert _cameras(site, prefix) == 5


def _id_number(seq: int) -> str:
    from geo.privacy.pii import id_check_character

    first17 = f"52011119850312{seq % 1000:03d}"
    return first17 + id_check_character(first17)


def test_residents_are_imported_with_a_purpose_audited_and_no_personal_value_in_any_answer(http, site) -> None:  # noqa: ANN001
    with site.engine.connect() as c:
        addresses = list(c.execute(text("SELECT address FROM household GROUP BY address HAVING count(*) = 1"
                                        " ORDER BY address LIMIT 2")).scalars())
    good, bad = _id_number(101), _id_number(102)[:17] + ("0" if _id_number(102)[17] != "0" else "1")
    names, phones = ("测试甲", "测试乙"), ("13911112222", "13933334444")
    body = ("姓名,公民身份号码,联系电话,地址\n"
            f"{names[0]},{good},{phones[0]},{addresses[0]}\n{names[1]},{bad},{phones[1]},{addresses[1]}\n").encode()
    r = http.post("/imports", headers=_as(site, "admin"), files=[("file", ("居民.csv", body, "text/csv"))],
                  data={"kind": "residents", "purpose": "2026年人口核查"})
    assert r.status_code == 202, r.text
    job_id = r.json()["id"]
    job = http.get(f"/imports/{job_id}", headers=_as(site, "admin"))
    listed = http.get(f"/imports/{job_id}/problems.csv", headers=_as(site, "admin"))
    assert job.json()["status"] == "planned", job.json()["error"]
    answers = job.text + listed.content.decode("utf-8-sig")
    for value in (good, bad, *phones, *names):
        assert value not in answers
    assert "purpose" not in job.json()["options"]
    assert {p["code"] for p in job.json()["report"]["problems"]} >= {"bad_id_number"}
    assert http.post(f"/imports/{job_id}/apply", headers=_as(site, "admin")).status_code == 409  # the bad row
    with site.engine.connect() as c:
        planned = c.execute(text("SELECT purpose, detail FROM audit_log WHERE action = 'import.plan'"
                                 " ORDER BY id DESC LIMIT 1")).one()
        stored = c.execute(text("SELECT count(*) FROM resident WHERE id_number = :n"), {"n": good}).scalar_one()
    assert planned.purpose == "2026年人口核查" and planned.detail["sha256"] == job.json()["sha256"]
    assert stored == 0


def test_an_apply_refused_on_the_second_look_writes_nothing_and_leaves_the_job_planned(http, site) -> None:  # noqa: ANN001
    """planner_a's job is planned clean in their township; their jurisdiction then moves to the other
    township. The apply re-plans under the territory they have now, is refused, and writes nothing."""
    data = json.loads(_town_grids(site, site.towns[0]))
    data["features"][0]["properties"]["网格名称"] += "再"
    job = _upload(http, site, "planner_a", "grids", "再.geojson", json.dumps(data, ensure_ascii=False).encode(),
                  layer="comprehensive")
    assert job["report"]["ok"] and job["report"]["counts"]["changed"] == 1
    move = "UPDATE app_user SET division_id = (SELECT id FROM division WHERE code = :t) WHERE username = 'planner_a'"
    with site.engine.begin() as c:
        c.execute(text(move), {"t": site.towns[1]})
    try:
        before = _versions(site.engine)
        refused = http.post(f"/imports/{job['id']}/apply", headers=_as(site, "planner_a"))
        assert refused.status_code == 422, refused.text
        assert _versions(site.engine) == before
        after = http.get(f"/imports/{job['id']}", headers=_as(site, "admin")).json()
        assert after["status"] == "planned" and after["step"].startswith("apply refused")
    finally:
        with site.engine.begin() as c:
            c.execute(text(move), {"t": site.towns[0]})


def test_a_plan_made_stale_by_a_later_apply_is_refused_and_writes_nothing(http, site) -> None:  # noqa: ANN001
    # Found by the attacking review: job A (rename) planned, job B (another rename of the same grid)
    # applied, then A's apply answered 200 and silently set B's name back.
    data = json.loads(_town_grids(site, site.towns[0]))
    code = data["features"][0]["properties"]["网格编码"]
    old = data["features"][0]["properties"]["网格名称"]

    def renamed(suffix: str) -> bytes:
        data["features"][0]["properties"]["网格名称"] = old + suffix
        return json.dumps(data, ensure_ascii=False).encode()

    first = _upload(http, site, "admin", "grids", "甲.geojson", renamed("甲"), layer="comprehensive")
    second = _upload(http, site, "admin", "grids", "乙.geojson", renamed("乙"), layer="comprehensive")
    assert http.post(f"/imports/{second['id']}/apply", headers=_as(site, "admin")).status_code == 200
    stale = http.post(f"/imports/{first['id']}/apply", headers=_as(site, "admin"))
    assert stale.status_code == 409 and "plan it again" in stale.json()["detail"], stale.text
    with site.engine.connect() as c:
        assert c.execute(text("SELECT name FROM grid WHERE code = :c"), {"c": code}).scalar_one() == old + "乙"
    job = http.get(f"/imports/{first['id']}", headers=_as(site, "admin")).json()
    assert job["status"] == "planned"
    # Planned again, the job shows what it would do now, and applies.
    assert http.post(f"/imports/{first['id']}/plan", headers=_as(site, "admin")).status_code in (200, 202)
    for _ in range(100):
        job = http.get(f"/imports/{first['id']}", headers=_as(site, "admin")).json()
        if job["status"] == "planned" and job["report"]:
            break
    assert [c["detail"] for c in job["report"]["changes"]] == [f"name {old}乙 → {old}甲"]
    assert http.post(f"/imports/{first['id']}/apply", headers=_as(site, "admin")).status_code == 200


def test_jobs_plan_and_apply_with_the_bulk_statement_timeout(http, site, monkeypatch) -> None:  # noqa: ANN001
    """A county's layer takes minutes to compare and reassign: the server's 30 s timeout failed such jobs."""
    from importers import pipeline

    seen: dict[str, str] = {}
    for step in ("plan", "apply"):
        real = getattr(pipeline, step)

        def spy(session, *args, _real=real, _step=step, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
            seen[_step] = session.execute(text("SHOW statement_timeout")).scalar_one()
            return _real(session, *args, **kwargs)

        monkeypatch.setattr(pipeline, step, spy)
    data = json.loads(_town_grids(site, site.towns[0]))
    data["features"][0]["properties"]["网格名称"] += "时"
    job = _upload(http, site, "admin", "grids", "timeout.geojson", json.dumps(data, ensure_ascii=False).encode(),
                  layer="comprehensive")
    assert http.post(f"/imports/{job['id']}/apply", headers=_as(site, "admin")).status_code == 200
    assert seen == {"plan": "1h", "apply": "1h"}
    with http.app.state.engine.connect() as c:  # the app's pooled connections keep the server's own timeout
        assert c.execute(text("SHOW statement_timeout")).scalar_one() != "1h"
