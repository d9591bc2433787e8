"""Per-kind importers: compare a SourceTable with the database (plan) and write the difference (apply).

Every kind module exposes the same two functions:

    plan(session, table, ctx) -> ImportReport    # the dry run: nothing is left visible (TEMP tables only)
    apply(session, table, ctx) -> ImportReport   # in the caller's transaction; the caller commits

``apply`` re-plans and refuses (``geo.errors.InvalidInput``) when the plan has an error, so that
nothing is ever stored half-way; rerunning an apply of the same file changes nothing.
"""

from __future__ import annotations

from importlib import import_module
from typing import Protocol

from sqlalchemy.orm import Session

from importers.files.source import KINDS, SourceTable
from importers.load.context import ImportContext
from importers.report import ImportReport

# kind -> module under importers.load that implements it
MODULES = {"divisions": "divisions", "grids": "grids", "households": "households", "cameras": "cameras",
           "staff": "staff", "residents": "residents"}


class KindImporter(Protocol):
    def plan(self, session: Session, table: SourceTable, ctx: ImportContext) -> ImportReport: ...
    def apply(self, session: Session, table: SourceTable, ctx: ImportContext) -> ImportReport: ...


def importer_for(kind: str) -> KindImporter:
    """The module that imports ``kind``; an unknown kind is the caller's mistake, named."""
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}: expected one of {', '.join(KINDS)}")
    return import_module(f"importers.load.{MODULES[kind]}")  # type: ignore[return-value]
