"""No personal data in the log, at any level, on any error path (PIPL; GB/T 35273).

What used to leak: a failed statement's parameters (SQLAlchemy prints them; the engines now hide
them, geo/db.py), PostgreSQL's DETAIL lines that quote the row (``Key (id_number)=(…) already
exists``, ``Failing row contains (…)``), psycopg2 messages that quote the value
(``invalid input syntax for type integer: "…"``), pydantic errors that echo the input
(``input_value=…``, ``'input': …``), SQLAlchemy's DEBUG dump of result rows, and request URLs or
free text that carry a phone number.

Why a log-record factory rather than a filter on some handlers: uvicorn, pytest and an operator's
logging configuration each install their own handlers, at times of their choosing; a record factory
runs once for every record of every logger, before any handler sees it. ``install`` wraps the
current factory (idempotently); the app factory and the CLI call it.

Each record is scrubbed when it is created: its message and arguments, its stack and its exception
text. The exception is formatted here, scrubbed, and kept as ``exc_text`` only (``exc_info`` is
dropped), so no formatter can print the raw exception again. The masking rules for ID numbers and
phone numbers are geo.privacy.pii's (``mask_free_text``); this module adds only what is particular to
error messages: values quoted by PostgreSQL, SQLAlchemy and pydantic are replaced by ``…``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Any

from geo.privacy.pii import mask_free_text

HIDDEN = "…"

# (trigger, pattern, replacement) over error text; each removes the values a message quotes and keeps
# the rest. A pattern runs only when its trigger (a plain substring) is present: most records are
# access-log lines, and they should cost a few substring tests, not nine regular expressions.
_QUOTED_VALUES: tuple[tuple[str, re.Pattern[str], str], ...] = (
    # PostgreSQL DETAIL of unique, foreign-key and exclusion violations: Key (cols)=(values) ...
    ("Key (", re.compile(r"(Key \([^)\n]*\)=)\(.*?\)(?=( already exists| is not present| is still referenced"
                         r"| conflicts))"), rf"\1({HIDDEN})"),
    ("Key (", re.compile(rf"(Key \([^)\n]*\)=)\((?!{HIDDEN}\)).*"), rf"\1({HIDDEN})"),  # any other ending
    # DETAIL of not-null and check violations: Failing row contains (id, household, name, id number, ...)
    ("Failing row", re.compile(r"(Failing row contains ).*"), rf"\1({HIDDEN})"),
    # psycopg2/PostgreSQL messages quoting the refused value
    (": \"", re.compile(r'((?:for type|for enum|for encoding) [\w. ()]+: )"[^"\n]*"'), rf'\1"{HIDDEN}"'),
    ("value \"", re.compile(r'(value )"[^"\n]*"( is out of range)'), rf'\1"{HIDDEN}"\2'),
    ("invalid input", re.compile(r'(invalid input syntax[^:\n]*: )"[^"\n]*"'), rf'\1"{HIDDEN}"'),
    # SQLAlchemy's statement parameters, should an engine ever be made without hide_parameters
    ("[parameters: ", re.compile(r"\[parameters: [^\n]*"), "[parameters hidden]"),
    # pydantic: "[type=..., input_value='...', input_type=str]" and errors() dicts "'input': ..."
    ("input_value=", re.compile(r"input_value=.*?, input_type="), f"input_value={HIDDEN}, input_type="),
    ("'input': ", re.compile(r"'input': .*?(?=, '(?:ctx|url)': |\}(?:, \{|\]|\)|\s*$))", re.M),
     f"'input': {HIDDEN}"),
    # the place search's query (an address, at times) in access-log lines and URLs: GET /search?q=…
    ("/search?", re.compile(r"(/search\?)[^\s\"']*"), rf"\1{HIDDEN}"),
)


def scrub(value: str) -> str:
    """``value`` without quoted values from error messages and with ID and phone numbers masked."""
    for trigger, pattern, replacement in _QUOTED_VALUES:
        if trigger in value:
            value = pattern.sub(replacement, value)
    return mask_free_text(value) or value


def _scrub_arg(arg: object) -> object:
    if isinstance(arg, str):
        return scrub(arg)
    if arg is None or isinstance(arg, (bool, int, float)):
        return arg  # a number that looks like a phone is caught in the formatted message below
    shown = str(arg)
    clean = scrub(shown)
    return arg if clean == shown else clean


def _dirty(record: logging.LogRecord) -> bool:
    try:
        message = record.getMessage()
    except Exception:  # noqa: BLE001 - a malformed call: scrub the parts, logging reports the error later
        return isinstance(record.msg, str) or bool(record.args)
    return scrub(message) != message


def scrub_record(record: logging.LogRecord) -> logging.LogRecord:
    """Remove personal data from ``record`` in place: message, arguments, exception and stack text."""
    if record.name.startswith("sqlalchemy.engine") and isinstance(record.msg, str) and record.msg.endswith("Row %r"):
        record.args = ("(row hidden)",)  # DEBUG result rows are residents' names and numbers, verbatim
    if _dirty(record):  # most records are clean: one scan of the formatted message decides
        if isinstance(record.msg, str):
            record.msg = scrub(record.msg)
        if isinstance(record.args, dict):
            record.args = {k: _scrub_arg(v) for k, v in record.args.items()}
        elif record.args:
            record.args = tuple(_scrub_arg(a) for a in record.args)  # formatters that use args (uvicorn's) stay
        if _dirty(record):  # e.g. a phone number passed as an int, or an object whose str() carries one
            try:
                message = record.getMessage()
            except Exception:  # noqa: BLE001 - arguments that do not fit the format: keep both, scrubbed
                message = f"{record.msg} {record.args!r}"
            record.msg, record.args = scrub(message), ()
    if record.exc_info and record.exc_info[0] is not None:
        record.exc_text = scrub(logging.Formatter().formatException(record.exc_info))
        record.exc_info = None
    elif record.exc_text:
        record.exc_text = scrub(record.exc_text)
    if record.stack_info:
        record.stack_info = scrub(record.stack_info)
    return record


def install() -> None:
    """Scrub every log record of this process from now on (safe to call more than once)."""
    current: Callable[..., logging.LogRecord] = logging.getLogRecordFactory()
    if getattr(current, "gridmap_scrubs", False):
        return

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        return scrub_record(current(*args, **kwargs))

    factory.gridmap_scrubs = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(factory)
