"""A cheap "has anything changed" token for results that are costly to compute.

Fusion and topology reports read grids (every layer), households, divisions
and the fusion rules. Every grid edit writes a ``grid_version`` row (its id
comes from a sequence, so it only grows, even across rolled-back
transactions), and the set of grid ids changes when one is created or
retired; households are counted with their residents; rules and layers are tiny.
One query, a few milliseconds on the demo county (100,000 households), against
seconds for the analysis it lets us skip. Coarse on purpose: any edit anywhere
invalidates every cached report, which is always correct.
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.orm import Session

_TOKEN_SQL = text("""
SELECT concat_ws('/',
    (SELECT md5(coalesce(string_agg(id::text, ',' ORDER BY id), '')) FROM grid),
    (SELECT max(id) FROM grid_version),
    (SELECT concat_ws(':', count(*), max(id), sum(residents)) FROM household),
    (SELECT concat_ws(':', count(*), max(id)) FROM division),
    (SELECT md5(coalesce(string_agg(r::text, ',' ORDER BY r.id), '')) FROM fusion_rule r),
    (SELECT md5(coalesce(string_agg(l::text, ',' ORDER BY l.id), '')) FROM grid_layer l))
""")


def data_version(session: Session) -> str:
    """Changes whenever anything a fusion or topology report depends on changes."""
    return str(session.execute(_TOKEN_SQL).scalar_one())
