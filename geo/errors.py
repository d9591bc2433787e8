"""Domain exceptions. The API maps each class to one HTTP status (api/problems.py),
so services raise meaning, never HTTP, and routes never build error bodies."""

from __future__ import annotations

from typing import Any


class GridmapError(Exception):
    """Base of every expected, user-facing error."""

    title = "Request failed"

    def __init__(self, detail: str, *, pointer: str | None = None, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.pointer = pointer  # where in the request the problem is (a parameter or JSON pointer)
        self.extra = extra


class InvalidInput(GridmapError):
    """The request is well-formed but its values are not acceptable."""

    title = "Invalid input"


class NotFound(GridmapError):
    """The thing asked for does not exist (or is outside the caller's territory)."""

    title = "Not found"


class Conflict(GridmapError):
    """The request conflicts with the current state (overlap, stale version, ...)."""

    title = "Conflict"


class PreconditionFailed(GridmapError):
    """The caller edited a stale version (If-Match does not match the current ETag)."""

    title = "Precondition failed"


class PreconditionRequired(GridmapError):
    """A write came without If-Match: it could silently overwrite someone else's edit."""

    title = "Precondition required"


class TooManyRequests(GridmapError):
    """The caller sent more than its share; ``retry_after`` says when to try again (seconds)."""

    title = "Too many requests"
