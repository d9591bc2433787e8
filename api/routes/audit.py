"""The audit log, for auditors only."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from api.caching import NoStore
from api.deps import IsoDateTime, PagingDep, SessionDep, check_window
from api.security import Principal, requires
from geo.access.permissions import Permission
from geo.privacy import audit

router = APIRouter(prefix="/audit", tags=["audit"], dependencies=[NoStore])  # never cached


@router.get("", summary="Audit records, oldest first (filter by user, entity, action, time)")
def audit_log(
    session: SessionDep, principal: Annotated[Principal, requires(Permission.AUDIT_READ)], paging: PagingDep,
    user: Annotated[str | None, Query(max_length=64)] = None,
    entity: Annotated[str | None, Query(max_length=64)] = None,
    action: Annotated[str | None, Query(max_length=64, pattern=r"^[a-z_]+(\.[a-z_]+)*(\.\*)?$",
                                        description="The kind, e.g. pii.break_glass, or a family: pii.*")] = None,
    since: IsoDateTime | None = None, until: IsoDateTime | None = None,
) -> list[dict[str, Any]]:
    check_window(since, until, ("since", "until"))
    return audit.search(session, user=user, entity=entity, action=action, since=since, until=until, limit=paging.limit,
                        after=paging.after)
