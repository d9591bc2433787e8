"""Saved field maps (import profiles): save, load and list by name and kind (table import_profile, 0012).

A profile is only the field map (gridmap field -> the file's column). It is checked when saved (the
fields must be the kind's, or lon/lat/wkt for coordinate columns) and again against each file when
read, so a profile made for another office's files fails with the file's column names, not quietly.
Services only flush; the caller commits.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.errors import InvalidInput, NotFound
from importers.files.fields import DEFAULT_FIELDS
from importers.files.source import KINDS

_COORDS = ("lon", "lat", "wkt")


@dataclass(frozen=True)
class Profile:
    name: str
    kind: str
    mapping: dict[str, str]
    author: str | None
    updated_at: datetime


def _check(name: str, kind: str, mapping: Mapping[str, str]) -> str:
    if kind not in KINDS:
        raise InvalidInput(f"unknown kind {kind!r}: expected one of {', '.join(KINDS)}", pointer="kind")
    name = name.strip()
    if not 1 <= len(name) <= 100:
        raise InvalidInput("a profile's name has 1 to 100 characters", pointer="profile")
    if not mapping:
        raise InvalidInput("a profile needs a field map (e.g. name=网格名称)", pointer="map")
    allowed = (*DEFAULT_FIELDS[kind], *_COORDS)
    for field, column in mapping.items():
        if field not in allowed:
            raise InvalidInput(f"field map: {kind} have no field {field!r}; expected one of {', '.join(allowed)}",
                               pointer="map")
        if not isinstance(column, str) or not column.strip():
            raise InvalidInput(f"field map: {field} names no column", pointer="map")
    return name


def save_profile(session: Session, *, name: str, kind: str, mapping: Mapping[str, str],
                 author: str | None = None) -> Profile:
    """Create or replace the profile ``name`` of ``kind``."""
    name = _check(name, kind, mapping)
    row = session.execute(text("""
        INSERT INTO import_profile (name, kind, mapping, author) VALUES (:name, :kind, CAST(:mapping AS jsonb), :author)
        ON CONFLICT (kind, name) DO UPDATE SET mapping = EXCLUDED.mapping, author = EXCLUDED.author, updated_at = now()
        RETURNING name, kind, mapping, author, updated_at"""),
        {"name": name, "kind": kind, "mapping": json.dumps(dict(mapping), ensure_ascii=False), "author": author}).one()
    session.flush()
    return Profile(row.name, row.kind, dict(row.mapping), row.author, row.updated_at)


def load_profile(session: Session, *, name: str, kind: str) -> Profile:
    """The profile ``name`` of ``kind``; NotFound names the ones there are."""
    row = session.execute(text("SELECT name, kind, mapping, author, updated_at FROM import_profile "
                               "WHERE kind = :kind AND name = :name"), {"kind": kind, "name": name.strip()}).one_or_none()
    if row is None:
        known = [p.name for p in list_profiles(session, kind=kind)]
        raise NotFound(f"no import profile {name.strip()!r} for {kind}"
                       + (f"; there are {', '.join(known)}" if known else ""), pointer="profile")
    return Profile(row.name, row.kind, dict(row.mapping), row.author, row.updated_at)


def list_profiles(session: Session, *, kind: str | None = None) -> list[Profile]:
    """Every profile (of ``kind``), by kind and name."""
    rows = session.execute(text("SELECT name, kind, mapping, author, updated_at FROM import_profile "
                                "WHERE CAST(:kind AS text) IS NULL OR kind = :kind ORDER BY kind, name"),
                           {"kind": kind}).all()
    return [Profile(r.name, r.kind, dict(r.mapping), r.author, r.updated_at) for r in rows]


def delete_profile(session: Session, *, name: str, kind: str) -> None:
    """Remove a profile; NotFound when there is none."""
    load_profile(session, name=name, kind=kind)
    session.execute(text("DELETE FROM import_profile WHERE kind = :kind AND name = :name"),
                    {"kind": kind, "name": name.strip()})
    session.flush()
