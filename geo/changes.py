"""A cheap "has anything changed" token for results that are costly to compute.

Fusion and topology reports read grids (every layer), households, divisions
and the fusion rules. Every grid edit writes a ``grid_version`` row (its id
comes from a sequence, so it only grows, even across rolled-back
transactions), and the set of grid ids changes when one is created or
retired. Households, divisions, rules and layers are stamped by a trigger in
``data_change`` (migration 0010 says why). One query, about 2 ms on the demo
county (9,000 grids), against seconds for the analysis it lets us skip. Coarse on purpose: any edit anywhere
invalidates every cached report, which is always correct.
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.orm import Session

_TOKEN_SQL = text("""
SELECT concat_ws('/',
    (SELECT md5(coalesce(string_agg(id::text, ',' ORDER BY id), '')) FROM grid),
    (SELECT max(id) FROM grid_version),
    (SELECT string_agg(name || ':' || stamp, ',' ORDER BY name) FROM data_change))
""")


def data_version(session: Session) -> str:
    """Changes whenever anything a fusion or topology report depends on changes."""
    return str(session.execute(_TOKEN_SQL).scalar_one())
