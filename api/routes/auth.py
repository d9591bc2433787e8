"""Login (OAuth2 password flow), token refresh and the caller's own account."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.security import OAuth2PasswordRequestForm
from pydantic import BaseModel, Field

from api.caching import NoStore
from api.deps import SessionDep
from api.security import Principal, client_address, request_id, requires, throttle_policy, token_settings
from geo.access.permissions import Permission, permissions_of
from geo.access.security import Account, Unauthorized, authenticate, decode, issue_tokens, user_for_token
from geo.grids.store import territory_bbox
from geo.models.users import AppUser
from geo.privacy import audit
from geo.privacy.audit import Actor

router = APIRouter(prefix="/auth", tags=["auth"], dependencies=[NoStore])  # tokens: RFC 6749 §5.1


class RefreshRequest(BaseModel):
    refresh_token: str = Field(min_length=10, max_length=4096)


def _user_info(user: AppUser | Account) -> dict[str, Any]:
    return {"username": user.username, "display_name": user.display_name, "role": user.role.value,
            "permissions": sorted(p.value for p in permissions_of(user.role))}


@router.post("/token", summary="Log in with username and password (OAuth2 password flow)")
def login(request: Request, session: SessionDep,
          form: Annotated[OAuth2PasswordRequestForm, Depends()]) -> dict[str, Any]:
    client = client_address(request)
    actor = Actor(None, form.username[:64], request_id(request), client)
    try:
        user = authenticate(session, form.username, form.password, actor=actor, policy=throttle_policy(request))
    except Unauthorized:
        # The failed attempt (its count, any delay it starts and their audit rows) must persist.
        audit.record(session, actor, action="auth.login", entity="user", outcome="denied")
        session.commit()
        raise
    audit.record(session, Actor(user.id, user.username, actor.request_id, client), action="auth.login",
                 entity="user", entity_id=user.id)
    return {**issue_tokens(user, token_settings(request)), "user": _user_info(user)}


@router.post("/refresh", summary="Exchange a refresh token for a new token pair")
def refresh(request: Request, session: SessionDep, body: RefreshRequest) -> dict[str, Any]:
    claims = decode(body.refresh_token, token_settings(request), kind="refresh")
    user = session.get(AppUser, user_for_token(session, claims).id)
    return {**issue_tokens(user, token_settings(request)), "user": _user_info(user)}  # type: ignore[arg-type]


@router.get("/me", summary="The caller's account, role, permissions and the extent of their territory")
def me(session: SessionDep, principal: Annotated[Principal, requires(Permission.SELF_READ)]) -> dict[str, Any]:
    user = session.get(AppUser, principal.user_id)
    return {**_user_info(user), "territory_bbox": territory_bbox(session, user)}  # type: ignore[arg-type]
