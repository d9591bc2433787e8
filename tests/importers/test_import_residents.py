"""Importing residents (personal data): dry run, problems that never echo a value, all-or-nothing
apply, idempotence, audit, territory and row-level security — on the demo district in PostGIS."""

from __future__ import annotations

import pytest
from people_files import (
    audit_rows,
    context,
    id_number,
    leaks,
    mobile,
    planted,
    sql_log,  # noqa: F401 - a fixture, used by name
    table,
    wrong_check,
)
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.access.scope import Scope, bind, member_filter
from geo.errors import InvalidInput
from importers.load import importer_for
from importers.load import residents as imp


def _households(session: Session, username: str, n: int, *, inside: bool = True) -> list[tuple[int, str]]:
    """``n`` households inside (or outside) ``username``'s territory, given external ids HH-<id>."""
    where, params = member_filter(context(session, username).scope, "household", "h")
    if not inside:
        where = where.replace(" AND h.id IN", " AND h.id NOT IN")
    ids = list(session.execute(text(f"SELECT h.id FROM household h WHERE true{where} ORDER BY h.id LIMIT :n"),
                               {**params, "n": n}).scalars())
    assert len(ids) == n
    bind(session, Scope.county())  # the test's own reads see every resident (the importers bind their own scope)
    session.execute(text("UPDATE household SET external_id = 'HH-' || id WHERE id = ANY(:ids)"), {"ids": ids})
    return [(i, f"HH-{i}") for i in ids]


def _residents(session: Session, household_id: int) -> list[tuple[str, str, str]]:
    return list(session.execute(text("SELECT name, id_number, phone FROM resident WHERE household_id = :h"
                                     " ORDER BY id"), {"h": household_id}).all())


def _count(session: Session, household_id: int) -> int:
    return session.execute(text("SELECT residents FROM household WHERE id = :h"), {"h": household_id}).scalar_one()


NAMES = ("欧阳明珠", "司马青云", "诸葛春华", "上官秋月", "东方晓光", "慕容雪松")


def _records(households: list[tuple[int, str]], per: int = 2) -> list[dict[str, str]]:
    out = []
    for k, (_, ref) in enumerate(households):
        for j in range(per):
            seq = 10 * k + j + 1
            out.append({"name": NAMES[(k * per + j) % len(NAMES)], "id_number": id_number(seq),
                        "phone": mobile(5550000 + seq), "household": ref})
    return out


def test_dry_run_counts_and_writes_nothing(session: Session) -> None:
    homes = _households(session, "worker2", 3)
    records = _records(homes)
    before = [_residents(session, h) for h, _ in homes]
    report = importer_for("residents").plan(session, table("residents", records), context(session, "worker2"))
    assert report.ok and not report.applied
    assert report.counts == {"created": 6, "changed": 0, "unchanged": 0, "retired": 0}
    assert [_residents(session, h) for h, _ in homes] == before
    assert leaks(report, planted(records)) == []


def test_apply_writes_audits_and_a_second_apply_changes_nothing(session: Session) -> None:
    homes = _households(session, "worker2", 2)
    records = _records(homes)
    ctx = context(session, "worker2")
    counts = [_count(session, h) for h, _ in homes]
    t = table("residents", records, name="居民名册.xlsx")
    report = imp.apply(session, t, ctx)
    assert report.applied and report.counts["created"] == 4
    for (h, _), before in zip(homes, counts, strict=True):
        stored = _residents(session, h)
        assert {(r["name"], r["id_number"], r["phone"]) for r in records if r["household"] == f"HH-{h}"} <= set(stored)
        assert _count(session, h) == before + 2
    [row] = audit_rows(session, "import.residents")
    assert row["username"] == "worker2" and row["entity"] == "resident"
    assert row["detail"]["file"] == "居民名册.xlsx" and row["detail"]["sha256"] == t.sha256
    assert row["detail"]["personal_records"] == 4 and row["detail"]["created"] == 4

    again = imp.apply(session, t, ctx)  # idempotent: the same file again is a no-op
    assert again.counts == {"created": 0, "changed": 0, "unchanged": 4, "retired": 0}
    assert [_count(session, h) for h, _ in homes] == [c + 2 for c in counts]
    assert sum(len([r for r in _residents(session, h) if r[1] in {x["id_number"] for x in records}])
               for h, _ in homes) == 4
    assert audit_rows(session, "import.residents")[-1]["detail"]["personal_records"] == 0

    records[0]["phone"] = mobile(7770001)  # matched by ID number within the household: an update
    records[1]["name"] = "西门吹雪"
    changed = imp.apply(session, table("residents", records), ctx)
    assert changed.counts == {"created": 0, "changed": 2, "unchanged": 2, "retired": 0}
    assert {c.detail.split(": ")[1] for c in changed.changes} == {"phone updated", "name updated"}
    assert (records[1]["name"], records[1]["id_number"], records[1]["phone"]) in _residents(session, homes[0][0])
    assert leaks(changed, planted(records)) == []


@pytest.mark.usefixtures("sql_log")  # before session: the connection must log
def test_bad_values_are_named_by_row_and_field_never_echoed(session: Session, caplog: pytest.LogCaptureFixture) -> None:
    [(h, ref), (h2, ref2)] = _households(session, "worker2", 2)
    [(_, far)] = _households(session, "worker2", 1, inside=False)
    good = id_number(1)
    records = [
        {"name": "欧阳明珠", "id_number": good, "phone": mobile(1), "household": ref},                 # row 2 fine
        {"name": "司马青云", "id_number": wrong_check(id_number(2)), "phone": mobile(2), "household": ref},  # 3
        {"name": "诸葛春华", "id_number": "520111198502301234", "household": ref},                      # 4: 30 Feb
        {"name": "上官秋月", "id_number": "520111850312123", "household": ref},                         # 5: 15 digits
        {"name": "东方晓光", "id_number": id_number(5), "phone": "1381234567", "household": ref},      # 6: 10 digits
        {"name": id_number(6), "id_number": id_number(6), "household": ref},                          # 7: name column
        {"name": "慕容雪松", "id_number": id_number(7), "household": "HH-NO-SUCH"},                    # 8
        {"name": "西门吹雪", "id_number": id_number(8), "household": far},                             # 9: not theirs
        {"name": "欧阳明珠", "id_number": good, "phone": mobile(1), "household": ref},                 # 10: twice
        {"name": "欧阳明珠", "id_number": good, "household": ref2},                                    # 11: elsewhere
        {"name": "", "id_number": id_number(9), "household": ref2},                                   # 12
        {"name": "花满楼", "id_number": id_number(10)},                                                # 13
    ]
    values = planted(records) | {"520111198502301234", "520111850312123", "1381234567"}
    ctx = context(session, "worker2")
    report = imp.plan(session, table("residents", records), ctx)
    found = {(p.row, p.field, p.code) for p in report.problems}
    assert found == {
        (3, "id_number", "bad_id_number"), (4, "id_number", "bad_id_number"), (5, "id_number", "bad_id_number"),
        (6, "phone", "bad_phone"), (7, "name", "bad_name"), (8, "household", "unknown_household"),
        (9, "household", "outside_scope"), (10, "id_number", "duplicate_row"),
        (11, "id_number", "duplicate_id_number"), (12, "name", "missing_name"),
        (13, "household", "missing_household"),
    }
    assert not report.ok and report.counts["created"] == 1
    by_row = {p.row: p.message for p in report.problems}
    assert "check character" in by_row[3] and "birth date" in by_row[4] and "15-digit" in by_row[5]
    assert "row 2" in by_row[10]

    before = _residents(session, h)
    with pytest.raises(InvalidInput) as refused:
        imp.apply(session, table("residents", records), ctx)
    assert "nothing was written" in str(refused.value)
    assert _residents(session, h) == before  # all or nothing: not even row 2
    assert audit_rows(session, "import.residents") == []
    assert "FROM resident" in caplog.text  # the log really holds the statements (and DEBUG result rows)
    assert leaks(report, values, str(refused.value), repr(refused.value.extra), caplog.text) == []


def test_household_by_address_and_retiring_who_moved_out(session: Session) -> None:
    [(h, ref)] = _households(session, "worker2", 1)
    address = session.execute(text("UPDATE household SET address = address || '（导入测试）' WHERE id = :h"
                                   " RETURNING address"), {"h": h}).scalar_one()
    stored = _residents(session, h)
    assert stored, "the demo gives every household residents"
    records = [{"name": "欧阳明珠", "id_number": id_number(1), "address": address}]
    ctx = context(session, "worker2", retire_missing=True)
    report = imp.apply(session, table("residents", records), ctx)
    assert report.counts == {"created": 1, "changed": 0, "unchanged": 0, "retired": len(stored)}
    assert _residents(session, h) == [("欧阳明珠", id_number(1), "")]
    assert _count(session, h) == 1
    assert imp.apply(session, table("residents", records), ctx).counts["unchanged"] == 1


def test_row_level_security_is_bound_for_the_application_role(session: Session) -> None:
    """The session is the application role: what it writes and compares is limited by RLS to the
    importing user's territory, set by the importer itself (the test sets no scope)."""
    assert session.execute(text("SELECT current_user")).scalar_one() == "gridmap_app"
    [(h, ref)] = _households(session, "worker2", 1)
    records = _records([(h, ref)], per=1)
    imp.apply(session, table("residents", records), context(session, "worker2"))
    visible = session.execute(text("SELECT count(*) FROM resident WHERE household_id = :h"), {"h": h}).scalar_one()
    assert visible == _count(session, h)
    # A user of another village sees nothing of this household, whatever the application asks.
    context_other = context(session, "head1")
    imp.plan(session, table("residents", records), context_other)
    assert session.execute(text("SELECT count(*) FROM resident WHERE household_id = :h"), {"h": h}).scalar_one() == 0


def test_missing_columns_are_file_level_problems(session: Session) -> None:
    report = imp.plan(session, table("residents", [{"name": "欧阳明珠"}]), context(session))
    assert {(p.row, p.field, p.code) for p in report.problems} == {
        (None, "id_number", "missing_column"), (None, "household", "missing_column")}
    assert not report.ok


def test_spreadsheet_habits_grouped_numbers_number_cells_and_a_file_named_after_its_contact(session: Session) -> None:
    [(h, ref)] = _households(session, "worker2", 1)
    grouped = id_number(41)
    records = [{"name": "欧阳明珠", "id_number": f"{grouped[:6]} {grouped[6:14]} {grouped[14:]}", "household": ref},
               {"name": "司马青云", "id_number": float(id_number(43)), "household": ref}]
    report = imp.plan(session, table("residents", records, name=f"名册 {mobile(4242)}.xlsx"),
                      context(session, "worker2"))
    assert [(p.row, p.field, p.code) for p in report.problems] == [(3, "id_number", "bad_id_number")]
    assert "format the column as text" in report.problems[0].message
    assert report.counts["created"] == 1 and report.file.startswith("名册 139****")
    assert leaks(report, {grouped, id_number(43), mobile(4242), "欧阳明珠", "司马青云"}) == []


def test_residents_of_households_imported_in_the_same_transaction(session: Session) -> None:
    """The register first (imp-households' importer), then its people, referring to it by 户编号."""
    from shapely.geometry import Point

    spots = session.execute(text(
        "SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(g.geom) p FROM grid g JOIN grid_layer l"
        " ON l.id = g.layer_id WHERE l.code = 'comprehensive' ORDER BY g.code LIMIT 2) q")).all()
    register = table("households", [{"external_id": f"HX-{k:06d}", "address": f"导入测试路{k}号"} for k in (1, 2)],
                     geometry=[Point(x, y) for x, y in spots], name="户籍登记.xlsx")
    assert importer_for("households").apply(session, register, context(session)).counts["created"] == 2
    people = [{"name": NAMES[k], "id_number": id_number(60 + k), "household": f"HX-{1 + k % 2:06d}"}
              for k in range(4)]
    report = imp.apply(session, table("residents", people), context(session))
    assert report.counts["created"] == 4
    hid = session.execute(text("SELECT id FROM household WHERE external_id = 'HX-000001'")).scalar_one()
    assert sorted(r[1] for r in _residents(session, hid)) == sorted([id_number(60), id_number(62)])
