"""Reading and editing fusion rules (the configuration; geo/models/fusion.py says why it is a table).

A rule's side is written ``layer:<code>`` or ``level:<village|township>`` in
the API, so one string names a grid layer or a division level unambiguously.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.errors import Conflict, InvalidInput, NotFound
from geo.privacy import audit
from geo.privacy.audit import Actor
from geo.privacy.pii import mask_free_text

LEVELS = ("village", "township")  # division levels a rule may name; a county is one unit, nothing to nest


@dataclass(frozen=True)
class Side:
    """One side of a rule: a grid layer (``layer_id``) or a division level."""

    layer_id: int | None
    layer_code: str | None
    level: str | None

    @property
    def name(self) -> str:
        return f"layer:{self.layer_code}" if self.layer_code else f"level:{self.level}"


@dataclass(frozen=True)
class Rule:
    id: int
    fine: Side
    coarse: Side
    min_share: float
    max_share: float
    enabled: bool
    description: str

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "fine": self.fine.name, "coarse": self.coarse.name, "min_share": self.min_share,
                "max_share": self.max_share, "enabled": self.enabled,
                "description": mask_free_text(self.description)}


_SELECT = """
    SELECT r.id, r.fine_layer_id, fl.code AS fine_code, r.fine_level::text AS fine_level,
           r.coarse_layer_id, cl.code AS coarse_code, r.coarse_level::text AS coarse_level,
           r.min_share, r.max_share, r.enabled, r.description
      FROM fusion_rule r LEFT JOIN grid_layer fl ON fl.id = r.fine_layer_id
      LEFT JOIN grid_layer cl ON cl.id = r.coarse_layer_id
"""


def _rule(row: Any) -> Rule:
    return Rule(row.id, Side(row.fine_layer_id, row.fine_code, row.fine_level),
                Side(row.coarse_layer_id, row.coarse_code, row.coarse_level),
                row.min_share, row.max_share, row.enabled, row.description)


def list_rules(session: Session) -> list[Rule]:
    return [_rule(r) for r in session.execute(text(_SELECT + " ORDER BY r.id"))]


def get_rule(session: Session, rule_id: int) -> Rule:
    row = session.execute(text(_SELECT + " WHERE r.id = :i"), {"i": rule_id}).first()
    if row is None:
        raise NotFound(f"no fusion rule {rule_id}", pointer="rule_id")
    return _rule(row)


def parse_side(session: Session, value: str, pointer: str) -> Side:
    kind, _, name = value.partition(":")
    if kind == "level" and name in LEVELS:
        return Side(None, None, name)
    if kind == "layer":
        layer_id = session.execute(text("SELECT id FROM grid_layer WHERE code = :c"), {"c": name}).scalar()
        if layer_id is not None:
            return Side(layer_id, name, None)
        raise InvalidInput(f"no grid layer {name!r}", pointer=pointer)
    raise InvalidInput(f"a side is 'layer:<code>' or 'level:village|township', got {value!r}", pointer=pointer)


def _check_shares(min_share: float, max_share: float) -> None:
    if not 0 <= min_share < max_share <= 1:
        raise InvalidInput(f"need 0 ≤ min_share < max_share ≤ 1, got {min_share} and {max_share}",
                           pointer="min_share")


def create_rule(session: Session, actor: Actor, *, fine: str, coarse: str, min_share: float = 0.02,
                max_share: float = 0.98, enabled: bool = True, description: str = "") -> Rule:
    f, c = parse_side(session, fine, "fine"), parse_side(session, coarse, "coarse")
    if f == c:
        raise InvalidInput("a rule relates two different sides", pointer="coarse")
    _check_shares(min_share, max_share)
    exists = session.execute(text("""
        SELECT id FROM fusion_rule WHERE fine_layer_id IS NOT DISTINCT FROM :fl
           AND fine_level::text IS NOT DISTINCT FROM :fv AND coarse_layer_id IS NOT DISTINCT FROM :cl
           AND coarse_level::text IS NOT DISTINCT FROM :cv"""),
        {"fl": f.layer_id, "fv": f.level, "cl": c.layer_id, "cv": c.level}).scalar()
    if exists:
        raise Conflict(f"a rule for {f.name} in {c.name} exists already (rule {exists}); edit that one",
                       pointer="fine")
    rule_id = session.execute(text("""
        INSERT INTO fusion_rule (fine_layer_id, fine_level, coarse_layer_id, coarse_level, min_share, max_share,
                                 enabled, description)
        VALUES (:fl, CAST(:fv AS division_level), :cl, CAST(:cv AS division_level), :lo, :hi, :on, :d)
        RETURNING id"""), {"fl": f.layer_id, "fv": f.level, "cl": c.layer_id, "cv": c.level, "lo": min_share,
                           "hi": max_share, "on": enabled, "d": description}).scalar_one()
    audit.record(session, actor, action="fusion_rule.create", entity="fusion_rule", entity_id=rule_id,
                 detail={"fine": f.name, "coarse": c.name, "min_share": min_share, "max_share": max_share})
    return get_rule(session, rule_id)


def update_rule(session: Session, actor: Actor, rule_id: int, *, min_share: float | None = None,
                max_share: float | None = None, enabled: bool | None = None,
                description: str | None = None) -> Rule:
    rule = get_rule(session, rule_id)
    lo = rule.min_share if min_share is None else min_share
    hi = rule.max_share if max_share is None else max_share
    _check_shares(lo, hi)
    session.execute(text("""
        UPDATE fusion_rule SET min_share = :lo, max_share = :hi, enabled = coalesce(:on, enabled),
                               description = coalesce(:d, description) WHERE id = :i"""),
                    {"lo": lo, "hi": hi, "on": enabled, "d": description, "i": rule_id})
    audit.record(session, actor, action="fusion_rule.update", entity="fusion_rule", entity_id=rule_id,
                 detail={"min_share": lo, "max_share": hi, "enabled": enabled})
    return get_rule(session, rule_id)
