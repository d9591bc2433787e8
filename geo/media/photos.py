"""Photos of a report: stored on upload, attached to an event by id, listed, served, purged.

A citizen's page uploads a photo before the report exists, so :func:`store` keeps it unattached and
answers its id; the report (``POST /events``, the citizen's report) or the handler's start and
feedback then name the ids, and :func:`attach` ties them to the event in the same transaction as the
report or the step, so a refused report attaches nothing. A photo no report names within
``unattached_hours`` (a day) is purged (:func:`purge`, run on every upload).

The bytes are the cleaned re-encoding of geo/media/images.py, stored in PostgreSQL (bytea) or, when
GRIDMAP_PHOTOS_DIR is set, in a file named by the photo's id, written to a temporary name and renamed,
so a reader never sees half a file. Who may read a photo is decided by the event (geo/access/scope.py)
or the report's tracking token: :func:`readable`.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.access.scope import Scope, member_filter
from geo.errors import InvalidInput, NotFound
from geo.media.images import CleanImage

STAGES = ("report", "before", "after")
MAX_PER_STAGE = 4  # photos per report (and per handler's before / after)
UNATTACHED_HOURS = 24
_EXT = {"image/jpeg": "jpg", "image/png": "png", "image/webp": "webp"}


@dataclass(frozen=True)
class StoredPhoto:
    id: uuid.UUID
    content_type: str
    bytes: int
    width: int
    height: int


def store(session: Session, image: CleanImage, *, photos_dir: Path | None = None,
          uploader_user_id: int | None = None) -> StoredPhoto:
    """Keep ``image`` as an unattached photo; the file (if ``photos_dir``) is complete before the row exists."""
    photo_id = uuid.uuid4()
    if photos_dir is not None:
        _write_file(photos_dir, photo_id, image.data)
    session.execute(text("""
        INSERT INTO photo (id, content_type, bytes, width, height, sha256, uploader_user_id, taken_by, storage, data)
        VALUES (:id, :ct, :n, :w, :h, :sha, :u, :by, :st, :data)"""), {
        "id": photo_id, "ct": image.content_type, "n": len(image.data), "w": image.width, "h": image.height,
        "sha": hashlib.sha256(image.data).hexdigest(), "u": uploader_user_id,
        "by": "staff" if uploader_user_id is not None else "citizen",
        "st": "dir" if photos_dir is not None else "db", "data": None if photos_dir is not None else image.data})
    return StoredPhoto(photo_id, image.content_type, len(image.data), image.width, image.height)


def _write_file(directory: Path, photo_id: uuid.UUID, data: bytes) -> None:
    """Write-then-rename in the same directory (atomic on POSIX), named by the id alone."""
    final = directory / str(photo_id)
    temp = directory / f".{photo_id}.tmp"
    with open(temp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(temp, final)


def attach(session: Session, event_id: int, photo_ids: list[str] | tuple[str, ...], stage: str,
           by_staff_id: int | None = None, *, pointer: str = "photo_ids",
           unattached_hours: int = UNATTACHED_HOURS, by_user_id: int | None = None) -> int:
    """Tie the unattached photos ``photo_ids`` to ``event_id`` as ``stage``; how many were attached.

    InvalidInput (422, pointing at ``photo_ids/<position>``) for an id that is malformed, unknown,
    expired (older than ``unattached_hours``), already attached or named twice, and for more than
    MAX_PER_STAGE photos of one stage on the event. Only flushes: the caller's transaction decides,
    so nothing is attached when the report or the step is refused.
    """
    if stage not in STAGES:
        raise ValueError(f"stage must be one of {STAGES}")
    if not photo_ids:
        return 0
    already = count_for_event(session, event_id, stage)
    if already + len(photo_ids) > MAX_PER_STAGE:
        raise InvalidInput(f"at most {MAX_PER_STAGE} photos of one stage ({stage}) per report; it has {already} "
                           f"and {len(photo_ids)} were sent", pointer=pointer)
    ids = claim(session, photo_ids, pointer=pointer, unattached_hours=unattached_hours, by_user_id=by_user_id)
    session.execute(text("""
        UPDATE photo SET event_id = :e, stage = :stage, attached_at = now(),
               staff_id = coalesce(CAST(:staff AS integer), staff_id),
               taken_by = CASE WHEN CAST(:staff AS integer) IS NOT NULL THEN 'staff' ELSE taken_by END
        WHERE id = ANY(:ids)"""), {"e": event_id, "stage": stage, "staff": by_staff_id, "ids": ids})
    return len(ids)


def claim(session: Session, photo_ids: list[str] | tuple[str, ...], *, pointer: str = "photo_ids",
          unattached_hours: int = UNATTACHED_HOURS, by_user_id: int | None = None) -> list[uuid.UUID]:
    """The ids, checked and locked (FOR UPDATE) until the transaction ends: each must be a known photo,
    not attached, not expired, named once, and at most MAX_PER_STAGE of them. :func:`attach` calls it;
    intake calls it before storing the report too, so a report with a bad id writes nothing at all.

    ``by_user_id`` (a signed-in caller attaching to a step): a photo another signed-in account uploaded
    is refused. A handler's before/after photos are their evidence (自办自结 rests on the after photo), so
    an id passed on from a colleague, or leaked, is not theirs to use; anonymous uploads stay usable."""
    if len(photo_ids) > MAX_PER_STAGE:
        raise InvalidInput(f"at most {MAX_PER_STAGE} photos per report; {len(photo_ids)} were sent", pointer=pointer)
    ids: list[uuid.UUID] = []
    for i, raw in enumerate(photo_ids):
        try:
            pid = uuid.UUID(str(raw))
        except ValueError:
            raise InvalidInput(f"{pointer}/{i} is not a photo id (a UUID from POST /photos)",
                               pointer=f"{pointer}/{i}") from None
        if pid in ids:
            raise InvalidInput(f"{pointer}/{i} names the same photo as {pointer}/{ids.index(pid)}",
                               pointer=f"{pointer}/{i}")
        ids.append(pid)
    rows = {r.id: r for r in session.execute(text("""
        SELECT id, event_id, uploader_user_id, created_at < now() - make_interval(hours => :h) AS expired
        FROM photo WHERE id = ANY(:ids) ORDER BY id FOR UPDATE"""), {"ids": ids, "h": unattached_hours})}
    for i, pid in enumerate(ids):
        row = rows.get(pid)
        where = f"{pointer}/{i}"
        if row is None:
            raise InvalidInput(f"{where}: no such photo (unknown, or purged a day after upload)", pointer=where)
        if row.event_id is not None:
            raise InvalidInput(f"{where}: the photo is already attached to a report", pointer=where)
        if by_user_id is not None and row.uploader_user_id not in (None, by_user_id):
            raise InvalidInput(f"{where}: the photo was uploaded by another account; upload your own", pointer=where)
        if row.expired:
            raise InvalidInput(f"{where}: the photo expired (not attached within {unattached_hours} h of upload); "
                               "upload it again", pointer=where)
    return ids


def count_for_event(session: Session, event_id: int, stage: str | None = None) -> int:
    """How many photos of ``stage`` (any stage when None) the event has."""
    return int(session.execute(text(
        "SELECT count(*) FROM photo WHERE event_id = :e AND (CAST(:s AS text) IS NULL OR stage = :s)"),
        {"e": event_id, "s": stage}).scalar_one())


def list_for_event(session: Session, event_id: int) -> list[dict[str, object]]:
    """The event's photos, report first, then before and after, each in upload order (no bytes)."""
    rows = session.execute(text("""
        SELECT id::text AS id, stage, content_type, width, height, taken_by
        FROM photo WHERE event_id = :e
        ORDER BY array_position(ARRAY['report', 'before', 'after']::text[], stage::text), created_at, id"""),
        {"e": event_id}).mappings()
    return [dict(r) for r in rows]


def event_visible(session: Session, event_id: int, scope: Scope) -> bool:
    """Whether the event exists inside ``scope`` (the rule of geo/access/scope.py)."""
    clause, params = member_filter(scope, "event", "e")
    return session.execute(text(f"SELECT 1 FROM event e WHERE e.id = :id {clause}"),
                           {**params, "id": event_id}).first() is not None


def token_matches(session: Session, event_id: int, token: str | None) -> bool:
    """Whether ``token`` is the event's tracking token (the citizen's receipt)."""
    if not token:
        return False
    return session.execute(text("SELECT 1 FROM event WHERE id = :id AND public_token = :t"),
                           {"id": event_id, "t": token[:64]}).first() is not None


@dataclass(frozen=True)
class PhotoBytes:
    id: str
    event_id: int | None
    content_type: str
    sha256: str
    data: bytes
    uploader_user_id: int | None

    @property
    def filename(self) -> str:
        return f"{self.id}.{_EXT.get(self.content_type, 'bin')}"


def load(session: Session, photo_id: str, *, photos_dir: Path | None = None) -> PhotoBytes:
    """The photo and its bytes; NotFound for a malformed or unknown id (or a file gone missing)."""
    try:
        pid = uuid.UUID(photo_id)
    except ValueError:
        raise NotFound("no such photo") from None
    row = session.execute(text("""
        SELECT id::text AS id, event_id, content_type, sha256, storage, data, uploader_user_id
        FROM photo WHERE id = :id"""), {"id": pid}).mappings().first()
    if row is None:
        raise NotFound("no such photo")
    data = row["data"]
    if row["storage"] == "dir":
        if photos_dir is None:
            raise NotFound("the photo is kept in a directory this server is not configured with (GRIDMAP_PHOTOS_DIR)")
        try:
            data = (photos_dir / row["id"]).read_bytes()
        except FileNotFoundError:
            raise NotFound("the photo's file is missing") from None
    return PhotoBytes(row["id"], row["event_id"], row["content_type"], row["sha256"], bytes(data),
                      row["uploader_user_id"])


def purge(session: Session, *, unattached_hours: int = UNATTACHED_HOURS, photos_dir: Path | None = None) -> int:
    """Delete the photos no report named within ``unattached_hours``; how many went.

    Files of a directory store are removed after their rows: a purge whose transaction then fails leaves
    rows of unattached, expired photos without a file, which nothing can attach or read anyway.
    """
    gone = session.execute(text("""
        DELETE FROM photo WHERE event_id IS NULL AND created_at < now() - make_interval(hours => :h)
        RETURNING id::text, storage"""), {"h": unattached_hours}).all()
    for pid, storage in gone:
        if storage == "dir" and photos_dir is not None:
            (photos_dir / pid).unlink(missing_ok=True)
    return len(gone)
