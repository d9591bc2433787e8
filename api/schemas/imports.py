"""Import jobs as the API shows them (``importers/jobs.py`` holds the job, ``importers/report.py`` the report)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

Status = Literal["queued", "reading", "planning", "planned", "failed", "applying", "applied"]


class ImportJobOut(BaseModel):
    id: int
    kind: str
    status: Status = Field(description="queued → reading → planning → planned (or failed) → applying → applied")
    stalled: bool = Field(False, description="Being planned but silent for 15 minutes: its process is gone; "
                          "POST /imports/{id}/plan plans it again")
    step: str = Field(description="What the job is doing, for people")
    progress: float = Field(ge=0, le=1)
    file: str = Field(description="The uploaded file's name (a Shapefile set: its .shp)")
    sha256: str = Field(description="SHA-256 of the uploaded bytes (of the set, in name order)")
    size_bytes: int
    created_by: str
    options: dict[str, Any]
    report: dict[str, Any] | None = Field(
        None, description="The dry run (once planned) or the applied import: counts, changes with m², problems, "
        "reassigned, warnings, ok")
    error: str | None = Field(None, description="Why the job failed")
    created_at: str
    updated_at: str
    applied_at: str | None
    links: dict[str, str] = Field(default_factory=dict)
