"""The handler's photos on a step of the loop: ``before_photo_ids`` on start or feedback (the place before
handling), ``photo_ids`` on feedback (the result, stage ``after``: 自办自结 needs one). Kept out of
api/routes/events.py so that module only gains two fields and one call."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.orm import Session

from api.security import Principal
from geo.errors import InvalidInput
from geo.media import photos

BEFORE_ON = ("start", "feedback")
AFTER_ON = ("feedback",)


def check(session: Session, action: str, *, after: list[str] | None, before: list[str] | None,
          user_id: int | None = None) -> None:
    """422 for photos on an action that takes none, or for a bad id (geo.media.photos.claim): checked
    before the step does anything, so a refused photo leaves the event as it was."""
    if after and action not in AFTER_ON:
        raise InvalidInput(f"photo_ids are taken on {', '.join(AFTER_ON)}, not on {action}", pointer="photo_ids")
    if before and action not in BEFORE_ON:
        raise InvalidInput(f"before_photo_ids are taken on {' and '.join(BEFORE_ON)}, not on {action}",
                           pointer="before_photo_ids")
    photos.claim(session, before or [], pointer="before_photo_ids", by_user_id=user_id)
    photos.claim(session, after or [], pointer="photo_ids", by_user_id=user_id)


def attach_for_step(session: Session, event_id: int, action: str, principal: Principal, *,
                    after: list[str] | None, before: list[str] | None) -> None:
    """Attach the step's photos (after the step, so the event is known to be the caller's), recorded as
    taken by the caller's staff record."""
    if not after and not before:
        return
    staff_id = session.execute(text("SELECT staff_id FROM app_user WHERE id = :u"),
                               {"u": principal.user_id}).scalar()
    photos.attach(session, event_id, before or [], "before", by_staff_id=staff_id, pointer="before_photo_ids",
                  by_user_id=principal.user_id)
    photos.attach(session, event_id, after or [], "after", by_staff_id=staff_id, pointer="photo_ids",
                  by_user_id=principal.user_id)
