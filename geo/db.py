"""Engine and session factories.

Services in ``geo`` only ``flush()``; whoever opens the session (a request or a
CLI command) owns the transaction and commits once, so several steps can share
one transaction and fail together.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine, create_engine
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

from geo.settings import DatabaseSettings


class Base(DeclarativeBase):
    """Declarative base of every gridmap table."""


def make_engine(settings: DatabaseSettings, *, as_app: bool = False) -> Engine:
    """An engine whose connections carry a statement timeout, so no query runs away.

    ``as_app`` connects as the application role (the server); otherwise as the owner (CLI, migrations).
    """
    return create_engine(
        settings.server_url if as_app else settings.database_url,
        pool_size=settings.pool_size,
        max_overflow=settings.pool_size,
        pool_pre_ping=True,
        connect_args={"options": f"-c statement_timeout={settings.statement_timeout_ms}"},
    )


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on any error."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
