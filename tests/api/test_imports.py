# ruff: noqa: F811 - the fixtures imported from imports_site are parameters of the tests below
"""POST /imports and its jobs, against a real server app on a small district whose writes really commit.

The jobs are planned after the answer in their own transactions (as in production), so these tests
cannot run in the usual rolled-back transaction: the ``small`` district has a database of its own,
and each test creates what it needs. What every surface must hold: a job is stored before the 202,
only its creator and admins see it, a viewer cannot import, bad input is a 4xx problem naming what is
wrong, and nothing is stored for a refused upload.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from imports_site import UPLOAD_MAX_MB, Site, _as, http, jobs_count, site  # noqa: F401 - fixtures and helpers
from sqlalchemy import text

from geo.db import make_sessionmaker, transaction

GEOJSON = b'{"type": "FeatureCollection", "features": []}'


def _upload(http: TestClient, site: Site, user: str, *, kind: str = "grids", files=None, **fields):  # noqa: ANN001, ANN202
    files = files if files is not None else [("file", ("grids.geojson", GEOJSON, "application/geo+json"))]
    return http.post("/imports", headers=_as(site, user), data={"kind": kind, **fields}, files=files)


def _problem(r, status: int) -> dict:  # noqa: ANN001
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    return r.json()


def test_an_upload_is_stored_before_the_202_and_only_its_creator_and_admins_see_it(http, site) -> None:  # noqa: ANN001
    before = jobs_count(site)
    r = _upload(http, site, "planner_a", layer="comprehensive")
    assert r.status_code == 202, r.text
    job = r.json()
    assert r.headers["location"] == f"/imports/{job['id']}"
    assert job["kind"] == "grids" and job["created_by"] == "planner_a" and job["options"]["layer"] == "comprehensive"
    import hashlib

    assert job["sha256"] == hashlib.sha256(GEOJSON).hexdigest() and job["size_bytes"] == len(GEOJSON)
    assert jobs_count(site) == before + 1
    with site.engine.connect() as c:  # committed: another connection sees the job and its bytes
        stored = c.execute(text("SELECT content FROM import_job_file WHERE job_id = :j"), {"j": job["id"]}).all()
        assert [bytes(s.content) for s in stored] in ([GEOJSON], [])  # deleted only once applied
    assert http.get(f"/imports/{job['id']}", headers=_as(site, "planner_a")).status_code == 200
    assert http.get(f"/imports/{job['id']}", headers=_as(site, "admin")).status_code == 200
    for other in ("planner_b", "planner"):
        assert _problem(http.get(f"/imports/{job['id']}", headers=_as(site, other)), 404)["detail"]
        assert http.post(f"/imports/{job['id']}/apply", headers=_as(site, other)).status_code == 404
        assert http.get(f"/imports/{job['id']}/problems.csv", headers=_as(site, other)).status_code == 404
    mine = http.get("/imports", headers=_as(site, "planner_b")).json()
    assert job["id"] not in [j["id"] for j in mine]
    assert job["id"] in [j["id"] for j in http.get("/imports", headers=_as(site, "admin")).json()]
    assert "no-store" in http.get(f"/imports/{job['id']}", headers=_as(site, "admin")).headers["cache-control"]


def test_an_admin_of_one_territory_does_not_see_the_jobs_of_others(http, site) -> None:  # noqa: ANN001
    """A county admin (admin.520112) once listed and read every county's jobs: creators, file names,
    reports naming the other county's divisions, problem lists. Only platform admins see them all."""
    job = _upload(http, site, "planner_b", layer="comprehensive").json()
    assert _problem(http.get(f"/imports/{job['id']}", headers=_as(site, "admin_a")), 404)
    assert http.get(f"/imports/{job['id']}/problems.csv", headers=_as(site, "admin_a")).status_code == 404
    assert http.post(f"/imports/{job['id']}/apply", headers=_as(site, "admin_a")).status_code == 404
    assert job["id"] not in [j["id"] for j in http.get("/imports", headers=_as(site, "admin_a")).json()]
    own = _upload(http, site, "admin_a", layer="comprehensive").json()
    assert http.get(f"/imports/{own['id']}", headers=_as(site, "admin_a")).status_code == 200
    assert http.get(f"/imports/{job['id']}", headers=_as(site, "admin")).status_code == 200  # the platform's admin


@pytest.mark.parametrize("user", ["viewer", "auditor", "worker1", "head1", "department", "emergency"])
def test_roles_without_the_import_permission_cannot_upload(http, site, user: str) -> None:  # noqa: ANN001
    before = jobs_count(site)
    problem = _problem(_upload(http, site, user), 403)
    assert "data:import" in problem["detail"]
    assert jobs_count(site) == before
    assert http.get("/imports/1", headers=_as(site, user)).status_code == 403


def test_residents_need_personal_data_permission_and_a_purpose(http, site) -> None:  # noqa: ANN001
    before = jobs_count(site)
    files = [("file", ("residents.csv", "姓名,身份证号\n".encode(), "text/csv"))]
    problem = _problem(_upload(http, site, "planner", kind="residents", files=files, purpose="登记核对 2026"), 403)
    assert "pii:read" in problem["detail"]
    problem = _problem(_upload(http, site, "admin", kind="residents", files=files), 422)
    assert problem["pointer"] == "purpose"
    assert jobs_count(site) == before


@pytest.mark.parametrize(("fields", "pointer"), [
    ({"kind": "parcels"}, "kind"),
    ({"kind": "grids", "map": "name"}, "map"),
    ({"kind": "grids", "map": "Name=网格名称"}, "map"),
    ({"kind": "grids", "map": "name=a,name=b"}, "map"),
    ({"kind": "households", "layer": "comprehensive"}, "layer"),
    ({"kind": "grids", "key": "外部编号"}, "key"),
    ({"kind": "grids", "encoding": "rot13"}, "encoding"),  # a codec, not a text encoding: once a failed job
    ({"kind": "grids", "encoding": "no-such-codec"}, "encoding"),
])
def test_bad_options_are_a_422_naming_the_field_and_store_nothing(http, site, fields: dict, pointer: str) -> None:  # noqa: ANN001
    before = jobs_count(site)
    r = http.post("/imports", headers=_as(site, "admin"), data=fields,
                  files=[("file", ("grids.geojson", GEOJSON, "application/geo+json"))])
    problem = _problem(r, 422)
    assert problem.get("pointer") == pointer or pointer in problem["detail"], problem
    assert jobs_count(site) == before


@pytest.mark.parametrize(("files", "words"), [
    ([], "file"),
    ([("file", ("empty.geojson", b"", "application/geo+json"))], "empty"),
    ([("file", ("a.shp", b"x", "application/octet-stream")), ("file", ("b.dbf", b"y", "application/octet-stream"))],
     "share"),
    ([("file", ("a.shp", b"x", "application/octet-stream")), ("file", ("A.SHP", b"y", "application/octet-stream"))],
     "twice"),
])
def test_bad_file_sets_are_refused(http, site, files: list, words: str) -> None:  # noqa: ANN001
    before = jobs_count(site)
    r = http.post("/imports", headers=_as(site, "admin"), data={"kind": "grids"}, files=files or None)
    assert r.status_code == 422, r.text
    assert words in r.text
    assert jobs_count(site) == before


def test_uploads_have_a_limit_of_their_own(http, site) -> None:  # noqa: ANN001
    before = jobs_count(site)
    big = b"x" * (UPLOAD_MAX_MB * 1024 * 1024 + 1)
    problem = _problem(_upload(http, site, "admin", files=[("file", ("big.csv", big, "text/csv"))]), 413)
    assert f"{UPLOAD_MAX_MB} MB" in problem["detail"]

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it arrives
        boundary = b"--b0undary\r\n"
        yield boundary + b'Content-Disposition: form-data; name="kind"\r\n\r\ngrids\r\n'
        yield boundary + b'Content-Disposition: form-data; name="file"; filename="big.csv"\r\n\r\n'
        for _ in range(UPLOAD_MAX_MB * 4 + 1):
            yield b"y" * 262_144
        yield b"\r\n--b0undary--\r\n"

    r = http.post("/imports", headers={**_as(site, "admin"), "Content-Type": "multipart/form-data; boundary=b0undary"},
                  content=chunks())
    assert _problem(r, 413)
    assert jobs_count(site) == before
    # Over the 2 MB any other request may send, within the upload limit: stored (the plan then fails on it).
    r = _upload(http, site, "admin", kind="households",
                files=[("file", ("households.csv", b"a,b\n" + b"1,2\n" * 700_000, "text/csv"))])
    assert r.status_code == 202, r.text
    assert http.post("/grids", headers=_as(site, "admin"), content=b"{" + b" " * (2 * 1024 * 1024) + b"}",
                     ).status_code == 413


def test_a_job_that_is_not_planned_cannot_be_applied_and_problems_wait_for_the_plan(http, site) -> None:  # noqa: ANN001
    with transaction(make_sessionmaker(site.engine)) as s:
        from geo.privacy.audit import Actor
        from importers import jobs
        from importers.pipeline import ImportOptions

        uid = s.execute(text("SELECT id FROM app_user WHERE username = 'admin'")).scalar_one()
        job_id = jobs.create(s, actor=Actor(uid, "admin"), options=ImportOptions(kind="cameras"),
                             files=[("cameras.csv", b"code,lon,lat\n")])
    problem = _problem(http.post(f"/imports/{job_id}/apply", headers=_as(site, "admin")), 409)
    assert "queued" in problem["detail"]
    assert "no report yet" in _problem(http.get(f"/imports/{job_id}/problems.csv", headers=_as(site, "admin")),
                                       409)["detail"]
    assert http.get("/imports/0", headers=_as(site, "admin")).status_code == 422
    assert http.get(f"/imports/{job_id + 1000}", headers=_as(site, "admin")).status_code == 404


def test_a_failed_or_stalled_job_is_planned_again_and_others_are_left_alone(http, site) -> None:  # noqa: ANN001
    r = _upload(http, site, "admin", kind="cameras",
                files=[("file", ("cameras.xlsx", b"this is not a spreadsheet", "application/octet-stream"))])
    assert r.status_code == 202
    job_id = r.json()["id"]
    failed = http.get(f"/imports/{job_id}", headers=_as(site, "admin")).json()
    assert failed["status"] == "failed" and failed["error"] and failed["report"] is None
    assert "Traceback" not in failed["error"]
    again = http.post(f"/imports/{job_id}/plan", headers=_as(site, "admin"))
    assert again.status_code == 202 and again.json()["status"] == "queued"
    assert http.get(f"/imports/{job_id}", headers=_as(site, "admin")).json()["status"] == "failed"
    with site.engine.begin() as c:  # a plan whose process died: still "planning", silent for 20 minutes
        c.execute(text("UPDATE import_job SET status = 'planning', updated_at = now() - interval '20 minutes'"
                       " WHERE id = :j"), {"j": job_id})
    assert http.get(f"/imports/{job_id}", headers=_as(site, "admin")).json()["stalled"] is True
    assert http.post(f"/imports/{job_id}/plan", headers=_as(site, "admin")).status_code == 202
    with site.engine.begin() as c:
        c.execute(text("UPDATE import_job SET status = 'planning', updated_at = now() WHERE id = :j"), {"j": job_id})
    assert "planning" in _problem(http.post(f"/imports/{job_id}/plan", headers=_as(site, "admin")), 409)["detail"]
    with site.engine.connect() as c:
        uploads = c.execute(text("SELECT count(*) FROM audit_log WHERE action = 'import.upload' AND entity_id = :j"),
                            {"j": str(job_id)}).scalar_one()
    assert uploads == 1
