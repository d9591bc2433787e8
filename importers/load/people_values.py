"""Checking one personal value from a file: names, ID numbers (GB 11643-1999), phones, staff roles.

The rules are geo.privacy.pii's, the ones the API applies to a resident typed in by hand, so that a
record is valid whichever door it came through. Each check returns the clean value or a Problem that
names the row and field and what is wrong — never the value.
"""

from __future__ import annotations

import re

from geo.errors import InvalidInput
from geo.models.people import StaffRole
from geo.privacy.pii import validate_id_number, validate_phone
from importers.load.people_common import problem
from importers.report import Problem

NAME_MAX = 50
_DIGIT = re.compile(r"\d")

# How Chinese offices write the roles of "one head, three workers" 一长三员 and the rest, and the
# English values themselves. Spaces and the usual decorations (专职/兼职) are ignored.
ROLE_NAMES: dict[str, StaffRole] = {
    "网格长": StaffRole.GRID_HEAD, "网格组长": StaffRole.GRID_HEAD, "网格责任人": StaffRole.GRID_HEAD,
    "网格员": StaffRole.GRID_WORKER, "专职网格员": StaffRole.GRID_WORKER, "兼职网格员": StaffRole.GRID_WORKER,
    "专兼职网格员": StaffRole.GRID_WORKER, "网格管理员": StaffRole.GRID_WORKER,
    "网格辅助员": StaffRole.GRID_ASSISTANT, "辅助网格员": StaffRole.GRID_ASSISTANT,
    "网格协管员": StaffRole.GRID_ASSISTANT, "网格助理员": StaffRole.GRID_ASSISTANT,
    "网格信息员": StaffRole.GRID_ASSISTANT,
    "网格指导员": StaffRole.GRID_INSTRUCTOR, "指导员": StaffRole.GRID_INSTRUCTOR,
    "应急队伍": StaffRole.EMERGENCY_TEAM, "应急队员": StaffRole.EMERGENCY_TEAM,
    "应急救援队员": StaffRole.EMERGENCY_TEAM, "应急人员": StaffRole.EMERGENCY_TEAM,
    "部门": StaffRole.DEPARTMENT, "部门人员": StaffRole.DEPARTMENT, "职能部门": StaffRole.DEPARTMENT,
    "部门工作人员": StaffRole.DEPARTMENT,
    **{r.value: r for r in StaffRole},
    **{r.value.replace("_", " "): r for r in StaffRole},
}
ROLE_HINT = "网格长, 网格员, 网格辅助员, 网格指导员, 应急队员, 部门人员 (or grid_head, grid_worker, …)"


def check_name(row: int, value: str, field: str = "name") -> tuple[str | None, Problem | None]:
    if not value:
        return None, problem(row, field, "missing_name", "a name is required")
    if len(value) > NAME_MAX:
        return None, problem(row, field, "bad_name", f"a name has at most {NAME_MAX} characters")
    if _DIGIT.search(value):
        # Names have no digits: this is an ID number or a phone in the wrong column (check the field map).
        return None, problem(row, field, "bad_name", "a name has no digits: is the column map right?")
    return value, None


def check_id_number(row: int, value: str, field: str = "id_number", *,
                    was_number: bool = False) -> tuple[str | None, Problem | None]:
    """``was_number``: the cell held a number, not text (a spreadsheet keeps 15 significant digits)."""
    if not value:
        return None, problem(row, field, "missing_id_number", "an ID number is required")
    if was_number and len(value) > 15:
        return None, problem(row, field, "bad_id_number", "the ID number was stored as a number, which keeps only"
                             " 15 significant digits: format the column as text in the spreadsheet and export again")
    value = re.sub(r"[\s-]", "", value)  # written in groups: 520111 19850312 0011
    try:
        return validate_id_number(value, pointer=field), None
    except InvalidInput as e:  # its message never repeats the number
        hint = "" if len(value) != 15 else " (a 15-digit number from before 1999 must be converted to 18)"
        return None, problem(row, field, "bad_id_number", e.detail + hint)


def check_phone(row: int, value: str, field: str = "phone") -> tuple[str | None, Problem | None]:
    """An empty phone is allowed (``""``); anything else must be a mainland mobile or landline."""
    try:
        phone = validate_phone(value, pointer=field)
    except InvalidInput as e:
        return None, problem(row, field, "bad_phone", e.detail)
    if len(phone) > 20:  # the column's width; validate_phone already bounds it, this keeps it so
        return None, problem(row, field, "bad_phone", "a phone has at most 20 characters")
    return phone, None


def check_role(row: int, value: str, field: str = "role") -> tuple[StaffRole | None, Problem | None]:
    if not value:
        return None, problem(row, field, "missing_role", f"a role is required: {ROLE_HINT}")
    key = re.sub(r"\s+", "", value) if not value.isascii() else value.strip().lower()
    role = ROLE_NAMES.get(key)
    if role is None:
        return None, problem(row, field, "bad_role", f"unknown role: expected one of {ROLE_HINT}")
    return role, None
