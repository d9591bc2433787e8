"""``gridmap export`` run as a user runs it: a subprocess against the test database."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pyogrio
from sqlalchemy import text

GRIDMAP = str(Path(sys.executable).with_name("gridmap"))


def _run(db_settings, *args: str) -> subprocess.CompletedProcess:  # noqa: ANN001
    env = {**os.environ, "GRIDMAP_DATABASE_URL": db_settings.database_url, "COLUMNS": "200"}
    return subprocess.run([GRIDMAP, "export", *args], env=env, capture_output=True, text=True, timeout=300)


def test_export_a_layer_to_geopackage(db_settings, engine, district, tmp_path: Path) -> None:  # noqa: ANN001
    out = tmp_path / "综合网格.gpkg"
    r = _run(db_settings, "grids", "--format", "gpkg", "--layer", "comprehensive", "--out", str(out))
    assert r.returncode == 0, r.stderr
    with engine.connect() as c:
        stored = c.execute(text("SELECT count(*) FROM grid g JOIN grid_layer l ON l.id = g.layer_id"
                                " WHERE l.code = 'comprehensive'")).scalar_one()
        audited = c.execute(text("SELECT detail FROM audit_log WHERE action = 'export' AND username LIKE 'cli:%'"
                                 " ORDER BY id DESC LIMIT 1")).scalar_one()
    assert pyogrio.read_info(out)["features"] == stored
    assert f"{stored:,} grids written" in r.stderr
    assert audited["rows"] == stored and audited["filters"] == {"layer": "comprehensive"}
    assert [p.name for p in tmp_path.iterdir()] == [out.name]  # the spool directory is gone


def test_events_with_filters_as_an_account_to_csv(db_settings, engine, district, tmp_path: Path) -> None:  # noqa: ANN001
    out = tmp_path / "events.csv"
    r = _run(db_settings, "events", "-f", "csv", "-o", str(out), "--status", "closed", "--since", "2026-06-01",
             "--until", "2026-09-01T00:00:00+08:00", "--user", "worker1", "--coords", "lonlat")
    assert r.returncode == 0, r.stderr
    with engine.connect() as c:
        layer, grid = c.execute(text("SELECT g.layer_id, g.id FROM app_user u JOIN grid g ON g.id = u.grid_id"
                                     " WHERE u.username = 'worker1'")).one()
        expected = c.execute(text(
            "SELECT count(*) FROM event e JOIN grid_membership m ON m.entity_id = e.id AND m.kind = 'event'"
            " WHERE m.layer_id = :l AND m.grid_id = :g AND e.status = 'closed'"
            " AND e.reported_at >= '2026-06-01'::timestamp AT TIME ZONE current_setting('TimeZone')"
            " AND e.reported_at < '2026-09-01T00:00:00+08:00'"), {"l": layer, "g": grid}).scalar_one()
    lines = out.read_text(encoding="utf-8-sig").splitlines()
    assert lines[0].endswith(",lon,lat") and len(lines) - 1 == expected


def test_bad_options_exit_2_with_one_line(db_settings, tmp_path: Path) -> None:  # noqa: ANN001
    out = str(tmp_path / "x")
    for args, named in ((["grids", "--format", "pdf", "--out", out], "--format"),
                        (["people", "--format", "csv", "--out", out], "WHAT"),
                        (["grids", "--format", "csv", "--encoding", "gbk", "--out", out], "--encoding"),
                        (["events", "--format", "csv", "--since", "yesterday", "--out", out], "--since"),
                        (["grids", "--format", "csv", "--layer", "nonesuch", "--out", out], "--layer"),
                        (["grids", "--format", "csv", "--out", "/nonexistent/dir/x.csv"], "--out"),
                        (["residents", "--format", "csv", "--out", out], "--user"),
                        (["households", "--format", "csv", "--user", "nobody", "--out", out], "--user")):
        r = _run(db_settings, *args)
        assert r.returncode == 2, (args, r.stdout, r.stderr)
        message = r.stderr.strip()
        assert named in message and "Traceback" not in message, (args, message)
    assert not list(tmp_path.iterdir())


def test_residents_as_a_grid_head_with_a_purpose(db_settings, engine, district, tmp_path: Path) -> None:  # noqa: ANN001
    out = tmp_path / "residents.xlsx"
    r = _run(db_settings, "residents", "-f", "xlsx", "-o", str(out), "--user", "head1")
    assert r.returncode == 2 and "purpose" in r.stderr
    r = _run(db_settings, "residents", "-f", "xlsx", "-o", str(out), "--user", "head1", "--purpose", "入户走访核对")
    assert r.returncode == 0, r.stderr
    with engine.connect() as c:
        action, username, purpose = c.execute(text(
            "SELECT action, username, purpose FROM audit_log WHERE action = 'pii.export' ORDER BY id DESC LIMIT 1")).one()
    assert (action, purpose) == ("pii.export", "入户走访核对") and username.endswith(" as head1")
    r = _run(db_settings, "residents", "-f", "csv", "-o", str(out), "--user", "planner", "--purpose", "入户走访核对")
    assert r.returncode == 2 and "pii:export" in r.stderr
