"""The closed loop 闭环 as a state machine.

    reported 上报 ─accept→ screened 甄别 ─assign→ assigned 交办 ─start→ in_progress 处置
       │  └─duplicate→ duplicate         │            │   └─escalate→ escalated 吹哨 ─start→ in_progress
       └─reject→ rejected            reopened ←─reopen─ feedback 反馈 ←─feedback─ in_progress
                                                         └─close→ closed 办结 ─reopen→ reopened

Every action names the states it may start from; anything else is a 409 that
says what is allowed. Closing needs events:assign (a grid head, a department's
manager), except 自办自结 (``self_close``): a grid worker may close a 民事 (triage
``civil``) report in the grid they serve once it has had feedback with at least one
``after`` photo; village and government matters still need a head or a department. The event row is locked for the step, so two people
closing the same report at once cannot both succeed. Each step writes an
``event_transition`` row (actor, time, note) and an audit row.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.access.permissions import Permission
from geo.access.scope import Scope, member_filter
from geo.access.security import Forbidden
from geo.errors import Conflict, InvalidInput, NotFound
from geo.events.categories import category
from geo.events.routing import route
from geo.events.steps import record_step
from geo.media.photos import count_for_event
from geo.models.events import EventStatus as S
from geo.privacy import audit


@dataclass(frozen=True)
class Action:
    name: str
    sources: frozenset[S]
    target: S
    permission: Permission
    needs_note: bool = False
    summary: str = ""
    takes: frozenset[str] = frozenset()  # the Step fields besides the note that this action reads
    # A lesser permission that may also try the action, under a rule of its own (close: 自办自结, self_close).
    or_under_rule: Permission | None = None

    @property
    def route_permission(self) -> Permission:
        """What the route checks before the state machine: the lesser one when a rule may allow it."""
        return self.or_under_rule or self.permission


_H, _A = Permission.EVENTS_HANDLE, Permission.EVENTS_ASSIGN
ACTIONS: dict[str, Action] = {a.name: a for a in (
    Action("accept", frozenset({S.REPORTED}), S.SCREENED, _H, summary="screening: a valid report 甄别受理"),
    Action("reject", frozenset({S.REPORTED}), S.REJECTED, _H, True, "screening: not a valid report"),
    Action("duplicate", frozenset({S.REPORTED, S.SCREENED}), S.DUPLICATE, _H, takes=frozenset({"duplicate_of"}),
           summary="screening: the same matter as an earlier report, whose reporter it now follows"),
    Action("assign", frozenset({S.SCREENED, S.REOPENED, S.ASSIGNED}), S.ASSIGNED, _A,
           takes=frozenset({"staff_id", "department"}),
           summary="hand to a handler 交办 (default: the category's handler)"),
    Action("start", frozenset({S.ASSIGNED, S.ESCALATED}), S.IN_PROGRESS, _H, summary="handling begins 处置"),
    Action("escalate", frozenset({S.ASSIGNED, S.IN_PROGRESS}), S.ESCALATED, _A, takes=frozenset({"department"}),
           summary="吹哨: hand to a department, under its own deadline"),
    Action("feedback", frozenset({S.IN_PROGRESS}), S.FEEDBACK, _H, True, "the handler reports the result 反馈"),
    Action("close", frozenset({S.FEEDBACK}), S.CLOSED, _A, summary="confirm and close 办结", or_under_rule=_H),
    Action("reopen", frozenset({S.FEEDBACK, S.CLOSED}), S.REOPENED, _A, True,
           "not resolved after all: back for assignment, with a new deadline"),
)}

# The rule under which a holder of ``or_under_rule`` may take the action (shown in /docs).
RULES = {"close": "自办自结, a grid worker closes a residents' matter (民事) in their own grid after feedback with "
                  "an after photo"}


@dataclass
class Step:
    """What the caller supplies with an action; which fields matter depends on the action."""

    note: str = ""
    department: str | None = None  # assign (override) and escalate
    staff_id: int | None = None  # assign (override)
    duplicate_of: int | None = None  # duplicate
    extra: dict[str, object] = field(default_factory=dict)


def lock_event(session: Session, event_id: int, scope: Scope) -> dict[str, object]:
    """The event row, locked for update; NotFound also when it lies outside ``scope``."""
    clause, params = member_filter(scope, "event", "e")
    params["id"] = event_id
    row = session.execute(text(f"""
        SELECT e.id, e.status::text AS status, e.category, e.duplicate_of, e.reported_at
        FROM event e WHERE e.id = :id {clause} FOR UPDATE OF e"""), params).mappings().first()
    if row is None:
        raise NotFound(f"event {event_id} does not exist or lies outside your territory")
    return dict(row)


def perform(session: Session, event_id: int, action: str, step: Step, *, scope: Scope,
            actor: audit.Actor, can: Callable[[Permission], bool] | None = None) -> dict[str, object]:
    """Apply ``action`` to the event; returns the transition written.

    ``can`` says which permissions the caller holds; None means the caller was checked for the action's
    own permission already. A caller holding only ``or_under_rule`` is held to that rule (``self_close``)."""
    act = ACTIONS.get(action)
    if act is None:
        raise NotFound(f"unknown action {action!r}; actions are {', '.join(ACTIONS)}")
    _check_fields(act, step)
    if action == "duplicate" and step.duplicate_of is not None:
        # Both rows, in id order: two reports merged into each other at once must queue, not deadlock.
        session.execute(text("SELECT id FROM event WHERE id IN (:a, :b) ORDER BY id FOR UPDATE"),
                        {"a": event_id, "b": step.duplicate_of})
    ev = lock_event(session, event_id, scope)
    under_rule = can is not None and not can(act.permission)
    if under_rule:  # who and what first: the rule's refusals say more than the state's
        if act.or_under_rule is None or not can(act.or_under_rule):
            raise Forbidden(f"{action} needs {act.permission.value}")
        self_close(session, ev, actor)
    status = S(ev["status"])
    if status not in act.sources:
        raise Conflict(f"cannot {action} an event that is {status.value}; {action} is allowed from "
                       f"{', '.join(sorted(s.value for s in act.sources))}", current_status=status.value,
                       allowed=allowed_actions(status))
    if act.needs_note and not step.note.strip():
        raise InvalidInput(f"{action} needs a note saying why or what was done", pointer="note")
    if under_rule and count_for_event(session, event_id, "after") < 1:
        raise Conflict("自办自结 needs at least one photo of the result (stage after), given with the feedback",
                       missing="photo_ids")
    effect = _EFFECTS[action](session, ev, step, scope)
    if under_rule:
        effect.detail["self_closed"] = True  # 自办自结: recorded with the transition, so it can be counted
    sets = "".join(f", {col} = {expr}" for col, expr in effect.sets.items())
    session.execute(text(f"UPDATE event SET status = CAST(:to AS event_status), updated_at = now(){sets}"
                         " WHERE id = :id"), {"to": act.target.value, "id": event_id, **effect.params})
    detail = effect.detail
    at = record_step(session, actor, event_id, action, from_status=status.value, to_status=act.target.value,
                     note=step.note.strip(), detail=detail,
                     audit_detail={"from": status.value, "to": act.target.value})
    return {"event_id": event_id, "action": action, "from": status.value, "to": act.target.value, "at": at,
            "actor": actor.username, "note": step.note.strip(), "detail": detail}


def _check_fields(act: Action, step: Step) -> None:
    """A field the action does not read is refused, never dropped: a 2xx must not hide that a handler named
    in the request was not the one used (assign with both staff_id and department, accept with a staff_id)."""
    for name in ("staff_id", "department", "duplicate_of"):
        if getattr(step, name) is not None and name not in act.takes:
            takes = ", ".join(sorted(act.takes)) or "only a note"
            raise InvalidInput(f"{act.name} does not take {name} (it takes {takes})", pointer=name)
    if step.staff_id is not None and step.department is not None:
        raise InvalidInput(f"{act.name} goes to one handler: give staff_id or department, not both",
                           pointer="department")


def self_close(session: Session, ev: dict[str, object], actor: audit.Actor) -> None:
    """自办自结, who and what: a grid worker closes a residents' matter (民事, triage ``civil``) in the grid they
    serve; another class needs a grid head or a department, so does a report outside the worker's own grid.
    ``perform`` then checks the state (after feedback) and at least one ``after`` photo. Every refusal is a
    409 naming what the rule needs (the caller holds the route's permission, events:handle: a 403 would say
    they do not), with ``needs: "events:assign"`` for the two that only a head or a department can get past.

    The worker's grid is the one their staff record serves (``app_user.staff_id``) or their jurisdiction
    when it is one grid; a worker scoped to a whole village has no grid of their own here."""
    triage = session.execute(text("SELECT triage::text FROM event_category WHERE code = :c"),
                             {"c": ev["category"]}).scalar()
    if triage != "civil":
        kind = {"village": "a village matter 村事", "government": "a government matter 政事"}.get(str(triage), triage)
        raise Conflict(f"自办自结 is for residents' matters 民事 only; this is {kind}: a grid head or a department "
                       "closes it", needs=Permission.EVENTS_ASSIGN.value)
    own = session.execute(text("""
        SELECT 1 FROM app_user u
        JOIN grid_membership m ON m.kind = 'event' AND m.entity_id = :e
        JOIN grid_layer l ON l.id = m.layer_id AND l.code = 'comprehensive'
        LEFT JOIN staff s ON s.id = u.staff_id
        WHERE u.id = :u AND m.grid_id IN (u.grid_id, s.grid_id)"""), {"e": ev["id"], "u": actor.user_id}).first()
    if own is None:
        raise Conflict("自办自结 is only for reports inside the grid you serve; a grid head or a department closes "
                       "this one", needs=Permission.EVENTS_ASSIGN.value)


def allowed_actions(status: S) -> list[str]:
    return [a.name for a in ACTIONS.values() if status in a.sources]


# -- the effect of each action on the event row ------------------------------------------------------
@dataclass
class Effect:
    sets: dict[str, str] = field(default_factory=dict)  # column → SQL expression (its values in params)
    params: dict[str, object] = field(default_factory=dict)
    detail: dict[str, object] = field(default_factory=dict)  # recorded with the transition


def _handed_to(kind: str, column: str, value: object, detail: dict[str, object]) -> Effect:
    """``value`` becomes the one assignee (``column`` of kind ``kind``); the other assignee columns are cleared."""
    sets = {"assignee_kind": f"'{kind}'", "assignee_staff_id": "NULL", "assignee_division_id": "NULL",
            "assignee_department": "NULL", column: ":handler"}
    return Effect(sets, {"handler": value}, detail)


def _none(session: Session, ev: dict, step: Step, scope: Scope) -> Effect:  # noqa: ARG001
    return Effect()


def _duplicate(session: Session, ev: dict, step: Step, scope: Scope) -> Effect:
    if step.duplicate_of is None:
        raise InvalidInput("duplicate needs duplicate_of: the id of the original report", pointer="duplicate_of")
    clause, params = member_filter(scope, "event", "r")
    root = session.execute(text(f"""
        WITH RECURSIVE up AS (
            SELECT id, duplicate_of, status FROM event WHERE id = :d
            UNION ALL SELECT e.id, e.duplicate_of, e.status FROM event e JOIN up ON e.id = up.duplicate_of)
        SELECT r.id, r.status::text FROM up r WHERE r.duplicate_of IS NULL {clause}"""),
                           {"d": step.duplicate_of, **params}).first()
    if root is None:
        raise InvalidInput(f"event {step.duplicate_of} does not exist or lies outside your territory",
                           pointer="duplicate_of")
    if root[0] == ev["id"]:
        raise InvalidInput("an event cannot be a duplicate of itself", pointer="duplicate_of")
    if root[1] == "rejected":
        raise InvalidInput(f"event {root[0]} was rejected as invalid; it cannot be the original",
                           pointer="duplicate_of")
    # Reports already merged into this one follow it to the root, so nobody is left following a duplicate.
    session.execute(text("UPDATE event SET duplicate_of = :root, updated_at = now() WHERE duplicate_of = :me"),
                    {"root": root[0], "me": ev["id"]})
    return Effect({"duplicate_of": ":dup"}, {"dup": root[0]}, {"duplicate_of": root[0]})


def _assign(session: Session, ev: dict, step: Step, scope: Scope) -> Effect:
    cat = category(session, ev["category"])
    if step.staff_id is not None:
        clause, params = member_filter(scope, "staff", "x")
        found = session.execute(text(f"""SELECT 1 FROM staff x WHERE x.id = :s
                                         AND x.availability <> 'out_of_service' {clause}"""),
                                {"s": step.staff_id, **params}).first()
        if found is None:
            raise InvalidInput(f"staff {step.staff_id} does not exist, is out of service or lies outside your "
                               "territory", pointer="staff_id")
        return _handed_to("staff", "assignee_staff_id", step.staff_id, {"handler": {"staff_id": step.staff_id}})
    department = step.department or (cat.department_code if cat.handler == "department" else None)
    if department:
        _department(session, department)
        return _handed_to("department", "assignee_department", department, {"handler": {"department": department}})
    if cat.handler == "village":
        village = session.execute(text("""
            SELECT g.division_id FROM grid_membership m JOIN grid g ON g.id = m.grid_id
            JOIN grid_layer l ON l.id = m.layer_id AND l.code = 'comprehensive'
            WHERE m.kind = 'event' AND m.entity_id = :e"""), {"e": ev["id"]}).scalar()
        if village is not None:
            return _handed_to("division", "assignee_division_id", village, {"handler": {"village_committee": village}})
    routed = route(session, [ev["id"]])[ev["id"]]  # the grid's own people
    return Effect(detail={"handler": {k: routed[k] for k in ("kind", "staff_id", "division_id", "reason")}})


def _escalate(session: Session, ev: dict, step: Step, scope: Scope) -> Effect:  # noqa: ARG001
    if not step.department:
        raise InvalidInput("escalate needs the department to hand the event to", pointer="department")
    hours = _department(session, step.department)
    effect = _handed_to("department", "assignee_department", step.department,
                        {"department": step.department, "deadline_hours": hours})
    effect.sets |= {"escalated_to": ":handler", "due_at": "now() + make_interval(hours => :h)"}
    effect.params["h"] = hours
    return effect


def _feedback(session: Session, ev: dict, step: Step, scope: Scope) -> Effect:  # noqa: ARG001
    return Effect({"handled_at": "now()"})


def _close(session: Session, ev: dict, step: Step, scope: Scope) -> Effect:  # noqa: ARG001
    return Effect({"closed_at": "now()"})


def _reopen(session: Session, ev: dict, step: Step, scope: Scope) -> Effect:  # noqa: ARG001
    hours = category(session, ev["category"]).deadline_hours
    return Effect({"closed_at": "NULL", "handled_at": "NULL", "escalated_to": "NULL",
                   "due_at": "now() + make_interval(hours => :h)"}, {"h": hours}, {"deadline_hours": hours})


def _department(session: Session, code: str) -> int:
    hours = session.execute(text("SELECT escalation_hours FROM department WHERE code = :c"), {"c": code}).scalar()
    if hours is None:
        known = list(session.execute(text("SELECT code FROM department ORDER BY code")).scalars())
        raise InvalidInput(f"unknown department {code!r}", pointer="department", choices=known)
    return int(hours)


_EFFECTS = {"accept": _none, "reject": _none, "duplicate": _duplicate, "assign": _assign, "start": _none,
            "escalate": _escalate, "feedback": _feedback, "close": _close, "reopen": _reopen}

