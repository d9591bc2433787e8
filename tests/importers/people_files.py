"""Invented people for the staff and residents import tests: tables as a reader would hand them over.

Every value is made up here (valid GB 11643 check characters, mobile numbers of the right shape), so
the tests can plant them and then look for them in reports, messages, exceptions and logs."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from pii_scan import find_personal_data
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.access.scope import Scope, resolve
from geo.models.users import AppUser
from geo.privacy.audit import Actor
from geo.privacy.pii import id_check_character
from importers.files.source import SourceTable
from importers.load.context import ImportContext
from importers.report import ImportReport


def id_number(seq: int, born: str = "19850312", region: str = "520111") -> str:
    """A valid 18-character ID number (invented): region, birth date, sequence, check character."""
    first17 = f"{region}{born}{seq % 1000:03d}"
    return first17 + id_check_character(first17)


def wrong_check(number: str) -> str:
    """The same number with a wrong check character."""
    return number[:17] + ("0" if number[17] != "0" else "1")


def mobile(seq: int) -> str:
    return f"139{seq % 100_000_000:08d}"


def table(kind: str, records: list[dict[str, Any]], *, geometry: list[Any] | None = None,
          name: str = "people.xlsx") -> SourceTable:
    """A SourceTable as a spreadsheet reader produces it: header on row 1, records from row 2."""
    fields = sorted({k for r in records for k in r})
    body = json.dumps(records, ensure_ascii=False, sort_keys=True).encode()
    return SourceTable(name=name, sha256=hashlib.sha256(body).hexdigest(), kind=kind,
                       rows=list(range(2, len(records) + 2)),
                       columns={f: [r.get(f) for r in records] for f in fields}, geometry=geometry, crs="EPSG:4326")


def planted(records: list[dict[str, Any]], fields: tuple[str, ...] = ("name", "id_number", "phone")) -> set[str]:
    return {str(r[f]) for r in records for f in fields if r.get(f)}


def context(session: Session, username: str | None = None, **kw: Any) -> ImportContext:
    """The import context of a demo account (its territory), or of the whole county."""
    if username is None:
        return ImportContext(actor=Actor(None, "test import"), scope=Scope.county(), **kw)
    user = session.query(AppUser).filter_by(username=username).one()
    return ImportContext(actor=Actor(user.id, username), scope=resolve(session, user), **kw)


def leaks(report: ImportReport, values: set[str], *extra: str) -> list[str]:
    """Every planted value (or unmasked ID/mobile number) in the report's JSON, its problems'
    messages and anything else given (exception text, the log)."""
    texts = [json.dumps(report.to_json(), ensure_ascii=False), *(p.message for p in report.problems), *extra]
    return [f for t in texts for f in find_personal_data(t, values)]


def audit_rows(session: Session, action: str) -> list[dict[str, Any]]:
    return [dict(r) for r in session.execute(text(
        "SELECT username, entity, detail FROM audit_log WHERE action = :a ORDER BY id"), {"a": action}).mappings()]


@pytest.fixture
def sql_log(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """Everything logged at DEBUG (SQL statements and result rows too), scrubbed as the CLI and the
    server scrub every record. Ask for it before ``session``: SQLAlchemy decides whether a connection
    logs when the connection is made."""
    from geo.privacy import logsafe

    logsafe.install()
    caplog.set_level(logging.DEBUG)
    engine_log = logging.getLogger("sqlalchemy.engine")
    level = engine_log.level
    engine_log.setLevel(logging.DEBUG)
    yield caplog
    engine_log.setLevel(level)
