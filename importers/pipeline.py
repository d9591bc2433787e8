"""One import, the same way from the command line and from an API job: who may, read, plan, apply, audit.

``gridmap import`` and ``POST /imports`` differ in where the file comes from and how the report is
shown; everything else is here, so the two surfaces cannot drift apart in what they allow. The
readers (``importers.files.read_source``) and the per-kind importers (``importers.load``) do the
work; this module checks the caller's permissions for the kind, hands the caller's territory to the
importer, audits, and makes sure no report leaves with a personal value in it.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.access.permissions import Permission
from geo.access.scope import Scope
from geo.access.security import Forbidden
from geo.errors import InvalidInput
from geo.privacy import audit
from geo.privacy.audit import Actor
from geo.privacy.pii import check_purpose, mask_free_text
from importers import load
from importers.files.source import KINDS, SourceTable
from importers.load.context import ImportContext
from importers.report import Change, ImportReport, Problem

# What each kind needs beyond data:import. Boundaries (divisions, grids) are what planners edit; residents
# are personal data: the importer must be allowed to read it unmasked (and states a purpose, audited).
KIND_PERMISSIONS: dict[str, frozenset[Permission]] = {
    "divisions": frozenset({Permission.GRIDS_EDIT}),
    "grids": frozenset({Permission.GRIDS_EDIT}),
    "households": frozenset(),
    "cameras": frozenset(),
    "staff": frozenset(),
    "residents": frozenset({Permission.PII_READ, Permission.RESIDENTS_WRITE}),
}
PERSONAL_KINDS = frozenset({"residents"})
KEYS = re.compile(r"[a-z][a-z0-9_]{0,62}")


@dataclass(frozen=True)
class ImportOptions:
    """How to read the file(s) and match their rows: the CLI's options, an upload's form fields."""

    kind: str
    crs: str | None = None  # what the coordinates are, when the file does not say (gcj02, bd09, EPSG:4549)
    encoding: str | None = None  # overrides .cpg and detection
    field_map: dict[str, str] = field(default_factory=dict)  # gridmap field -> the file's column
    profile: str | None = None  # a saved field map, by name
    save_profile: str | None = None  # save this field map under a name
    layer: str | None = None  # grid layer code (kind "grids")
    source_layer: str | None = None  # the layer to read of a multi-layer file (GeoPackage)
    key: str = "code"
    retire_missing: bool = False
    purpose: str | None = None  # residents: why, audited

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "crs": self.crs, "encoding": self.encoding, "field_map": self.field_map,
                "profile": self.profile, "save_profile": self.save_profile, "layer": self.layer,
                "source_layer": self.source_layer, "key": self.key, "retire_missing": self.retire_missing}

    @classmethod
    def from_json(cls, data: dict[str, Any], purpose: str | None = None) -> ImportOptions:
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__}, purpose=purpose)


def parse_field_map(text: str | None, *, pointer: str = "map") -> dict[str, str]:
    """``name=网格名称,code=网格编码`` → ``{"name": "网格名称", "code": "网格编码"}``; a malformed pair is named."""
    mapping: dict[str, str] = {}
    for pair in (p.strip() for p in (text or "").split(",")):
        if not pair:
            continue
        target, sep, column = (s.strip() for s in pair.partition("="))
        if not sep or not target or not column:
            raise InvalidInput(f"{pointer}: {pair!r} is not field=column (e.g. name=网格名称)", pointer=pointer)
        if not KEYS.fullmatch(target):
            raise InvalidInput(f"{pointer}: {target!r} is not a gridmap field name (lower-case letters, digits, _)",
                               pointer=pointer)
        if target in mapping:
            raise InvalidInput(f"{pointer}: the field {target!r} is mapped twice", pointer=pointer)
        mapping[target] = column
    return mapping


def check_options(options: ImportOptions) -> ImportOptions:
    """Refuse what cannot be right before any file is read: an unknown kind, a bad key, a missing purpose."""
    if options.kind not in KINDS:
        raise InvalidInput(f"unknown kind {options.kind!r}: expected one of {', '.join(KINDS)}", pointer="kind")
    if not KEYS.fullmatch(options.key):
        raise InvalidInput(f"key {options.key!r} is not a field name (lower-case letters, digits, _)", pointer="key")
    if options.layer is not None and options.kind != "grids":
        raise InvalidInput("layer (a grid layer code) applies to kind grids only", pointer="layer")
    if options.encoding is not None:
        from importers.files.encoding import codec_name

        try:
            codec_name(options.encoding)
        except ValueError as exc:
            raise InvalidInput(str(exc), pointer="encoding") from None
    if options.kind in PERSONAL_KINDS:
        return replace(options, purpose=check_purpose(options.purpose))
    return options


def check_allowed(kind: str, permissions: frozenset[Permission]) -> None:
    """A 403 naming what the caller lacks to import ``kind``."""
    needed = {Permission.DATA_IMPORT, *KIND_PERMISSIONS[kind]}
    missing = sorted(p.value for p in needed - permissions)
    if missing:
        raise Forbidden(f"importing {kind} needs the permission {', '.join(missing)}")


def file_digest(files: Sequence[tuple[str, bytes]]) -> str:
    """SHA-256 of one file's bytes, or of a file set (a Shapefile's .shp/.dbf/.prj/...) in name order."""
    if len(files) == 1:
        return hashlib.sha256(files[0][1]).hexdigest()
    digest = hashlib.sha256()
    for name, data in sorted(files):
        digest.update(name.encode() + b"\0" + len(data).to_bytes(8, "big") + data)
    return digest.hexdigest()


def read(session: Session, paths: Sequence[Path], options: ImportOptions) -> SourceTable:
    """The file(s) as one SourceTable (importers.files: formats, encodings, CRSs, field maps).

    A saved profile's field map comes first and the explicit ``--map`` pairs override it; the county's
    boundary lets the reader warn about coordinates that fit only in GCJ-02."""
    from importers.files import read_source

    return read_source(list(paths), options.kind, crs=options.crs, encoding=options.encoding,
                       mapping=field_map(session, options) or None, layer=options.source_layer,
                       territory=_territory(session))


def field_map(session: Session, options: ImportOptions) -> dict[str, str]:
    mapping: dict[str, str] = {}
    if options.profile:
        from importers.files.profiles import load_profile

        mapping.update(load_profile(session, name=options.profile, kind=options.kind).mapping)
    mapping.update(options.field_map)
    return mapping


def save_profile(session: Session, options: ImportOptions, *, actor: Actor) -> None:
    """``--save-profile NAME``: keep the field map that just read the file, in the caller's transaction."""
    if not options.save_profile:
        return
    from importers.files.profiles import save_profile as save

    mapping = field_map(session, options)
    if not mapping:
        raise InvalidInput("save_profile needs a field map to save (map=name=网格名称,...)", pointer="save_profile")
    save(session, name=options.save_profile, kind=options.kind, mapping=mapping, author=actor.username)


def _territory(session: Session) -> Any:
    """The counties in the database, WGS84 (None before any is loaded): what the GCJ-02 check compares with."""
    import shapely

    wkb = session.execute(text("SELECT ST_AsBinary(ST_Union(geom)) FROM division WHERE level = 'county'")).scalar()
    return shapely.from_wkb(bytes(wkb)) if wkb is not None else None


def context(options: ImportOptions, *, actor: Actor, scope: Scope) -> ImportContext:
    return ImportContext(actor=actor, scope=scope, layer=options.layer, retire_missing=options.retire_missing,
                         key=options.key)


def plan(session: Session, table: SourceTable, options: ImportOptions, *, actor: Actor,
         scope: Scope) -> ImportReport:
    """The dry run; a residents' plan compares personal data, so it is audited with its purpose."""
    report = load.importer_for(options.kind).plan(session, table, context(options, actor=actor, scope=scope))
    if options.kind in PERSONAL_KINDS:
        audit.record(session, actor, action="import.plan", entity=options.kind, purpose=options.purpose,
                     detail=_audit_detail(table, report))
    return safe_report(_with_reading_problems(report, table))


def apply(session: Session, table: SourceTable, options: ImportOptions, *, actor: Actor,
          scope: Scope) -> ImportReport:
    """Write the plan in the caller's transaction (all or nothing: the caller commits), audited with the
    file's name and SHA-256. The importer re-plans and refuses (InvalidInput) when the plan has an error."""
    if any(p.severity == "error" for p in table.problems):
        raise InvalidInput(f"{table.name}: the file has {sum(p.severity == 'error' for p in table.problems)} "
                           "problems; nothing was written", pointer="file")
    report = load.importer_for(options.kind).apply(session, table, context(options, actor=actor, scope=scope))
    audit.record(session, actor, action="import.apply", entity=options.kind, purpose=options.purpose,
                 detail=_audit_detail(table, report))
    return safe_report(_with_reading_problems(report, table))


def _audit_detail(table: SourceTable, report: ImportReport) -> dict[str, Any]:
    return {"file": mask_free_text(table.name), "sha256": table.sha256, "rows": len(table),
            "counts": report.counts, "reassigned": report.reassigned, "applied": report.applied}


def _with_reading_problems(report: ImportReport, table: SourceTable) -> ImportReport:
    """The reader's row problems and file warnings belong in the same report as the importer's."""
    known = set(report.problems)
    extra = [p for p in table.problems if p not in known]
    warnings = [w for w in table.warnings if w not in report.warnings]
    if not extra and not warnings:
        return report
    return replace(report, problems=[*extra, *report.problems], warnings=[*report.warnings, *warnings])


def safe_report(report: ImportReport) -> ImportReport:
    """The report with every free text masked (ID numbers, phones), whatever an importer put there: it is
    printed, stored in the job, served as JSON and as a download, none of them for personal values."""
    def problem(p: Problem) -> Problem:
        return replace(p, message=mask_free_text(p.message) or "", field=mask_free_text(p.field))

    def change(c: Change) -> Change:
        return replace(c, code=mask_free_text(c.code) or "", detail=mask_free_text(c.detail))

    return replace(report, file=mask_free_text(report.file) or "", problems=[problem(p) for p in report.problems],
                   changes=[change(c) for c in report.changes],
                   warnings=[mask_free_text(w) or "" for w in report.warnings])


Progress = Callable[[str, float], None]


def no_progress(step: str, fraction: float) -> None:
    """The default progress callback: nobody is watching."""
