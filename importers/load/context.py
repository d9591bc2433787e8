"""Who imports, where, and how a file's rows are matched to what is stored."""

from __future__ import annotations

from dataclasses import dataclass

from geo.access.scope import Scope
from geo.privacy.audit import Actor


@dataclass(frozen=True)
class ImportContext:
    actor: Actor
    scope: Scope  # the importing user's territory: rows outside it are problems, not writes
    layer: str | None = None  # grid layer code, for kind "grids"
    retire_missing: bool = False  # stored entities of the file's extent absent from the file are retired
    key: str = "code"  # the field rows are matched by: "code", or a declared external id field
    county: str | None = None  # 6-digit county code the file belongs to (several counties per database)
