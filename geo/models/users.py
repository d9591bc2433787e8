"""Users of the service and the append-only audit log."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, CheckConstraint, DateTime, Enum, ForeignKey, Integer, String, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from geo.access.permissions import Role
from geo.db import Base


class AppUser(Base):
    """A person who logs in. The jurisdiction is a division (a county, township or village) or a grid
    and covers everything inside it; neither means the whole platform, every county (admins, auditors)."""

    __tablename__ = "app_user"
    __table_args__ = (
        CheckConstraint("division_id IS NULL OR grid_id IS NULL", name="app_user_one_jurisdiction"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String, default="")
    password_hash: Mapped[str]
    role: Mapped[Role] = mapped_column(Enum(Role, name="user_role", values_callable=lambda e: [m.value for m in e]))
    division_id: Mapped[int | None] = mapped_column(ForeignKey("division.id"))
    grid_id: Mapped[int | None] = mapped_column(ForeignKey("grid.id"))
    # The staff record this account acts as for /staff/me/... (a responder's own phone).
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id", ondelete="SET NULL"), unique=True)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Bumped on password change or disable: every token issued before is refused.
    token_version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class AuditLog(Base):
    """Who did what, when, to which entity, with what outcome. Append-only: the
    application role has INSERT and SELECT only, and a trigger refuses UPDATE,
    DELETE and TRUNCATE for everyone."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(), index=True)
    user_id: Mapped[int | None] = mapped_column(Integer, index=True)
    username: Mapped[str] = mapped_column(String(64), default="")
    action: Mapped[str] = mapped_column(String(64))
    entity: Mapped[str] = mapped_column(String(64), index=True)
    entity_id: Mapped[str | None] = mapped_column(String(64))
    outcome: Mapped[str] = mapped_column(String(16))
    purpose: Mapped[str | None] = mapped_column(String(200))
    request_id: Mapped[str | None] = mapped_column(String(64))
    client: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[dict | None] = mapped_column(JSONB)


class AppSecret(Base):
    """Server-side secrets generated at migration time (the token signing key),
    so every worker process signs and checks tokens with the same key."""

    __tablename__ = "app_secret"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str]
