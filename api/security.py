"""Authentication and authorisation for every route: the one place they happen.

A route declares its permission by depending on ``requires(Permission.X)``;
that dependency checks the bearer token, the user's role, and resolves the
user's territorial scope. Routes that read personal data bind that scope to
the transaction (``bind_scope``) for row-level security. Binding only there is
safe because RLS fails closed: without a bound scope the application role sees
no personal data at all, so a forgotten bind shows nothing rather than
everything; and it saves a round trip on every other request (/locate went
from 35% to 40% of a trivial endpoint's throughput, bench/README.md). The
permission appears in OpenAPI as the route's OAuth2 scope, so a test can prove
that every route declares one.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import OAuth2PasswordBearer, SecurityScopes

from api.deps import SessionDep
from geo.access import scope as scopes
from geo.access.login_throttle import ThrottlePolicy
from geo.access.permissions import Permission, Role, permissions_of
from geo.access.scope import Scope
from geo.access.security import Forbidden, TokenSettings, Unauthorized, decode, user_for_token
from geo.privacy.audit import Actor

oauth2 = OAuth2PasswordBearer(
    tokenUrl="/auth/token",
    scopes={p.value: p.name.replace("_", " ").lower() for p in Permission},
    auto_error=False,
)

# Routes anyone may call, with the reason; a test fails for any other route without a permission.
PUBLIC_ROUTES = {
    "/health": "liveness",
    "/health/db": "readiness",
    "/auth/token": "login",
    "/auth/refresh": "token refresh (needs a refresh token)",
    "/": "the map page shell: no data beyond the county extent and layer names; data needs a token",
    "POST /events": "citizens report without an account (rate limited); staff send their token",
    "/event-categories": "reporters need the category tree to file a report",
    "/basemap/{z}/{x}/{y}": "basemap tiles: the same county streets for everyone, drawn by <img> tags that carry no token",
    "/basemap.json": "the basemap file's TileJSON (format, zooms, attribution)",
    "POST /photos": "the citizen's report page uploads photos before it has anything (rate limited, cleaned)",
    "/photos/{photo_id}": "a photo to those who may read its event, or to the holder of its tracking token",
    "/events/{event_id}/photos": "an event's photos: the same two kinds of reader as /photos/{photo_id}",
}
# Whole trees anyone may call, with the reason.
PUBLIC_PREFIXES = {
    "/open311/v2/": "Open311 GeoReport v2 is a public interface by its standard; it shows no personal data",
}


def is_public(method: str, path: str) -> bool:
    """Whether ``method path`` needs no token: listed by path, by 'METHOD path', or under a public prefix."""
    return (path in PUBLIC_ROUTES or f"{method.upper()} {path}" in PUBLIC_ROUTES
            or any(path.startswith(p) for p in PUBLIC_PREFIXES))


@dataclass(frozen=True)
class Principal:
    user_id: int
    username: str
    role: Role
    permissions: frozenset[Permission]
    scope: Scope
    actor: Actor

    def can(self, permission: Permission) -> bool:
        return permission in self.permissions


def token_settings(request: Request) -> TokenSettings:
    return request.app.state.token_settings


def throttle_policy(request: Request) -> ThrottlePolicy:
    return request.app.state.throttle_policy


def client_address(request: Request) -> str | None:
    """The caller's address as the server sees it (the one place to change when proxies are trusted)."""
    return request.client.host if request.client else None


def request_id(request: Request) -> str:
    rid = getattr(request.state, "request_id", None)
    if rid is None:
        rid = request.headers.get("x-request-id", "")[:64] or uuid.uuid4().hex
        request.state.request_id = rid
    return rid


def current_principal(
    security_scopes: SecurityScopes,
    request: Request,
    session: SessionDep,
    token: Annotated[str | None, Depends(oauth2)],
) -> Principal:
    if not token:
        raise Unauthorized("this endpoint needs a bearer token (POST /auth/token)")
    claims = decode(token, token_settings(request), kind="access")
    user = user_for_token(session, claims)
    allowed = permissions_of(user.role)
    missing = [s for s in security_scopes.scopes if Permission(s) not in allowed]
    if missing:
        raise Forbidden(f"the role {user.role.value} lacks the permission {', '.join(missing)}")
    scope = scopes.resolve(session, user)
    client = client_address(request)
    return Principal(user.id, user.username, user.role, allowed, scope,
                     Actor(user.id, user.username, request_id(request), client))


def optional_principal(
    request: Request, session: SessionDep, token: Annotated[str | None, Depends(oauth2)]
) -> Principal | None:
    """The caller if they sent a token (which must then be valid), else None: for public routes that
    do more for signed-in staff. Declares no permission, so the route stays public in OpenAPI."""
    if not token:
        return None
    return current_principal(SecurityScopes([]), request, session, token)


def requires(permission: Permission) -> Principal:
    """``principal: Annotated[Principal, requires(Permission.MAP_READ)]`` — declares and enforces it."""
    return Security(current_principal, scopes=[permission.value])  # type: ignore[return-value]


MapReader = Annotated[Principal, requires(Permission.MAP_READ)]


def bind_scope(session: SessionDep, principal: Principal) -> None:
    """Hand the caller's territory to PostgreSQL for this transaction (row-level security)."""
    scopes.bind(session, principal.scope)
