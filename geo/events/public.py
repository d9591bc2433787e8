"""Reports as the public sees them (Open311 GeoReport v2 reads).

A public interface shows no personal data: no contact, no staff names (only the
office or department responsible), the location coarsened to about 100 m, the
address only as its village or community (a house number would name the
household), no household id, and the description withheld for residents'
private matters (民事, e.g. neighbour disputes). A duplicate shows the state of
the report it was merged into.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.privacy.pii import mask_free_text_fields

PUBLIC_DECIMALS = 3  # ≈ 100 m at Guizhou's latitude

_SQL = f"""
    SELECT e.id, e.category, c.name AS service_name, c.triage::text AS triage, e.description, e.media_url,
           e.status::text AS status, e.duplicate_of, COALESCE(o.status::text, e.status::text) AS effective_status,
           e.reported_at, COALESCE(e.updated_at, e.reported_at) AS updated_at, e.due_at,
           (SELECT vd.name FROM grid_membership vm JOIN grid vg ON vg.id = vm.grid_id
              JOIN grid_layer vl ON vl.id = vm.layer_id AND vl.code = 'comprehensive'
              JOIN division vd ON vd.id = vg.division_id
             WHERE vm.kind = 'event' AND vm.entity_id = e.id) AS village,
           round(ST_X(e.geom)::numeric, {PUBLIC_DECIMALS})::float AS lon,
           round(ST_Y(e.geom)::numeric, {PUBLIC_DECIMALS})::float AS lat,
           CASE e.assignee_kind::text WHEN 'department' THEN p.name WHEN 'division' THEN d.name
                WHEN 'staff' THEN COALESCE(v.name || ' ', '') || '网格服务站' END AS agency
    FROM event e
    JOIN event_category c ON c.code = e.category
    LEFT JOIN event o ON o.id = e.duplicate_of
    LEFT JOIN department p ON p.code = e.assignee_department
    LEFT JOIN division d ON d.id = e.assignee_division_id
    LEFT JOIN staff s ON s.id = e.assignee_staff_id
    LEFT JOIN division v ON v.id = s.division_id
"""

CLOSED = ("closed", "rejected")


def requests(session: Session, *, ids: list[int] | None = None, codes: list[str] | None = None,
             start: datetime | None = None, end: datetime | None = None, status: list[str] | None = None,
             county: str | None = None, limit: int = 1000) -> list[dict[str, object]]:
    """Reports as the public sees them; ``county`` (6 digits) keeps one jurisdiction's."""
    where, params = ["true"], {"n": limit, "closed": list(CLOSED)}
    if county is not None:
        where.append("e.county_code = :county")
        params["county"] = county
    if ids is not None:
        where.append("e.id = ANY(:ids)")
        params["ids"] = ids
    else:
        if codes:
            where.append("e.category = ANY(:codes)")
            params["codes"] = codes
        if start is not None:
            where.append("e.reported_at >= :start")
            params["start"] = start
        if end is not None:
            where.append("e.reported_at <= :end")
            params["end"] = end
        if status and set(status) != {"open", "closed"}:
            op = "= ANY" if status == ["closed"] else "<> ALL"
            where.append(f"COALESCE(o.status::text, e.status::text) {op}(:closed)")
    rows = session.execute(text(f"{_SQL} WHERE {' AND '.join(where)} ORDER BY e.reported_at DESC, e.id DESC LIMIT :n"),
                           params).mappings()
    # The public never sees the description, or a pasted link, as written: ID and phone numbers are
    # masked (geo.privacy.pii); a link with someone's number in it is worth less than the number.
    return [mask_free_text_fields(dict(r), ("description", "media_url")) for r in rows]


def jurisdictions(session: Session) -> list[str]:
    """The 6-digit codes of the counties this service covers: Open311's jurisdiction_id values."""
    return list(session.execute(text("SELECT left(code, 6) FROM division WHERE level = 'county' ORDER BY code")).scalars())


def county_of(session: Session, event_id: int) -> str | None:
    """The 6-digit county code of a stored report."""
    return session.execute(text("SELECT county_code FROM event WHERE id = :e"), {"e": event_id}).scalar()


def by_token(session: Session, token: str) -> int | None:
    return session.execute(text("SELECT id FROM event WHERE public_token = :t"), {"t": token}).scalar()


def receipt(session: Session, staff_receipt: dict[str, object]) -> dict[str, object]:
    """What an anonymous reporter gets back: their report's id, token, state, deadline and grids,
    who is responsible as an office (no staff names), and the location as coarse as the public feed."""
    row = requests(session, ids=[int(staff_receipt["id"])])[0]  # type: ignore[arg-type]
    located = staff_receipt["location"]
    match = located.get("match") if isinstance(located, dict) else None
    return {
        "id": staff_receipt["id"], "token": staff_receipt["token"], "status": staff_receipt["status"],
        "category": staff_receipt["category"], "reported_at": staff_receipt["reported_at"],
        "due_at": staff_receipt["due_at"], "grids": staff_receipt["grids"],
        "agency_responsible": row["agency"],
        "location": {"lon": row["lon"], "lat": row["lat"], "crs": "wgs84", "precision_m": 100,
                     "located_by": located.get("located_by") if isinstance(located, dict) else None,
                     "match_quality": match["quality"] if match else None,
                     "match_score": match["score"] if match else None},
    }
