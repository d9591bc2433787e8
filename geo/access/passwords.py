"""The password rule, in a module light enough for the CLI to check a password before any work.

``geo.access.security`` applies it whenever a password is set; ``gridmap demo --password`` applies the
same rule up front, before a load of tens of seconds (importing ``geo.access.security`` alone costs about a
second: SQLAlchemy models and an argon2 hash at import).
"""

from __future__ import annotations

from geo.errors import InvalidInput

MIN_PASSWORD_LENGTH = 10


def check_password(password: str) -> None:
    """Raise ``InvalidInput`` (pointer ``password``) when the password breaks the rule."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput(f"password must have at least {MIN_PASSWORD_LENGTH} characters", pointer="password")
