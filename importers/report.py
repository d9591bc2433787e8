"""The dry-run (and apply) report of an import: counts, changes, row-level problems, reassignment.

The same object is printed by ``gridmap import``, returned as JSON by the API and written as the
downloadable problem list. A problem's message never carries a personal value (an ID number, a
phone, a name): it names the row, the field and what is wrong with it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Severity = Literal["error", "warning"]
Action = Literal["created", "changed", "unchanged", "retired"]


@dataclass(frozen=True)
class Problem:
    row: int | None  # SourceTable.rows numbering; None for a file-level problem
    field: str | None  # gridmap field name (or "geometry")
    code: str  # stable, machine-readable: "invalid_geometry", "outside_parent", "overlap", "gap",
    #            "duplicate_code", "bad_id_number", "bad_phone", "unknown_division", ...
    message: str  # for people: what is wrong and, where there is one, the fix
    severity: Severity = "error"


@dataclass(frozen=True)
class Change:
    code: str  # the entity's code or external id
    action: Action
    gained_m2: float | None = None  # changed grids/divisions: area added and removed, in m²
    lost_m2: float | None = None
    detail: str | None = None  # e.g. "name 新村 → 新村社区", "code W01 → W01A (lineage recorded)"


@dataclass
class ImportReport:
    kind: str
    file: str
    sha256: str
    applied: bool = False
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(("created", "changed", "unchanged",
                                                                           "retired"), 0))
    changes: list[Change] = field(default_factory=list)  # every row not "unchanged"
    problems: list[Problem] = field(default_factory=list)
    reassigned: dict[str, int] = field(default_factory=dict)  # entity kind -> count that would move / moved
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Apply is allowed only when no problem is an error."""
        return not any(p.severity == "error" for p in self.problems)

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "ok": self.ok}
