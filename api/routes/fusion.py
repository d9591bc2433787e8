"""Multi-net fusion 多网融合: the analysis (JSON, GeoJSON, CSV), the rules, and applying suggested fixes."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Header, Path, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field
from sqlalchemy import text

from api import heavy
from api.deps import SessionDep
from api.security import MapReader, Principal, requires
from geo.access.permissions import Permission
from geo.access.security import Forbidden
from geo.changes import data_version
from geo.errors import InvalidInput, PreconditionRequired
from geo.fusion import apply, export, rules
from geo.fusion.analysis import analyse, default_division
from geo.fusion.pairs import pair_pieces
from geo.grids.editing import EditResult
from geo.grids.preview import dry_run as preview
from geo.grids.reassign import Move
from geo.grids.topology import region_of, resolve_division

router = APIRouter(prefix="/fusion", tags=["fusion"])
Editor = Annotated[Principal, requires(Permission.GRIDS_EDIT)]
Division = Annotated[str | None, Query(pattern=r"^\d{12}$", description="Default: the county.")]
Layers = Annotated[str | None, Query(pattern=r"^[a-z0-9_]{1,32}(,[a-z0-9_]{1,32}){0,9}$",
                                     description="Layer codes, comma-separated. Default: comprehensive,party,emergency.")]
Format = Annotated[Literal["json", "geojson", "csv"] | None, Query(description="Or ask by Accept header.")]
IfMatch = Annotated[str | None, Header(alias="If-Match", description='ETags of every affected grid: "g12v3", "g14v1"')]
GEOJSON = "application/geo+json"


def _json(body: Any, media_type: str = "application/json") -> Response:
    return Response(orjson.dumps(body), media_type=media_type)


def _format(request: Request, f: str | None) -> str:
    if f:
        return f
    accept = request.headers.get("accept", "")
    return "geojson" if GEOJSON in accept else "csv" if "text/csv" in accept else "json"


@router.get("", summary="Where the nets disagree: problems, scores per township, suggested fixes")
def fusion(request: Request, session: SessionDep, principal: MapReader, division: Division = None,
           layers: Layers = None, f: Format = None) -> Response:
    """Inside each layer: overlaps, gaps, slivers, grids outside their parent. Between layers: every
    enabled rule (GET /fusion/rules) whose sides are among ``layers``. Problems are ranked by
    households, then area; townships by score, worst first. A heavy request (api/heavy.py): bounded
    per account and per process, and cached until the data changes."""
    fmt = _format(request, f)

    def compute() -> Response:
        report = analyse(session, principal.scope, division_code=division,
                         layer_codes=layers.split(",") if layers else None)
        if fmt == "geojson":
            return _json(export.as_geojson(report), GEOJSON)
        if fmt == "csv":
            name = f"fusion-{report['division']}.csv"
            return Response(export.as_csv(report).encode("utf-8"), media_type="text/csv; charset=utf-8",
                            headers={"Content-Disposition": f'attachment; filename="{name}"'})
        return _json(report)

    key = heavy.ResultCache.key("fusion", division, layers, fmt, principal.scope, data_version(session))
    return heavy.run_cached(request, principal.user_id, "fusion analyses", key, compute)


@router.get("/pairs", summary="For every grid of one net, the grids of another it touches, with shares")
def pairs(request: Request, session: SessionDep, principal: MapReader,
          a: Annotated[str, Query(max_length=40, description="The coarse side: layer:<code> or level:village|township")],
          b: Annotated[str, Query(max_length=40, description="The fine side, same form")],
          division: Division = None) -> Response:
    """Area and households of each piece, as shares of the fine grid (share_area, share_households).
    A heavy request (api/heavy.py)."""
    root = resolve_division(session, default_division(session, principal.scope, division), principal.scope)
    rule = rules.Rule(0, rules.parse_side(session, b, "b"), rules.parse_side(session, a, "a"), 0.02, 0.98, True, "")
    if rule.fine == rule.coarse:
        raise InvalidInput("a and b must differ", pointer="b")

    def compute() -> Response:
        grouped: dict[str, list[dict[str, Any]]] = {}
        for p in pair_pieces(session, rule, region_of(session, root)):
            grouped.setdefault(p.coarse_code, []).append(p.as_dict())
        return _json({"a": a, "b": b, "grids": [{"code": k, "touches": v} for k, v in sorted(grouped.items())]})

    key = heavy.ResultCache.key("pairs", a, b, division, principal.scope, data_version(session))
    return heavy.run_cached(request, principal.user_id, "fusion analyses", key, compute)


class NewRule(BaseModel):
    fine: str = Field(max_length=40, description="layer:<code> or level:village|township; nests in coarse")
    coarse: str = Field(max_length=40)
    min_share: float = Field(0.02, ge=0, le=1)
    max_share: float = Field(0.98, ge=0, le=1)
    enabled: bool = True
    description: str = Field("", max_length=500)


class RuleChange(BaseModel):
    min_share: float | None = Field(None, ge=0, le=1)
    max_share: float | None = Field(None, ge=0, le=1)
    enabled: bool | None = None
    description: str | None = Field(None, max_length=500)


@router.get("/rules", summary="Which net must nest in which (configuration)")
def list_rules(session: SessionDep, principal: MapReader) -> list[dict[str, Any]]:
    return [r.as_dict() for r in rules.list_rules(session)]


@router.post("/rules", status_code=201, summary="Add a fusion rule")
def create_rule(session: SessionDep, principal: Editor, body: NewRule) -> dict[str, Any]:
    _county_wide(session, principal)
    return rules.create_rule(session, principal.actor, **body.model_dump()).as_dict()


@router.patch("/rules/{rule_id}", summary="Change a rule's thresholds, switch it on or off")
def update_rule(session: SessionDep, principal: Editor, rule_id: Annotated[int, Path(ge=1, le=2**31 - 1)],
                body: RuleChange) -> dict[str, Any]:
    _county_wide(session, principal)
    return rules.update_rule(session, principal.actor, rule_id, **body.model_dump()).as_dict()


def _county_wide(session: SessionDep, principal: Principal) -> None:
    """Rules hold for the whole county: only a planner whose jurisdiction is the county may change them.
    Rules are shared by every county of the platform, so with several counties only the platform may."""
    if principal.scope.everything:
        return
    county = session.execute(text("SELECT EXISTS (SELECT 1 FROM division WHERE level = 'county' AND id = ANY(:own))"
                                  " AND (SELECT count(*) FROM division WHERE level = 'county') = 1"),
                             {"own": list(principal.scope.own_divisions)}).scalar_one()
    if not county:
        raise Forbidden("fusion rules hold for the whole county; only a county-wide planner may change them")


class Batch(BaseModel):
    suggestions: list[str] = Field(min_length=1, max_length=apply.MAX_BATCH)
    reason: str = Field("", max_length=500)


class Reason(BaseModel):
    reason: str = Field("", max_length=500)


_ETAG = re.compile(r'"g(\d+)v(\d+)"')


def _versions(if_match: str | None) -> dict[int, int]:
    """Every ETag in If-Match, by grid id; which ones are needed is known once the suggestion is read."""
    tags = {int(g): int(v) for g, v in _ETAG.findall(if_match or "")}
    if not tags:
        raise PreconditionRequired("send If-Match with the ETags listed under the suggestion's 'affected'",
                                   pointer="If-Match")
    return tags


DryRun = Annotated[bool, Query(description="Make every check and answer what applying would do (docs/web.md, the"
                                           " dry-run answer, with the per-suggestion results), storing nothing.")]


def _apply(session: SessionDep, principal: Principal, ids: list[str], if_match: str | None, reason: str,
           dry_run: bool) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """The per-suggestion results, and with ``dry_run`` the dry-run answer of the whole batch (nothing stored)."""
    versions = _versions(if_match)
    if not dry_run:
        return apply.apply_suggestions(session, principal.actor, principal.scope, ids, versions, reason=reason), None
    results: list[dict[str, Any]] = []

    def edit() -> EditResult:
        results.extend(apply.apply_suggestions(session, principal.actor, principal.scope, ids, versions,
                                               reason=reason))
        done = [r for r in results if r["status"] == "applied"]
        return EditResult(grids=[g for r in done for g in r["grids"]], retired=[c for r in done for c in r["retired"]],
                          moves=[Move(m["kind"], m["from"], m["to"], m["count"]) for r in done for m in r["moves"]])

    return results, preview(session, edit)


@router.post("/suggestions/apply", summary="Apply several suggestions in one transaction (all or nothing)")
def apply_batch(session: SessionDep, principal: Editor, body: Batch, if_match: IfMatch = None,
                dry_run: DryRun = False) -> Response:
    results, answer = _apply(session, principal, body.suggestions, if_match, body.reason, dry_run)
    return _json({**answer, "results": results} if answer else {"results": results})


@router.post("/suggestions/{suggestion_id}/apply", summary="Apply one suggested fix (If-Match of affected grids)")
def apply_one(session: SessionDep, principal: Editor,
              suggestion_id: Annotated[str, Path(max_length=120)], body: Reason | None = None,
              if_match: IfMatch = None, dry_run: DryRun = False) -> Response:
    results, answer = _apply(session, principal, [suggestion_id], if_match, body.reason if body else "", dry_run)
    return _json({**results[0], **answer} if answer else results[0])
