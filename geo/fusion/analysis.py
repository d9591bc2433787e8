"""The fusion analysis 多网融合分析: where the nets of a division disagree, ranked, with fixes.

Inside each layer: the topology report (geo/grids/topology.py: overlaps, gaps,
slivers, grids outside their parent). Between layers: every enabled rule
(geo/fusion/rules.py) whose two sides are among the layers asked for — a
division level (village, township) is always available — as one set-based
statement (geo/fusion/pairs.py). Then the scores (score.py) and the suggested
fixes (suggest.py).

Each check is independent of the others, so when the caller's transaction
has written nothing, they run on two connections at once that share its
snapshot (``pg_export_snapshot``): the result is exactly what one connection
would see, in about half the time on this 2-core machine. A transaction that
has written (a test, or an edit followed by a check) runs them in order on its
own connection, because its uncommitted rows are invisible to any other;
so does one inside a savepoint, which cannot export its snapshot.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

import orjson
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.access.scope import Scope
from geo.errors import InvalidInput, NotFound
from geo.fusion import suggest
from geo.fusion.pairs import Piece, pair_pieces
from geo.fusion.rules import Rule, list_rules
from geo.fusion.score import Tally, ranked, tally_layer, tally_rule
from geo.grids.topology import get_layer_row, layer_problems, region_of, resolve_division, summarise

DEFAULT_LAYERS = ("comprehensive", "party", "emergency")
T = TypeVar("T")


@dataclass(frozen=True)
class Places:
    """Divisions of the analysed region: where each division lies (its township) and their names."""

    root: int
    region: list[int]
    township_of: dict[int, int | None]
    names: dict[int, tuple[str, str]]
    totals: dict[int, tuple[float, int]]  # township -> (area m², households)


def _places(session: Session, root: int, region: list[int]) -> Places:
    rows = session.execute(text("""
        SELECT d.id, d.code, d.name, d.level::text AS level, d.parent_id FROM division d WHERE d.id = ANY(:r)"""),
        {"r": region}).all()
    level = {r.id: r.level for r in rows}
    parent = {r.id: r.parent_id for r in rows}
    # The places scores are given for: townships, or the division itself when it is a village.
    place_level = "village" if level[root] == "village" else "township"
    township_of: dict[int, int | None] = {}
    for r in rows:
        d: int | None = r.id
        while d is not None and d in level and level[d] != place_level:
            d = parent.get(d)
        township_of[r.id] = d if d in level else None
    places = [r.id for r in rows if r.level == place_level]
    households: dict[int, int] = defaultdict(int)
    for d, n in session.execute(text(
            "SELECT division_id, count(*) FROM household WHERE division_id = ANY(:r) GROUP BY 1"), {"r": region}):
        place = township_of.get(d)
        if place is not None:
            households[place] += n
    totals = {d: (float(a), households[d]) for d, a in session.execute(text(
        "SELECT id, ST_Area(geom::geography) FROM division WHERE id = ANY(:p)"), {"p": places})}
    return Places(root, region, township_of, {r.id: (r.code, r.name) for r in rows}, totals)


def _resolve_layers(session: Session, layer_codes: list[str] | None) -> list[dict[str, Any]]:
    codes = layer_codes or list(DEFAULT_LAYERS)
    if len(set(codes)) != len(codes):
        raise InvalidInput("a layer is named twice", pointer="layers")
    try:
        return [get_layer_row(session, c) for c in codes]
    except NotFound as exc:
        raise InvalidInput(exc.detail, pointer="layers") from None


def _applicable(rules: list[Rule], layer_ids: set[int]) -> list[Rule]:
    def ok(side: Any) -> bool:
        return side.layer_id is None or side.layer_id in layer_ids
    return [r for r in rules if r.enabled and ok(r.fine) and ok(r.coarse)]


# One parallel analysis at a time per process. A parallel analysis holds its request's pooled
# connection while it takes more for its workers; if several did that at once they could hold the
# whole pool and wait on each other for ever (measured: four at once on a pool of 2+2 all timed out).
# The others run their checks one after another on their own connection, which waits for nothing.
_PARALLEL = threading.Lock()


def default_division(session: Session, scope: Scope, division_code: str | None) -> str | None:
    """The division asked for, else the caller's own jurisdiction: the one division of it whose parent
    lies outside it (None for the whole county)."""
    if division_code is None and not scope.everything and scope.own_divisions:
        division_code = session.execute(text("""
            SELECT code FROM division WHERE id = ANY(:own) AND (parent_id IS NULL OR NOT parent_id = ANY(:own))
             LIMIT 1"""), {"own": list(scope.own_divisions)}).scalar()
    return division_code


def _run(session: Session, tasks: list[Callable[[Session], T]], workers: int) -> list[T]:
    """Run the checks, in parallel on a shared snapshot when that sees exactly what ``session`` sees
    and no other analysis is running in parallel; otherwise one after another."""
    wrote = session.execute(text("SELECT pg_current_xact_id_if_assigned() IS NOT NULL")).scalar()
    # A snapshot cannot be exported from inside a savepoint (the test suite runs every test in one).
    nested = session.connection().in_nested_transaction()
    if workers < 2 or len(tasks) < 2 or wrote or nested or not _PARALLEL.acquire(blocking=False):
        return [task(session) for task in tasks]
    try:
        return _run_parallel(session, tasks, workers)
    finally:
        _PARALLEL.release()


def _run_parallel(session: Session, tasks: list[Callable[[Session], T]], workers: int) -> list[T]:
    snapshot = session.execute(text("SELECT pg_export_snapshot()")).scalar_one()
    engine = session.get_bind().engine  # the session may be bound to a connection (tests) or an engine

    def on_snapshot(task: Callable[[Session], T]) -> T:
        with engine.connect().execution_options(isolation_level="REPEATABLE READ") as conn:
            conn.execute(text("SET TRANSACTION READ ONLY"))
            conn.execute(text(f"SET TRANSACTION SNAPSHOT '{snapshot}'"))  # an id from PostgreSQL itself
            with Session(bind=conn) as worker:
                try:
                    return task(worker)
                finally:
                    conn.rollback()

    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(on_snapshot, tasks))


@dataclass
class _Findings:
    """What one check found: its problems and the fixes for them (and for a rule, its pieces)."""

    problems: list[dict[str, Any]]
    suggestions: list[dict[str, Any]]
    pieces: list[Piece] | None = None


def _check_rule(session: Session, rule: Rule, region: list[int]) -> _Findings:
    pieces = pair_pieces(session, rule, region)
    problems = [_misalignment(rule, p) for p in pieces if rule.min_share < p.share < rule.max_share]
    codes = {p.fine_id: p.fine_code for p in pieces}
    fixes = [g.as_dict(codes) for g in suggest.regroups(rule, pieces)]
    by_grid = {fix["grid"]: fix["id"] for fix in fixes}
    for p in problems:
        p["suggestion"] = by_grid.get(p["grids"][0])
    return _Findings(problems, fixes, pieces)


def _check_layer(session: Session, layer: dict[str, Any], root: int, region: list[int]) -> _Findings:
    found = layer_problems(session, layer, root, region)
    fixes = []
    slivers = {p["grids"][0]: p for p in found if p["kind"] == "sliver"}
    for fix in suggest.merges(session, list(slivers.values())):
        slivers[fix["grid"]]["suggestion"] = fix["id"]
        fixes.append(fix)
    for gap in (p for p in found if p["kind"] == "gap" and p["area_m2"] <= suggest.SMALL_GAP_M2):
        fix = suggest.fill(session, layer["id"], gap)
        if fix:
            gap["suggestion"] = fix["id"]
            fixes.append(fix)
    return _Findings(found, fixes)


def analyse(session: Session, scope: Scope, *, division_code: str | None = None,
            layer_codes: list[str] | None = None, workers: int = 2) -> dict[str, Any]:
    """Problems inside each layer and between layers, scores per township, and suggested fixes."""
    root = resolve_division(session, default_division(session, scope, division_code), scope)
    layers = _resolve_layers(session, layer_codes)
    rules = _applicable(list_rules(session), {layer["id"] for layer in layers})
    region = region_of(session, root)
    # Each task also builds its own problems and fixes, so Python work overlaps the other
    # connection's query. Coarser layers last in the default order cost most: started first.
    tasks: list[Callable[[Session], Any]] = [
        *(lambda s, r=r: _check_rule(s, r, region) for r in rules),
        *(lambda s, layer=layer: _check_layer(s, layer, root, region) for layer in reversed(layers)),
        lambda s: _places(s, root, region),
    ]
    results = _run(session, tasks, workers)
    by_rule: dict[int, _Findings] = {r.id: results[i] for i, r in enumerate(rules)}
    by_layer: list[_Findings] = results[len(rules):-1]
    places: Places = results[-1]

    tallies: dict[int | None, Tally] = defaultdict(Tally)
    problems: list[dict[str, Any]] = []
    suggestions: list[dict[str, Any]] = []
    for found in (*by_rule.values(), *by_layer):
        problems += found.problems
        suggestions += found.suggestions
    for found in by_layer:
        tally_layer(tallies, found.problems, places.totals, places.township_of)
    for rule in rules:
        tally_rule(tallies, rule, by_rule[rule.id].pieces or [], places.township_of)
    for p in problems:
        township = places.township_of.get(p.pop("division_id"))
        p["township"], p["township_name"] = places.names[township] if township is not None else (None, None)
    problems.sort(key=lambda p: (-p["households"], -p["area_m2"]))
    for rank, p in enumerate(problems, start=1):
        p["rank"] = rank
    townships, county = ranked(tallies, places.names)
    return {
        "division": places.names[root][0],
        "layers": [layer["code"] for layer in layers],
        "rules": [r.as_dict() for r in rules],
        "score": county,
        "townships": townships,
        "containment": [_containment(r, by_rule[r.id].pieces or []) for r in rules],
        "summary": summarise(problems),
        "problems": problems,
        "suggestions": suggestions,
    }


def _misalignment(rule: Rule, p: Piece) -> dict[str, Any]:
    return {"kind": "misalignment", "rule": rule.id, "layer": rule.coarse.name, "fine": p.fine_code,
            "grids": [p.coarse_code, p.fine_code], "division_id": p.division_id, "area_m2": round(p.area, 2),
            "share_area": round(p.share, 6), "households": p.households,
            "share_households": round(p.household_share, 6), "geometry": _json(p.geometry)}


def _json(geometry: str | None) -> Any:
    return orjson.loads(geometry) if geometry else None


def _containment(rule: Rule, pieces: list[Piece]) -> dict[str, Any]:
    best: dict[int, float] = {}
    for p in pieces:
        best[p.fine_id] = max(best.get(p.fine_id, 0.0), p.share)
    cut = sum(1 for s in best.values() if s < rule.max_share)
    return {"rule": rule.id, "fine": rule.fine.name, "coarse": rule.coarse.name, "units": len(best),
            "nested": len(best) - cut, "cut": cut, "nests": cut == 0}
