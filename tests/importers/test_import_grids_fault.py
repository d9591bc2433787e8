"""Fault test: a process applying a large grid file is killed mid-apply; nothing of it is visible, a rerun completes.

The apply is one transaction of the caller's (the child's): no statement of it commits on its own, so a
SIGKILL leaves PostgreSQL to roll it back when it sees the connection gone.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url

APP_NAME = "imp-grids-fault"

CHILD = textwrap.dedent("""
    import hashlib, os, sys
    import numpy as np, shapely
    from shapely import wkb
    from sqlalchemy import text
    from geo.access.scope import Scope
    from geo.db import make_engine, make_sessionmaker, transaction
    from geo.privacy.audit import Actor
    from geo.settings import DatabaseSettings
    from importers.files.source import SourceTable
    from importers.load import grids
    from importers.load.context import ImportContext

    engine = make_engine(DatabaseSettings(database_url=os.environ["FAULT_URL"], pool_size=1))
    with transaction(make_sessionmaker(engine)) as s:
        villages = s.execute(text("SELECT code, ST_AsBinary(geom) FROM division WHERE level = 'village'"
                                  " ORDER BY code")).all()
    cell = float(os.environ["FAULT_CELL"])
    codes, geoms, names = [], [], []
    for code, geom in villages:  # square cells wholly inside each village, numbered in the file
        v = wkb.loads(bytes(geom))
        x0, y0, x1, y1 = v.bounds
        xs, ys = np.meshgrid(np.arange(x0, x1, cell), np.arange(y1, y0, -cell))
        boxes = shapely.box(xs.ravel(), ys.ravel() - cell, xs.ravel() + cell, ys.ravel())
        inside = boxes[shapely.contains(v, boxes)][:999]
        for i, b in enumerate(inside, start=1):
            codes.append(f"{code}09{i:03d}"); geoms.append(b); names.append(f"F{i}")
    table = SourceTable(name="fault.gpkg", sha256=hashlib.sha256(str(len(codes)).encode()).hexdigest(),
                        kind="grids", rows=list(range(1, len(codes) + 1)), columns={"code": codes, "name": names},
                        geometry=geoms, crs="EPSG:4326")
    ctx = ImportContext(actor=Actor(None, "fault"), scope=Scope.county(), layer="fault_test")
    print("rows", len(codes), flush=True)
    with transaction(make_sessionmaker(engine)) as s:
        print("applying", flush=True)
        report = grids.apply(s, table, ctx)
        print("applied", report.counts["created"], flush=True)
    print("committed", flush=True)
""")


def _child(url: str, cell: float) -> subprocess.Popen[str]:
    env = {**os.environ, "FAULT_URL": url, "FAULT_CELL": str(cell)}
    return subprocess.Popen([sys.executable, "-c", CHILD], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env)


def _state(engine: Engine) -> dict[str, int]:
    with engine.connect() as c:
        return dict(c.execute(text("""
            SELECT 'grids', count(*) FROM grid g JOIN grid_layer l ON l.id = g.layer_id WHERE l.code = 'fault_test'
            UNION ALL SELECT 'versions', count(*) FROM grid_version v JOIN grid_layer l ON l.id = v.layer_id
                       WHERE l.code = 'fault_test'
            UNION ALL SELECT 'members', count(*) FROM grid_membership m JOIN grid_layer l ON l.id = m.layer_id
                       WHERE l.code = 'fault_test'
            UNION ALL SELECT 'counters', count(*) FROM grid_code_counter c JOIN grid_layer l ON l.id = c.layer_id
                       WHERE l.code = 'fault_test'
            UNION ALL SELECT 'audit', count(*) FROM audit_log WHERE action = 'import.grids'""")).all())


def test_killed_mid_apply_leaves_nothing_and_a_rerun_completes(small: Engine) -> None:
    with small.begin() as c:
        c.execute(text("INSERT INTO grid_layer (code, name, code_prefix, allow_overlap, full_cover, sort_order, color,"
                       " description) VALUES ('fault_test', '故障测试', '09', false, false, 9, '#000000', '')"))
        area = c.execute(text("SELECT sum(ST_Area(geom)) FROM division WHERE level = 'village'")).scalar_one()
    cell = (area / 4000) ** 0.5  # about 3,000 whole cells inside the villages
    url = make_url(small.url).update_query_dict({"application_name": APP_NAME}).render_as_string(hide_password=False)

    child = _child(url, cell)
    try:
        assert child.stdout is not None
        rows = int(child.stdout.readline().split()[1])
        assert rows > 1000
        assert child.stdout.readline().strip() == "applying"
        deadline = time.monotonic() + 60
        with small.connect() as c:  # wait until the apply is writing, then kill it
            while time.monotonic() < deadline:
                busy = c.execute(text("SELECT count(*) FROM pg_stat_activity WHERE application_name = :a"
                                      " AND state = 'active'"), {"a": APP_NAME}).scalar_one()
                c.commit()
                if busy:
                    break
                time.sleep(0.05)
        time.sleep(1.0)
        assert child.poll() is None, "the apply finished before it could be killed: make the table larger"
        os.kill(child.pid, signal.SIGKILL)
        child.wait(10)
    finally:
        if child.poll() is None:
            child.kill()
    with small.connect() as c:  # the orphaned backend ends its statement, finds its client gone, rolls back
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and c.execute(text(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = :a"), {"a": APP_NAME}).scalar_one():
            c.commit()
            time.sleep(0.2)
    assert _state(small) == {"grids": 0, "versions": 0, "members": 0, "counters": 0, "audit": 0}

    rerun = _child(url, cell)
    out, err = rerun.communicate(timeout=600)
    assert rerun.returncode == 0, err[-2000:]
    assert f"applied {rows}" in out and "committed" in out
    after = _state(small)
    assert after["grids"] == rows and after["versions"] == rows and after["audit"] == 1 and after["members"] > 0
