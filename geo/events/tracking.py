"""A citizen's report as its reporter follows it, by the tracking token handed out at submission.

In plain Chinese: the state (已上报 / 已受理 / 处理中 / 已办结 …), the expected completion
date, and the steps so far with their times — never who took them (staff names
stay inside), never the notes (free text written by staff can name people). A
report merged into another (a duplicate, or one the citizen joined) shows the
original's state and steps, which is what its reporter is waiting for, and how
many people reported the same thing. The token is a random UUID, so the number
alone cannot be guessed to read someone else's report.
"""

from __future__ import annotations

import re

from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.errors import NotFound
from geo.events import public

STATUS_ZH = {"reported": "已上报，待受理", "screened": "已受理", "assigned": "已交办，待处理", "in_progress": "处理中",
             "escalated": "处理中（已转交职能部门）", "feedback": "已处理，待核实办结", "closed": "已办结",
             "rejected": "不予受理", "duplicate": "已合并到其他报告", "reopened": "重新办理中"}
STEP_ZH = {"report": "您的报告已提交", "accept": "已受理", "reject": "不予受理", "duplicate": "与同一件事的报告合并",
           "assign": "已交给负责人办理", "start": "开始处理", "escalate": "已转交职能部门（吹哨）",
           "feedback": "已反馈处理结果", "close": "已办结", "reopen": "重新办理", "rerouted": "转到新的负责网格"}
_TOKEN = re.compile(r"^[0-9a-fA-F-]{8,36}$")


def track(session: Session, token: str) -> dict[str, object]:
    """The reporter's view of the report behind ``token`` (NotFound for any other string)."""
    event_id = public.by_token(session, token.strip().lower()) if _TOKEN.match(token.strip()) else None
    if event_id is None:
        raise NotFound("no report has this tracking number; check it (it was shown when the report was sent)",
                       pointer="token")
    own = public.requests(session, ids=[event_id])[0]
    followed = own["duplicate_of"] or event_id
    shown = own if followed == event_id else public.requests(session, ids=[followed])[0]
    steps = session.execute(text("""
        SELECT action, to_status::text AS status, at FROM event_transition WHERE event_id = :e ORDER BY at, id"""),
                            {"e": followed}).mappings().all()
    me_too = session.execute(text("SELECT count(*) FROM event WHERE duplicate_of = :e"), {"e": followed}).scalar()
    status = str(shown["status"])
    return {
        "number": event_id, "token": token.strip().lower(), "category": own["category"],
        "service_name": own["service_name"], "reported_at": own["reported_at"],
        "status": status, "status_zh": STATUS_ZH.get(status, status),
        "closed": status in ("closed", "rejected"),
        "due_at": shown["due_at"], "agency": shown["agency"], "village": shown["village"],
        "merged_into": own["duplicate_of"], "reporters": 1 + int(me_too or 0),
        "lon": own["lon"], "lat": own["lat"],
        "steps": [{"action": s["action"], "text": STEP_ZH.get(s["action"], s["action"]), "status": s["status"],
                   "status_zh": STATUS_ZH.get(s["status"], s["status"]), "at": s["at"]} for s in steps],
    }
