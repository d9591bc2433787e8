"""The county code every sharded table carries (migration 0011, docs/scale.md).

A prefecture-level city 地级市 runs one platform for all its counties; ``county_code`` is the
6-digit county part of the division code and the column a Citus cluster would distribute by.
Database triggers fill it from the row's division, grid, household, event, staff member or
position, so writers need not set it (and usually should not): the model marks it as a value
the server provides, and SQLAlchemy leaves it out of an INSERT that does not name it.
"""

from __future__ import annotations

from sqlalchemy import FetchedValue, String
from sqlalchemy.orm import MappedColumn, mapped_column


def county_code_column() -> MappedColumn[str]:
    """A fresh ``county_code`` column (one per table: a Column belongs to one table)."""
    return mapped_column(String(6), server_default=FetchedValue(), server_onupdate=FetchedValue(),
                         nullable=False, doc="6-digit county code, filled by a trigger (migration 0011).")
