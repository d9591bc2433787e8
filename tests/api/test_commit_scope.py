"""Every route that gets a database session commits before its response is sent (issue 11).

The session dependency must be declared with ``scope="function"`` wherever it is used: with
the default scope FastAPI runs its commit after the response has started. The fault test
(test_faults.py) shows what that costs; this one keeps a new route from bringing it back.
"""

from __future__ import annotations

from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts

from api.deps import get_session


def _session_scopes(dependant: Dependant) -> list[str | None]:
    found = []
    for sub in dependant.dependencies:
        if sub.call is get_session:
            found.append(sub.scope)
        found += _session_scopes(sub)
    return found


def test_every_session_is_committed_before_the_response(app) -> None:  # noqa: ANN001
    contexts = [c for c in iter_route_contexts(app.routes) if isinstance(c.original_route, APIRoute)]
    with_session = {f"{sorted(c.original_route.methods)} {c.path}": _session_scopes(c.original_route.dependant)
                    for c in contexts}
    assert sum(bool(s) for s in with_session.values()) > 20
    late = {path: scopes for path, scopes in with_session.items() if any(s != "function" for s in scopes)}
    assert not late, f"routes whose session would commit after the response: {late}"
