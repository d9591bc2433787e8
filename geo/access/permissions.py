"""Roles and named permissions, mapped in this one place.

Every endpoint declares exactly one permission; a role grants a set of them.
Duties are separated the way government systems are audited (三员分立): the
admin manages users but cannot read the audit log, the auditor reads the audit
log and nothing else, the planner edits grids but never sees personal data.
"""

from __future__ import annotations

import enum


class Role(str, enum.Enum):
    ADMIN = "admin"
    PLANNER = "planner"
    GRID_WORKER = "grid_worker"  # 网格员
    GRID_HEAD = "grid_head"  # 网格长
    DEPARTMENT = "department"  # 部门工作人员
    EMERGENCY = "emergency"  # 应急队伍
    VIEWER = "viewer"
    AUDITOR = "auditor"
    LEADER = "leader"  # county or township leader 领导: the statistics and the lists behind them, read-only


class Permission(str, enum.Enum):
    SELF_READ = "self:read"  # one's own account
    MAP_READ = "map:read"  # divisions, layers, grids, locate, tiles
    HOUSEHOLDS_READ = "households:read"  # households and (masked) residents
    CAMERAS_READ = "cameras:read"
    EVENTS_READ = "events:read"
    STAFF_READ = "staff:read"
    GRIDS_EDIT = "grids:edit"
    DATA_IMPORT = "data:import"  # import a county's own files (importers/); each kind may need more (importers/pipeline.py)
    RESIDENTS_WRITE = "residents:write"
    EVENTS_HANDLE = "events:handle"  # screen, start, give feedback on reports
    EVENTS_ASSIGN = "events:assign"  # hand reports to handlers, escalate 吹哨, close 办结, reopen
    POSITIONS_REPORT = "positions:report"  # a responder reports their own position and availability
    STAFF_DISPATCH = "staff:dispatch"  # set another responder's availability (dispatch 调度)
    PII_READ = "pii:read"  # unmasked personal data, with a stated purpose, audited
    PII_EXPORT = "pii:export"  # bulk export of personal data, audited
    USERS_ADMIN = "users:admin"
    AUDIT_READ = "audit:read"
    VISITS_LOG = "visits:log"  # log household visits 入户走访 and patrols 巡查 with check-ins 打卡
    BREAK_GLASS = "pii:break-glass"  # unmask, time-limited, by stating an active incident; audited as its own kind


P = Permission
_FIELD = {P.SELF_READ, P.MAP_READ, P.HOUSEHOLDS_READ, P.CAMERAS_READ, P.EVENTS_READ, P.STAFF_READ}

ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.ADMIN: frozenset(set(Permission) - {P.AUDIT_READ, P.PII_EXPORT, P.BREAK_GLASS}),
    Role.PLANNER: frozenset({P.SELF_READ, P.MAP_READ, P.HOUSEHOLDS_READ, P.CAMERAS_READ, P.EVENTS_READ, P.STAFF_READ,
                             P.GRIDS_EDIT, P.DATA_IMPORT}),
    Role.GRID_WORKER: frozenset(_FIELD | {P.RESIDENTS_WRITE, P.PII_READ, P.EVENTS_HANDLE, P.POSITIONS_REPORT,
                                          P.VISITS_LOG}),
    Role.GRID_HEAD: frozenset(_FIELD | {P.RESIDENTS_WRITE, P.PII_READ, P.EVENTS_HANDLE, P.EVENTS_ASSIGN,
                                        P.PII_EXPORT, P.POSITIONS_REPORT, P.STAFF_DISPATCH, P.VISITS_LOG}),
    Role.DEPARTMENT: frozenset({P.SELF_READ, P.MAP_READ, P.EVENTS_READ, P.CAMERAS_READ, P.EVENTS_HANDLE,
                                P.POSITIONS_REPORT}),
    Role.EMERGENCY: frozenset(_FIELD | {P.POSITIONS_REPORT, P.STAFF_DISPATCH, P.BREAK_GLASS}),
    Role.VIEWER: frozenset({P.SELF_READ, P.MAP_READ, P.CAMERAS_READ}),
    Role.AUDITOR: frozenset({P.SELF_READ, P.AUDIT_READ}),
    Role.LEADER: frozenset({P.SELF_READ, P.MAP_READ, P.EVENTS_READ}),
}

# Roles that only see personal data masked, even where they read households.
assert P.PII_READ not in ROLE_PERMISSIONS[Role.PLANNER]


def permissions_of(role: Role) -> frozenset[Permission]:
    return ROLE_PERMISSIONS[role]
