"""Photos over HTTP: upload (no account needed), the list of an event's photos, and the bytes.

``POST /photos`` is public because the citizen's report page uploads before it has anything else;
anonymous uploads are rate limited per client address (the token bucket of geo/access/ratelimit.py)
and every upload is size-, type- and pixel-checked and re-encoded without metadata (geo/media/images.py).
A signed-in caller is recorded as the uploader. Reads go to whoever may read the event (events:read
and the event inside their territory) or to the citizen holding the report's tracking token (header
``X-Tracking-Token``, or ``?token=`` where a header cannot be sent); anyone else gets 404, the same
answer as for an id that does not exist, so ids cannot be probed.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, File, Header, Path, Query, Request, UploadFile
from fastapi.responses import JSONResponse, Response

from api.deps import SessionDep
from api.ratelimit import ReportLimit
from api.security import Principal, optional_principal
from geo.access.permissions import Permission
from geo.errors import InvalidInput, NotFound, TooManyRequests
from geo.media import images, photos
from geo.settings import PhotoSettings

router = APIRouter(tags=["photos"])
Caller = Annotated[Principal | None, Depends(optional_principal)]
EventId = Annotated[int, Path(ge=1, le=2**62)]
TokenHeader = Annotated[str | None, Header(alias="X-Tracking-Token", max_length=64,
                                           description="The report's tracking token (the citizen's receipt).")]
TokenQuery = Annotated[str | None, Query(max_length=64, description="The tracking token, where no header can be sent.")]
READ_BYTES = 64 * 1024


def settings_of(request: Request) -> PhotoSettings:
    settings = getattr(request.app.state, "photo_settings", None)
    if settings is None:
        settings = request.app.state.photo_settings = PhotoSettings()
    return settings


def _limit(request: Request, settings: PhotoSettings) -> ReportLimit:
    limit = getattr(request.app.state, "photo_limit", None)
    if limit is None:
        limit = request.app.state.photo_limit = ReportLimit(
            request.app.state.engine, settings.photo_uploads_per_minute, settings.photo_uploads_burst, prefix="photo")
    return limit


async def _read_upload(file: UploadFile, max_bytes: int) -> bytes:
    """The file's bytes, refused (422) past ``max_bytes`` without reading the rest into memory."""
    chunks: list[bytes] = []
    size = 0
    while chunk := await file.read(READ_BYTES):
        size += len(chunk)
        if size > max_bytes:
            raise InvalidInput(f"the photo is larger than {max_bytes / (1024 * 1024):g} MB", pointer="file")
        chunks.append(chunk)
    return b"".join(chunks)


@router.post("/photos", status_code=201, summary="Upload a photo (public; rate limited; stored without metadata)")
async def upload_photo(
    request: Request, session: SessionDep, caller: Caller,
    file: Annotated[UploadFile, File(description="A JPEG, PNG or WebP photo (HEIC where supported).")],
) -> JSONResponse:
    """Answers the id to name in ``photo_ids`` within a day, and the photo's EXIF GPS position as a hint
    for the uploader only (``exif_location``, WGS-84; never stored). The stored bytes carry no EXIF."""
    settings = settings_of(request)
    if caller is None:
        client = request.client.host if request.client else "unknown"
        try:
            _limit(request, settings).hit(client)
        except TooManyRequests as exc:
            raise TooManyRequests(f"without signing in, one address may upload {settings.photo_uploads_burst} "
                                  f"photos at once and then {settings.photo_uploads_per_minute:g} a minute; retry in "
                                  f"{exc.extra.get('retry_after')} s", **exc.extra) from None
    raw = await _read_upload(file, settings.max_bytes)
    from anyio import to_thread  # decoding a 12 MP photo takes a few hundred ms: off the event loop

    clean = await to_thread.run_sync(lambda: images.clean(raw, max_pixels=settings.photo_max_pixels))

    def _store() -> photos.StoredPhoto:
        photos.purge(session, unattached_hours=settings.photo_unattached_hours, photos_dir=settings.photos_dir)
        return photos.store(session, clean, photos_dir=settings.photos_dir,
                            uploader_user_id=caller.user_id if caller else None)

    stored = await to_thread.run_sync(_store)
    body = {"id": str(stored.id), "content_type": stored.content_type, "bytes": stored.bytes,
            "width": stored.width, "height": stored.height, "exif_location": clean.exif_location}
    return JSONResponse(body, 201, headers={"Location": f"/photos/{stored.id}", "Cache-Control": "no-store"})


def _may_read(session: SessionDep, event_id: int, caller: Principal | None, token: str | None) -> bool:
    if caller is not None and caller.can(Permission.EVENTS_READ) and photos.event_visible(session, event_id,
                                                                                           caller.scope):
        return True
    return photos.token_matches(session, event_id, token)


@router.get("/events/{event_id}/photos", summary="An event's photos (to those who may read the event, or "
                                                 "the holder of its tracking token)")
def event_photos(session: SessionDep, caller: Caller, event_id: EventId, x_tracking_token: TokenHeader = None,
                 token: TokenQuery = None) -> JSONResponse:
    if not _may_read(session, event_id, caller, x_tracking_token or token):
        raise NotFound(f"event {event_id} does not exist or lies outside your territory")
    return JSONResponse(photos.list_for_event(session, event_id), headers={"Cache-Control": "private, no-cache"})


@router.get("/photos/{photo_id}", summary="A photo's bytes (to those who may read its event, or the holder of "
                                          "the report's tracking token)",
            response_class=Response, responses={200: {"content": {"image/jpeg": {}, "image/png": {},
                                                                  "image/webp": {}}}})
def photo_bytes(request: Request, session: SessionDep, caller: Caller,
                photo_id: Annotated[str, Path(max_length=40)], x_tracking_token: TokenHeader = None,
                token: TokenQuery = None) -> Response:
    photo = photos.load(session, photo_id, photos_dir=settings_of(request).photos_dir)
    if photo.event_id is None:  # unattached: only the signed-in account that uploaded it
        allowed = caller is not None and photo.uploader_user_id == caller.user_id
    else:
        allowed = _may_read(session, photo.event_id, caller, x_tracking_token or token)
    if not allowed:
        raise NotFound("no such photo")
    etag = f'"{photo.sha256}"'
    headers = {"Cache-Control": "private, no-cache", "X-Content-Type-Options": "nosniff", "ETag": etag,
               "Content-Disposition": f'inline; filename="{photo.filename}"',
               "Content-Security-Policy": "default-src 'none'; sandbox"}
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    return Response(photo.data, 200, media_type=photo.content_type, headers=headers)
