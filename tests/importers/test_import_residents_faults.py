"""All or nothing, for real: an apply that fails, or whose process is killed, before its commit leaves no
resident visible, and running it again completes it. On a small district of its own (commits are real)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from people_files import context, id_number, mobile, table
from sqlalchemy import Engine, text

from geo.db import make_sessionmaker, transaction
from importers.load import residents as imp

CHILD = """
import json, os, signal, sys
from geo.db import make_engine, make_sessionmaker
from geo.access.scope import Scope
from geo.privacy.audit import Actor
from geo.settings import DatabaseSettings
from importers.files.source import SourceTable
from importers.load import residents
from importers.load.context import ImportContext

def killed(*args, **kwargs):  # every resident row is written by now; the commit never comes
    os.kill(os.getpid(), signal.SIGKILL)

residents.audit_import = killed
t = SourceTable(**json.load(sys.stdin))
engine = make_engine(DatabaseSettings(database_url=os.environ["GRIDMAP_DATABASE_URL"]))
with make_sessionmaker(engine)() as s:
    residents.apply(s, t, ImportContext(actor=Actor(None, "fault test"), scope=Scope.county()))
    s.commit()
"""


def _setup(small: Engine, n: int, born: str) -> list[dict[str, str]]:
    with transaction(make_sessionmaker(small)) as s:
        ids = list(s.execute(text("UPDATE household SET external_id = 'F-' || id WHERE id IN"
                                  " (SELECT id FROM household ORDER BY id LIMIT :n) RETURNING id"), {"n": n}).scalars())
    return [{"name": "欧阳明珠", "id_number": id_number(k + 1, born=born), "phone": mobile(8800 + k),
             "household": f"F-{h}"} for k, h in enumerate(sorted(ids))]


def _stored(small: Engine, records: list[dict[str, str]]) -> int:
    with small.connect() as c:  # a connection of its own: what any other session would see
        return c.execute(text("SELECT count(*) FROM resident WHERE id_number = ANY(:i)"),
                         {"i": [r["id_number"] for r in records]}).scalar_one()


def test_a_failure_after_the_writes_leaves_nothing_and_a_rerun_completes(small: Engine,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    records = _setup(small, 20, "19700101")
    t = table("residents", records)

    def fail(*args: object, **kwargs: object) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr(imp, "audit_import", fail)
    with pytest.raises(RuntimeError), transaction(make_sessionmaker(small)) as s:
        imp.apply(s, t, context(s))
    assert _stored(small, records) == 0
    monkeypatch.undo()
    with transaction(make_sessionmaker(small)) as s:
        assert imp.apply(s, t, context(s)).counts["created"] == 20
    assert _stored(small, records) == 20


def test_a_process_killed_before_its_commit_leaves_nothing(small: Engine, tmp_path: Path) -> None:
    records = _setup(small, 30, "19710101")  # other people than the test above
    t = table("residents", records)
    env = {**os.environ, "GRIDMAP_DATABASE_URL": small.url.render_as_string(hide_password=False)}
    body = json.dumps({"name": t.name, "sha256": t.sha256, "kind": t.kind, "rows": t.rows, "columns": t.columns,
                       "geometry": None, "crs": t.crs}, ensure_ascii=False)
    child = subprocess.run([sys.executable, "-c", CHILD], input=body, text=True, env=env, capture_output=True,
                           timeout=120)
    assert child.returncode == -9, child.stderr[-2000:]
    assert _stored(small, records) == 0
    with transaction(make_sessionmaker(small)) as s:
        assert imp.apply(s, t, context(s)).counts["created"] == 30
    assert _stored(small, records) == 30


def test_two_applies_of_one_file_at_once_write_it_once(small: Engine) -> None:
    """The second waits for the first's commit (an advisory lock per kind) and then finds nothing to do;
    without the lock both would see "not there yet" and both would create."""
    import threading

    records = _setup(small, 10, "19720101")
    t = table("residents", records)
    seen: dict[str, object] = {}
    first = make_sessionmaker(small)()
    try:
        assert imp.apply(first, t, context(first)).counts["created"] == 10

        def second() -> None:
            with transaction(make_sessionmaker(small)) as s:
                seen["report"] = imp.apply(s, t, context(s))

        other = threading.Thread(target=second)
        other.start()
        other.join(timeout=2)
        assert other.is_alive(), "the second apply waits for the first to commit"
        first.commit()
    finally:
        first.close()
    other.join(timeout=60)
    assert seen["report"].counts == {"created": 0, "changed": 0, "unchanged": 10, "retired": 0}  # type: ignore[attr-defined]
    assert _stored(small, records) == 10
