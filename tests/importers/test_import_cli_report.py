"""What both import surfaces share without a database: field maps, options, permissions per kind, the
problem list files and the masking of reports."""

from __future__ import annotations

import csv
import io

import pytest
from openpyxl import load_workbook

from geo.access.permissions import Permission, Role, permissions_of
from geo.access.security import Forbidden
from geo.errors import InvalidInput
from importers import pipeline
from importers.pipeline import ImportOptions
from importers.problem_list import problems_csv, problems_xlsx
from importers.report import Change, ImportReport, Problem


def test_field_maps_are_read_and_bad_pairs_named() -> None:
    assert pipeline.parse_field_map("name=网格名称, code = 网格编码,") == {"name": "网格名称", "code": "网格编码"}
    assert pipeline.parse_field_map(None) == {}
    for bad, words in (("name", "field=column"), ("=网格名称", "field=column"), ("名称=name", "not a gridmap field"),
                       ("name=a,name=b", "mapped twice")):
        with pytest.raises(InvalidInput, match=words):
            pipeline.parse_field_map(bad, pointer="--map")


def test_options_are_checked_before_any_file_is_read() -> None:
    with pytest.raises(InvalidInput, match="unknown kind"):
        pipeline.check_options(ImportOptions(kind="parcels"))
    with pytest.raises(InvalidInput, match="grids only"):
        pipeline.check_options(ImportOptions(kind="cameras", layer="comprehensive"))
    with pytest.raises(InvalidInput) as refused:
        pipeline.check_options(ImportOptions(kind="residents"))
    assert refused.value.pointer == "purpose"
    assert pipeline.check_options(ImportOptions(kind="residents", purpose="  年度人口核查  ")).purpose == "年度人口核查"


@pytest.mark.parametrize("role", list(Role))
def test_who_may_import_what(role: Role) -> None:
    granted = permissions_of(role)
    for kind in pipeline.KIND_PERMISSIONS:
        needed = {Permission.DATA_IMPORT, *pipeline.KIND_PERMISSIONS[kind]}
        if needed <= granted:
            pipeline.check_allowed(kind, granted)
        else:
            with pytest.raises(Forbidden):
                pipeline.check_allowed(kind, granted)
    assert (Permission.DATA_IMPORT in granted) == (role in (Role.ADMIN, Role.PLANNER))


def test_planners_import_boundaries_but_never_residents() -> None:
    planner = permissions_of(Role.PLANNER)
    pipeline.check_allowed("grids", planner)
    pipeline.check_allowed("households", planner)
    with pytest.raises(Forbidden, match="pii:read"):
        pipeline.check_allowed("residents", planner)
    pipeline.check_allowed("residents", permissions_of(Role.ADMIN))


def _report() -> ImportReport:
    id_number = "52011119850312001" + "X"
    return ImportReport(kind="residents", file=f"{id_number}.xlsx", sha256="0" * 64, problems=[
        Problem(7, "phone", "bad_phone", "row 7: 13912345678 is not a mobile number"),
        Problem(None, None, "no_rows", "the file has no rows", "warning"),
        Problem(3, "name", "formula", "=HYPERLINK(\"http://x\")"),
        Problem(3, "id_number", "bad_id_number", f"check digit of {id_number} is wrong"),
    ], changes=[Change(id_number, "created", detail=f"phone 13912345678 for {id_number}")],
        warnings=["call 13912345678 when done"])


def test_reports_leave_without_personal_numbers() -> None:
    safe = pipeline.safe_report(_report())
    text = repr(safe.to_json())
    assert "13912345678" not in text and "520111198503120" not in text
    assert [p.code for p in safe.problems] == [p.code for p in _report().problems]  # same problems, masked


def test_problem_lists_as_csv_and_xlsx_sorted_by_row_with_inert_formulas() -> None:
    report = pipeline.safe_report(_report())
    raw = problems_csv(report)
    assert raw.startswith(b"\xef\xbb\xbf")  # Excel opens UTF-8 with BOM as text
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert rows[0] == ["row", "field", "code", "severity", "message"]
    assert [r[0] for r in rows[1:]] == ["", "3", "3", "7"]
    assert rows[2][4].startswith("'=")  # a spreadsheet shows it, never runs it
    book = load_workbook(io.BytesIO(problems_xlsx(report)))
    cells = [[c.value for c in row] for row in book["problems"].iter_rows()]
    assert cells[0] == ["row", "field", "code", "severity", "message"]
    assert [c[0] for c in cells[1:]] == [None, 3, 3, 7]
    formula = next(c for c in book["problems"].iter_rows() if c[2].value == "formula")[4]
    assert formula.data_type == "s" and formula.value.startswith("=HYPERLINK")
    assert "13912345678" not in raw.decode("utf-8-sig")
