"""``gridmap import`` run as a user runs it: a subprocess against a small district of its own."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import Engine, text


def gridmap(small: Engine, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "GRIDMAP_DATABASE_URL": small.url.render_as_string(hide_password=False),
           "COLUMNS": "200", "NO_COLOR": "1"}
    return subprocess.run([sys.executable, "-m", "importers.cli", "import", *args], capture_output=True, text=True,
                          env=env, timeout=300, cwd=cwd)


def _audit_rows(small: Engine) -> int:
    with small.connect() as c:
        return int(c.execute(text("SELECT count(*) FROM audit_log WHERE action LIKE 'import.%'")).scalar_one())


@pytest.mark.parametrize(("args", "words"), [
    (["parcels", "x.geojson"], "unknown kind"),
    (["grids", "missing.geojson"], "no such file"),
    (["grids", "f.geojson", "--map", "name"], "field=column"),
    (["grids", "f.geojson", "--map", "name=a,name=b"], "mapped twice"),
    (["cameras", "f.geojson", "--layer", "comprehensive"], "grids only"),
    (["residents", "f.geojson"], "--purpose"),
    (["grids", "f.geojson", "--problems", "out.txt"], ".csv or .xlsx"),
    (["grids", "f.geojson", "g.dbf"], "share its name"),
])
def test_usage_errors_exit_2_with_one_line_and_touch_nothing(small: Engine, tmp_path: Path, args: list[str],
                                                              words: str) -> None:
    for name in ("f.geojson", "g.dbf"):
        (tmp_path / name).write_text('{"type": "FeatureCollection", "features": []}')
    before = _audit_rows(small)
    done = gridmap(small, *args, cwd=tmp_path)
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert words in done.stderr and "Traceback" not in done.stderr
    assert _audit_rows(small) == before
    assert not (tmp_path / "out.txt").exists()




def _grids_file(small: Engine, path: Path) -> int:
    """The small district's comprehensive grids as a county office's GeoJSON; returns how many."""
    import json

    with small.connect() as c:
        rows = c.execute(text("""
            SELECT g.code, g.name, d.code AS village, ST_AsGeoJSON(g.geom, 9) AS geometry
            FROM grid g JOIN grid_layer l ON l.id = g.layer_id AND l.code = 'comprehensive'
            JOIN division d ON d.id = g.division_id ORDER BY g.code""")).all()
    features = [{"type": "Feature", "properties": {"网格编码": r.code, "网格名称": r.name, "所属村(社区)": r.village},
                 "geometry": json.loads(r.geometry)} for r in rows]
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}, ensure_ascii=False))
    return len(rows)


def test_a_dry_run_of_the_districts_own_grids_reports_no_changes(small: Engine, tmp_path: Path) -> None:
    import json
    grids = _grids_file(small, tmp_path / "综合网格.geojson")
    done = gridmap(small, "grids", "综合网格.geojson", "--layer", "comprehensive", cwd=tmp_path)
    assert done.returncode == 0, (done.stdout, done.stderr)
    assert "Dry run" in done.stdout and f"{grids:,}" in done.stdout and "--apply" in done.stdout
    done = gridmap(small, "grids", "综合网格.geojson", "--layer", "comprehensive", "--json", cwd=tmp_path)
    report = json.loads(done.stdout)
    assert report["ok"] and report["counts"]["unchanged"] == grids and report["counts"]["changed"] == 0
    assert not report["applied"]


def test_a_plan_with_errors_exits_1_writes_nothing_and_lists_the_problems(small: Engine, tmp_path: Path) -> None:
    import json

    from openpyxl import load_workbook
    path = tmp_path / "grids.geojson"
    _grids_file(small, path)
    data = json.loads(path.read_text())
    data["features"][1]["properties"]["网格编码"] = data["features"][0]["properties"]["网格编码"]  # a duplicate code
    data["features"][2]["geometry"] = {"type": "Polygon", "coordinates": [[[106.6, 26.4], [106.7, 26.5],
                                                                             [106.7, 26.4], [106.6, 26.5],
                                                                             [106.6, 26.4]]]}  # a bow tie
    path.write_text(json.dumps(data, ensure_ascii=False))
    before = _audit_rows(small)
    done = gridmap(small, "grids", "grids.geojson", "--layer", "comprehensive", "--apply", "--problems",
                   "problems.xlsx", cwd=tmp_path)
    assert done.returncode == 1, (done.stdout, done.stderr)
    assert "nothing was written" in done.stdout
    rows = list(load_workbook(tmp_path / "problems.xlsx")["problems"].iter_rows(values_only=True))
    assert rows[0] == ("row", "field", "code", "severity", "message")
    assert {2, 3} & {r[0] for r in rows[1:]}, rows  # the duplicate (feature 2) and the bow tie (feature 3)
    assert _audit_rows(small) == before  # no apply happened


def test_apply_writes_once_and_a_second_run_changes_nothing(small: Engine, tmp_path: Path) -> None:
    import json
    with small.connect() as c:
        points = c.execute(text("""
            SELECT ST_X(ST_PointOnSurface(geom)), ST_Y(ST_PointOnSurface(geom)) FROM grid ORDER BY code LIMIT 3""")).all()
    lines = ["摄像头编号,摄像头名称,经度,纬度,朝向,视角,可视距离"]
    lines += [f"CLICAM{i},点位{i},{lon:.7f},{lat:.7f},180,60,40" for i, (lon, lat) in enumerate(points)]
    (tmp_path / "cameras.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    done = gridmap(small, "cameras", "cameras.csv", "--apply", "--json", cwd=tmp_path)
    assert done.returncode == 0, (done.stdout, done.stderr)
    report = json.loads(done.stdout)
    assert report["applied"] and report["counts"]["created"] == 3
    with small.connect() as c:
        assert c.execute(text("SELECT count(*) FROM camera WHERE code LIKE 'CLICAM%'")).scalar_one() == 3
        who = c.execute(text("SELECT username, detail FROM audit_log WHERE action = 'import.apply'"
                             " ORDER BY id DESC LIMIT 1")).one()
    assert who.username.startswith("cli:") and len(who.detail["sha256"]) == 64
    again = json.loads(gridmap(small, "cameras", "cameras.csv", "--apply", "--json", cwd=tmp_path).stdout)
    assert again["counts"]["created"] == 0 and again["counts"]["unchanged"] == 3
