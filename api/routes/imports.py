"""Import a county's own files by upload: a job, planned in the background, applied on request.

``POST /imports`` stores the upload and answers 202 once it is committed; the dry run runs after
the answer (``importers/jobs.py``). ``GET /imports/{id}`` shows progress and the report,
``/problems.csv`` and ``/problems.xlsx`` the problem list, ``POST /imports/{id}/apply`` writes it.
Jobs are private: their creator and the platform's admins see them, anyone else gets a 404. The upload has its
own size limit (``GRIDMAP_IMPORT_UPLOAD_MAX_MB``), not the 2 MB of a drawn geometry (api/limits.py).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, BackgroundTasks, File, Form, Path, Request, UploadFile
from fastapi.responses import JSONResponse, Response

from api import heavy
from api.caching import NoStore
from api.deps import SessionDep
from api.schemas.imports import ImportJobOut
from api.security import Principal, requires
from geo.access.permissions import Permission, Role
from geo.errors import InvalidInput
from importers import jobs, pipeline
from importers.files.source import KINDS
from importers.pipeline import ImportOptions
from importers.problem_list import MEDIA_TYPES, problems_file

router = APIRouter(prefix="/imports", tags=["imports"], dependencies=[NoStore])
Importer = Annotated[Principal, requires(Permission.DATA_IMPORT)]
JobId = Annotated[int, Path(ge=1, le=2**62)]
# Jobs of one account planning at once; more are refused (429) rather than queued behind each other.
ACTIVE_PER_USER = 3


def _out(job: jobs.Job) -> dict[str, Any]:
    body = job.to_json()
    base = f"/imports/{job.id}"
    body["links"] = {"self": base, "apply": f"{base}/apply", "plan": f"{base}/plan", "problems_csv": f"{base}/problems.csv",
                     "problems_xlsx": f"{base}/problems.xlsx"}
    return body


def _is_admin(principal: Principal) -> bool:
    """Admins of the whole platform see every job; a county's (or township's) admin sees their own, like
    anyone: a job's report and problem list name the divisions and files of its creator's territory."""
    return principal.role == Role.ADMIN and principal.scope.everything


def _text(value: str | None) -> str | None:
    value = (value or "").strip()
    return value or None


@router.post("", status_code=202, response_model=ImportJobOut,
             summary="Upload a file (or a Shapefile's set) to import: stored, then planned in the background")
def create_import(
    request: Request, session: SessionDep, principal: Importer, background: BackgroundTasks,
    file: Annotated[list[UploadFile], File(description="One file (GeoJSON, GPKG, SHP .zip, KML/KMZ, CSV, XLSX) or "
                                                       "a Shapefile's .shp/.shx/.dbf/.prj/.cpg")],
    kind: Annotated[str, Form(description=f"What the file holds: {', '.join(KINDS)}")],
    crs: Annotated[str | None, Form(max_length=40, description="gcj02, bd09, or an EPSG code, when the file "
                                                                "does not say")] = None,
    encoding: Annotated[str | None, Form(max_length=40, description="Overrides .cpg and detection")] = None,
    map: Annotated[str | None, Form(max_length=2000, description="Field map, e.g. name=网格名称,code=网格编码")] = None,
    profile: Annotated[str | None, Form(max_length=100, description="A saved field map, by name")] = None,
    save_profile: Annotated[str | None, Form(max_length=100, description="Save the field map as")] = None,
    layer: Annotated[str | None, Form(max_length=32, description="Grid layer code (kind grids)")] = None,
    source_layer: Annotated[str | None, Form(max_length=200, description="Layer of a multi-layer file")] = None,
    key: Annotated[str, Form(max_length=63, description="The field rows are matched by")] = "code",
    retire_missing: Annotated[bool, Form(description="Retire stored entities of the file's extent absent from "
                                                     "it")] = False,
    purpose: Annotated[str | None, Form(max_length=200, description="Residents: why (audited)")] = None,
) -> JSONResponse:
    """Answers 202 with the job once the upload is committed; read its progress at ``GET /imports/{id}``."""
    options = pipeline.check_options(ImportOptions(
        kind=kind.strip(), crs=_text(crs), encoding=_text(encoding), field_map=pipeline.parse_field_map(map),
        profile=_text(profile), save_profile=_text(save_profile), layer=_text(layer),
        source_layer=_text(source_layer), key=key.strip(), retire_missing=retire_missing, purpose=_text(purpose)))
    pipeline.check_allowed(options.kind, principal.permissions)
    jobs.check_active(session, principal.user_id, limit=ACTIVE_PER_USER)
    files = [(upload.filename or "", upload.file.read()) for upload in file]
    job_id = jobs.create(session, actor=principal.actor, options=options, files=files)
    job = jobs.get(session, job_id, user_id=principal.user_id, admin=True)
    background.add_task(jobs.plan_job, request.app.state.sessionmaker, job_id, actor=principal.actor,
                        scope=principal.scope)
    return JSONResponse(_out(job), status_code=202, headers={"Location": f"/imports/{job_id}"})


@router.get("", summary="The caller's import jobs, newest first (admins: everyone's)")
def list_imports(session: SessionDep, principal: Importer) -> list[dict[str, Any]]:
    return [_out(j) for j in jobs.list_jobs(session, user_id=principal.user_id, admin=_is_admin(principal))]


@router.get("/{import_id}", response_model=ImportJobOut, summary="An import job: status, progress, report")
def get_import(session: SessionDep, principal: Importer, import_id: JobId) -> dict[str, Any]:
    return _out(jobs.get(session, import_id, user_id=principal.user_id, admin=_is_admin(principal)))


def _problems(session: SessionDep, principal: Principal, import_id: int, fmt: str) -> Response:
    job = jobs.get(session, import_id, user_id=principal.user_id, admin=_is_admin(principal))
    body = problems_file(jobs.report_of(job), fmt)
    return Response(body, media_type=MEDIA_TYPES[fmt],
                    headers={"Content-Disposition": f'attachment; filename="import-{import_id}-problems.{fmt}"'})


@router.get("/{import_id}/problems.csv", response_class=Response, responses={200: {"content": {"text/csv": {}}}},
            summary="The job's problems: row, field, code, severity, message (no personal values)")
def problems_csv(session: SessionDep, principal: Importer, import_id: JobId) -> Response:
    return _problems(session, principal, import_id, "csv")


@router.get("/{import_id}/problems.xlsx", response_class=Response,
            responses={200: {"content": {MEDIA_TYPES["xlsx"]: {}}}},
            summary="The job's problems as a spreadsheet")
def problems_xlsx(session: SessionDep, principal: Importer, import_id: JobId) -> Response:
    return _problems(session, principal, import_id, "xlsx")


@router.post("/{import_id}/plan", status_code=202, response_model=ImportJobOut,
             summary="Plan a failed or stalled job again (its stored file, its options)")
def replan_import(request: Request, session: SessionDep, principal: Importer, background: BackgroundTasks,
                  import_id: JobId) -> dict[str, Any]:
    job = jobs.replan(session, import_id, user_id=principal.user_id, admin=_is_admin(principal))
    pipeline.check_allowed(job.kind, principal.permissions)
    background.add_task(jobs.plan_job, request.app.state.sessionmaker, import_id, actor=principal.actor,
                        scope=principal.scope)
    return _out(job)


@router.post("/{import_id}/apply", response_model=ImportJobOut,
             summary="Apply a planned job, all or nothing; applying it again changes nothing")
def apply_import(request: Request, session: SessionDep, principal: Importer, import_id: JobId) -> dict[str, Any]:
    """200 once the import is committed. The importer re-plans under the caller's territory and the
    job is refused (409) when that plan has an error; nothing is written then."""
    job = jobs.get(session, import_id, user_id=principal.user_id, admin=_is_admin(principal))
    pipeline.check_allowed(job.kind, principal.permissions)
    if job.kind in pipeline.PERSONAL_KINDS and not job.options.purpose:
        raise InvalidInput("a residents' import needs a purpose", pointer="purpose")
    with heavy.limiter(request).slot(principal.user_id, "imports"):
        done = jobs.apply_job(request.app.state.sessionmaker, import_id, actor=principal.actor,
                              scope=principal.scope, user_id=principal.user_id, admin=_is_admin(principal))
    return _out(done)
