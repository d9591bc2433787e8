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
