"""Import jobs: an upload stored, planned in the background, applied on request (table ``import_job``).

Why a job and not one request: a county's grid file takes seconds to plan and a household file a
minute, longer than a browser should hold a request open, and the clerk wants to read the dry run
before deciding. So ``POST /imports`` only stores the upload and commits (the 202 means the bytes are
in the database), the plan runs after the answer, and ``GET /imports/{id}`` shows its progress and
report. The uploaded bytes live in ``import_job_file`` rather than on a disk of the process that
received them, so a job outlives that process: any worker can plan or apply it.

Transactions. Every status change is its own short committed transaction, so progress is visible
to others while the work runs. The plan runs in a transaction that is rolled back (a dry run leaves
nothing). The apply is one transaction holding a row lock on the job (``FOR UPDATE NOWAIT``): the
importer's writes, the audit row and the job's ``applied`` status commit together or not at all. A
process that dies mid-apply leaves the job ``applying`` and nothing of the import visible; the next
apply takes the free lock and completes it. A second apply of an applied job changes nothing and
answers what the first one did.
"""

from __future__ import annotations

import logging
import re
import tempfile
import uuid
from collections.abc import Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from geo.access import scope as scopes
from geo.access.scope import Scope
from geo.db import transaction
from geo.errors import Conflict, GridmapError, InvalidInput, NotFound, TooManyRequests
from geo.privacy import audit
from geo.privacy.audit import Actor
from geo.privacy.pii import mask_free_text
from geo.settings import BULK_STATEMENT_TIMEOUT_MS
from importers import pipeline
from importers.pipeline import ImportOptions
from importers.report import Change, ImportReport, Problem

log = logging.getLogger("gridmap.imports")

APPLICABLE = ("planned", "applying")
ACTIVE = ("queued", "reading", "planning")
STALLED_AFTER_S = 15 * 60  # a plan updates its job at every step; one silent this long died with its process
# A file name as a user's system writes it: no directories, no control characters, nothing hidden.
_NAME = re.compile(r"[^/\\\x00-\x1f]{1,255}")


@dataclass(frozen=True)
class Job:
    id: int
    user_id: int | None
    username: str
    kind: str
    status: str
    step: str
    progress: float
    options: ImportOptions
    file_name: str
    sha256: str
    size_bytes: int
    report: dict[str, Any] | None
    error: str | None
    created_at: Any
    updated_at: Any
    applied_at: Any

    @property
    def stalled(self) -> bool:
        """Being planned, but silent for longer than any step takes: the process planning it is gone."""
        from datetime import UTC, datetime

        return self.status in ACTIVE and (datetime.now(UTC) - self.updated_at).total_seconds() > STALLED_AFTER_S

    def to_json(self) -> dict[str, Any]:
        """What the creator sees: never the purpose text or the bytes, only what the job is and did."""
        return {"id": self.id, "kind": self.kind, "status": self.status, "stalled": self.stalled, "step": self.step,
                "progress": round(self.progress, 3), "file": mask_free_text(self.file_name), "sha256": self.sha256,
                "size_bytes": self.size_bytes, "created_by": self.username,
                "options": self.options.to_json(), "report": self.report, "error": self.error,
                "created_at": self.created_at.isoformat(), "updated_at": self.updated_at.isoformat(),
                "applied_at": self.applied_at.isoformat() if self.applied_at else None}


def check_file_names(files: Sequence[tuple[str, bytes]]) -> None:
    """An upload is one file or one Shapefile's set: named, distinct names, no directories, none empty."""
    if not files:
        raise InvalidInput("no file was uploaded: send one file, or a Shapefile's .shp, .shx, .dbf, .prj (.cpg)",
                           pointer="file")
    seen: set[str] = set()
    for name, data in files:
        if not _NAME.fullmatch(name) or name.strip(". ") == "":
            raise InvalidInput("an uploaded file has no usable name (no directories, no control characters)",
                               pointer="file")
        if name.lower() in seen:
            raise InvalidInput(f"the file {mask_free_text(name)!r} was uploaded twice", pointer="file")
        seen.add(name.lower())
        if not data:
            raise InvalidInput(f"the file {mask_free_text(name)!r} is empty", pointer="file")
    stems = {Path(n).stem.lower() for n, _ in files}
    if len(files) > 1 and len(stems) > 1:
        raise InvalidInput("several files are read as one Shapefile's set and must share its name "
                           f"(got {len(stems)} different names); upload other files as separate imports",
                           pointer="file")


def _display_name(files: Sequence[tuple[str, bytes]]) -> str:
    if len(files) == 1:
        return files[0][0]
    shp = [n for n, _ in files if n.lower().endswith(".shp")]
    return shp[0] if shp else sorted(n for n, _ in files)[0]


def create(session: Session, *, actor: Actor, options: ImportOptions, files: Sequence[tuple[str, bytes]]) -> int:
    """Store an upload as a queued job in the caller's transaction; the caller commits before answering."""
    check_file_names(files)
    job_id = session.execute(text("""
        INSERT INTO import_job (user_id, username, kind, options, purpose, file_name, sha256, size_bytes)
        VALUES (:u, :n, :k, CAST(:o AS jsonb), :p, :f, :s, :b) RETURNING id"""),
        {"u": actor.user_id, "n": actor.username, "k": options.kind, "o": _json(options.to_json()),
         "p": options.purpose, "f": _display_name(files), "s": pipeline.file_digest(files),
         "b": sum(len(d) for _, d in files)}).scalar_one()
    for position, (name, data) in enumerate(files):
        session.execute(text("INSERT INTO import_job_file (job_id, position, name, content) VALUES (:j, :p, :n, :c)"),
                        {"j": job_id, "p": position, "n": name, "c": data})
    audit.record(session, actor, action="import.upload", entity=options.kind, entity_id=job_id,
                 purpose=options.purpose, detail={"file": mask_free_text(_display_name(files)),
                                                  "sha256": pipeline.file_digest(files), "files": len(files)})
    return int(job_id)


def replan(session: Session, job_id: int, *, user_id: int | None, admin: bool) -> Job:
    """Queue a job for planning again (the caller plans it after committing): a failed one, one whose plan
    died with its process, or a planned one whose dry run went stale (its apply was refused because the
    data changed). A job being planned or applied, or applied, is left as it is (409)."""
    job = get(session, job_id, user_id=user_id, admin=admin)
    if not (job.status in ("failed", "planned") or job.stalled):
        raise Conflict(f"import job {job_id} is {job.status}; only a failed, planned or stalled job is planned again")
    session.execute(text("UPDATE import_job SET status = 'queued', step = 'queued again', progress = 0, error = NULL,"
                         " report = NULL, updated_at = now() WHERE id = :j"), {"j": job_id})
    return get(session, job_id, user_id=user_id, admin=admin)


def _json(value: Any) -> str:
    import json

    return json.dumps(value, ensure_ascii=False)


_COLUMNS = ("id, user_id, username, kind, status, step, progress, options, purpose, file_name, sha256, size_bytes,"
            " report, error, created_at, updated_at, applied_at")


def _job(row: Any) -> Job:
    values = dict(row._mapping)
    purpose = values.pop("purpose")
    values["options"] = ImportOptions.from_json(values["options"], purpose=purpose)
    return Job(**values)


def get(session: Session, job_id: int, *, user_id: int | None, admin: bool) -> Job:
    """The job, for its creator and for admins; anyone else gets the 404 an absent job gets."""
    row = session.execute(text(f"SELECT {_COLUMNS} FROM import_job WHERE id = :j"), {"j": job_id}).first()
    if row is None or not (admin or (user_id is not None and row.user_id == user_id)):
        raise NotFound(f"no import job {job_id}", pointer="import_id")
    return _job(row)


def list_jobs(session: Session, *, user_id: int | None, admin: bool, limit: int = 100) -> list[Job]:
    """The caller's jobs (an admin's: everyone's), newest first."""
    rows = session.execute(text(f"SELECT {_COLUMNS} FROM import_job WHERE :admin OR user_id = :u"
                                " ORDER BY id DESC LIMIT :limit"), {"admin": admin, "u": user_id, "limit": limit})
    return [_job(r) for r in rows]




def check_active(session: Session, user_id: int | None, *, limit: int) -> None:
    """Refuse (429) a new upload while the caller already has ``limit`` jobs being planned: each plan holds a
    worker thread and a connection, and one account must not fill the server with them."""
    active = session.execute(text(f"SELECT count(*) FROM import_job WHERE user_id = :u AND status IN {ACTIVE!r}"
                                  " AND updated_at > now() - make_interval(secs => :s)"), {"u": user_id, "s": STALLED_AFTER_S}).scalar_one()
    if active >= limit:
        raise TooManyRequests(f"{active} of your imports are being planned; wait until one is planned",
                              retry_after=10)


def report_of(job: Job) -> ImportReport:
    """The job's stored report as the dataclass (for the problem list); a job not planned yet is a 409."""
    if job.report is None:
        raise Conflict(f"import job {job.id} has no report yet (status {job.status}); wait until it is planned")
    data = dict(job.report)
    data.pop("ok", None)
    data["problems"] = [Problem(**p) for p in data.get("problems", [])]
    data["changes"] = [Change(**c) for c in data.get("changes", [])]
    return ImportReport(**data)


def _set(factory: sessionmaker[Session], job_id: int, **values: Any) -> None:
    sets = ", ".join(f"{k} = :{k}" if k != "report" else "report = CAST(:report AS jsonb)" for k in values)
    with transaction(factory) as session:
        session.execute(text(f"UPDATE import_job SET {sets}, updated_at = now() WHERE id = :id"),
                        {**values, "id": job_id})


@contextmanager
def _files_on_disk(session: Session, job_id: int):  # noqa: ANN202 - Iterator[list[Path]]
    """The job's uploaded bytes as files under their own names in a private temporary directory (the
    readers take paths: GDAL opens a Shapefile by its .shp and finds the rest beside it)."""
    rows = session.execute(text("SELECT name, content FROM import_job_file WHERE job_id = :j ORDER BY position"),
                           {"j": job_id}).all()
    if not rows:
        raise Conflict(f"import job {job_id} has no stored file any more")
    with tempfile.TemporaryDirectory(prefix="gridmap-import-") as tmp:
        paths = []
        for name, content in rows:
            path = Path(tmp) / Path(name).name
            path.write_bytes(bytes(content))
            paths.append(path)
        yield paths


def plan_job(factory: sessionmaker[Session], job_id: int, *, actor: Actor, scope: Scope) -> None:
    """Read and plan a queued job (run after the upload's answer); failures are stored on the job, never raised.

    ``factory`` connects as the server's role, so the plan sees only what the creator's territory
    allows (row-level security on personal data is bound to ``scope``)."""
    try:
        _set(factory, job_id, status="reading", step="reading the file", progress=0.1)
        with transaction(factory) as session:
            options = _stored_options(session, job_id)
            with _files_on_disk(session, job_id) as paths:
                table = pipeline.read(session, paths, options)
            pipeline.save_profile(session, options, actor=actor)
            session.commit()  # the saved profile, if any: kept whatever the plan finds
            _set(factory, job_id, status="planning", step=f"comparing {len(table):,} rows with the database",
                 progress=0.4)
            scopes.bind(session, scope)
            _lift_statement_timeout(session)
            report = pipeline.plan(session, table, options, actor=actor, scope=scope)
            # A dry run leaves nothing, except the audit row of a residents' plan, committed with it.
        _set(factory, job_id, status="planned", step="planned: ready to apply" if report.ok else
             "planned: the file has problems to fix", progress=1.0, report=_json(report.to_json()), error=None)
    except Exception as exc:  # noqa: BLE001 - stored on the job: the uploader reads it at GET /imports/{id}
        _fail(factory, job_id, exc)


def _lift_statement_timeout(session: Session) -> None:
    """Give this transaction the CLI's bulk timeout (an hour) instead of the server's 30 s.

    A county's layer takes minutes to compare and to reassign, and the 30 s that stops a runaway
    request turned such an upload into a failed job. ``SET LOCAL`` ends with the transaction, so the
    pooled connection goes back with the server's own timeout."""
    session.execute(text("SELECT set_config('statement_timeout', :ms, true)"),
                    {"ms": str(BULK_STATEMENT_TIMEOUT_MS)})


def _stored_options(session: Session, job_id: int) -> ImportOptions:
    data, purpose = session.execute(text("SELECT options, purpose FROM import_job WHERE id = :j"),
                                    {"j": job_id}).one()
    return ImportOptions.from_json(data, purpose=purpose)


def _fail(factory: sessionmaker[Session], job_id: int, exc: BaseException) -> None:
    if isinstance(exc, GridmapError):
        message = exc.detail
    else:
        incident = uuid.uuid4().hex[:12]
        log.error("import job %s failed: incident %s", job_id, incident, exc_info=exc)
        message = f"an unexpected error stopped the import; incident {incident}"
    try:
        _set(factory, job_id, status="failed", step="failed", progress=1.0, error=mask_free_text(message))
    except Exception:  # noqa: BLE001 - the database itself is gone; the job stays where it was
        log.exception("import job %s: could not record its failure", job_id)


def apply_job(factory: sessionmaker[Session], job_id: int, *, actor: Actor, scope: Scope,
              user_id: int | None, admin: bool) -> Job:
    """Apply a planned job, all or nothing; an applied job is answered as it is (nothing changes twice).

    The importer re-plans under the applier's territory and refuses (422) when the plan has an
    error, so a planner's job can never write outside what the applier may edit."""
    with transaction(factory) as session:
        job = _locked(session, job_id, user_id=user_id, admin=admin)
        if job.status == "applied":
            return job
        _check_applicable(job)
        session.execute(text("UPDATE import_job SET status = 'applying', step = 'applying', progress = 0.5,"
                             " updated_at = now() WHERE id = :j"), {"j": job_id})
    try:
        with transaction(factory) as session:
            if _apply_locked(session, job_id, actor=actor, scope=scope, user_id=user_id, admin=admin) is None:
                return get(session, job_id, user_id=user_id, admin=admin)  # applied in between, by another
    except _Refused as refused:
        # The importer refused (the data changed since the plan, the territory does not allow it): nothing was
        # written, and the job is back to planned, so its status does not claim an apply in progress.
        detail = refused.error.detail
        _set(factory, job_id, status="planned", step=f"apply refused: {mask_free_text(detail)}"[:500], progress=1.0)
        raise refused.error from None
    with factory() as session:
        return get(session, job_id, user_id=user_id, admin=admin)


def _apply_locked(session: Session, job_id: int, *, actor: Actor, scope: Scope, user_id: int | None,
                  admin: bool) -> ImportReport | None:
    """The apply itself, under the job's row lock, in the caller's transaction; None when already applied."""
    job = _locked(session, job_id, user_id=user_id, admin=admin)
    if job.status == "applied":
        return None
    _check_applicable(job)
    scopes.bind(session, scope)
    _lift_statement_timeout(session)
    try:
        with _files_on_disk(session, job_id) as paths:
            table = pipeline.read(session, paths, job.options)
        report = pipeline.apply(session, table, job.options, actor=actor, scope=scope)
        _same_as_planned(job, report)  # raising here rolls the writes back with the transaction
    except GridmapError as exc:
        raise _Refused(exc) from exc
    session.execute(text("""
        UPDATE import_job SET status = 'applied', step = 'applied', progress = 1, report = CAST(:r AS jsonb),
               applied_at = now(), updated_at = now() WHERE id = :j"""), {"j": job_id, "r": _json(report.to_json())})
    # The bytes are not needed any more (the SHA-256 names the file in the job and the audit log), and
    # a residents' file is personal data: not kept beyond its use.
    session.execute(text("DELETE FROM import_job_file WHERE job_id = :j"), {"j": job_id})
    return report


def _same_as_planned(job: Job, report: ImportReport) -> None:
    """Refuse an apply that would write something else than the dry run the uploader reviewed.

    Apply re-plans from the file, so a job planned before another import (or an edit on the map)
    changed the same grids would silently undo that change: job A renames a grid, job B renames it
    again and is applied, then A's apply sets the old name back. The reviewed plan is the contract;
    when the database moved under it, the uploader plans again and reviews what would happen now."""
    planned = job.report or {}

    def changes(items: Sequence[Any]) -> list[tuple[Any, ...]]:
        return sorted((c["code"], c["action"], c.get("detail")) for c in items)

    now = report.to_json()
    if planned.get("counts") != now["counts"] or changes(planned.get("changes", [])) != changes(now["changes"]):
        raise Conflict("the data changed since this job's dry run, so applying it would write something else than "
                       f"the plan you reviewed; plan it again (POST /imports/{job.id}/plan) and review the new plan")


class _Refused(Exception):
    """The importer refused the apply under the lock (as opposed to another apply holding it)."""

    def __init__(self, error: GridmapError) -> None:
        super().__init__(error.detail)
        self.error = error


def _locked(session: Session, job_id: int, *, user_id: int | None, admin: bool) -> Job:
    get(session, job_id, user_id=user_id, admin=admin)  # 404 for anyone else, before taking any lock
    try:
        row = session.execute(text(f"SELECT {_COLUMNS} FROM import_job WHERE id = :j FOR UPDATE NOWAIT"),
                              {"j": job_id}).one()
    except DBAPIError as exc:
        if getattr(exc.orig, "pgcode", None) == "55P03":  # lock_not_available
            raise Conflict(f"import job {job_id} is being applied right now; read GET /imports/{job_id}") from None
        raise
    return _job(row)


def _check_applicable(job: Job) -> None:
    if job.status not in APPLICABLE:
        waiting = job.status in ("queued", "reading", "planning")
        raise Conflict(f"import job {job.id} is {job.status}: "
                       + ("wait until it is planned" if waiting else "upload the corrected file as a new import"))
    report = report_of(job)
    if not report.ok:
        errors = sum(p.severity == "error" for p in report.problems)
        raise Conflict(f"import job {job.id}: the plan has {errors} problems (GET /imports/{job.id}/problems.csv); "
                       "nothing was written. Fix the file and upload it again")
