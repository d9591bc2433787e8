"""Form bodies arrive as text in the charset the client used, or are refused.

Starlette reads the bytes of an ``application/x-www-form-urlencoded`` body as latin-1 and only
percent-escapes as UTF-8, so a raw-UTF-8 body (``description=垃圾成堆`` sent unescaped, as many
clients and gateways do) was stored as mojibake (``åå¾æå``), and for ``multipart/form-data``
an undecodable part silently became latin-1 too. This middleware decodes every form body once,
for every route that takes one (Open311 ``POST /requests``, ``POST /auth/token``):

* the charset is the one declared in ``Content-Type`` (``charset=gbk``, ``gb18030``, …), else an
  HTML form's ``_charset_`` field, else UTF-8 (GeoReport v2: "all text received ... will be
  assumed to be UTF-8");
* raw bytes and percent-escapes are both decoded with that charset, strictly;
* the form is handed on re-encoded as ASCII (percent-escaped UTF-8), which every parser reads the
  same way; a multipart form of text fields is handed on the same way (no route takes files);
* bytes that are not text in that charset, an unknown charset or a file part answer 400 naming
  the field, in the route's own error format (Open311's for Open311).

python-multipart (the parser Starlette itself uses) splits the fields; only the decoding is ours.
"""

from __future__ import annotations

import codecs
import io
import re
from urllib.parse import unquote_to_bytes

import anyio.to_thread
from python_multipart import parse_form
from python_multipart.exceptions import FormParserError
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api import problems

URLENCODED = b"application/x-www-form-urlencoded"
MULTIPART = b"multipart/form-data"
DEFAULT_CHARSET = "utf-8"
MAX_FIELDS = 1000  # as Starlette's own parser
IN_LOOP_BYTES = 64 * 1024  # decoding a form this small takes well under a millisecond


class FormError(Exception):
    """The form body cannot be read as text; ``detail`` says which field and why."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


def decode_form(body: bytes, content_type: bytes) -> list[tuple[str, str]]:
    """The (name, value) pairs of a form body, decoded with its declared charset (UTF-8 by default).

    Raises FormError for bytes that are not text in that charset, an unknown charset, a file part
    or a malformed multipart body."""
    media_type, params = _parse_content_type(content_type)
    declared = params.get("charset")
    if media_type == URLENCODED:
        raw = [(unquote_to_bytes(n.replace(b"+", b" ")), unquote_to_bytes(v.replace(b"+", b" ")))
               for n, _, v in (p.partition(b"=") for p in body.split(b"&") if p)]
    elif media_type == MULTIPART:
        raw = _multipart_fields(body, content_type)
    else:
        raise ValueError(f"not a form: {media_type!r}")
    if len(raw) > MAX_FIELDS:
        raise FormError(f"the form has {len(raw)} fields; at most {MAX_FIELDS} are read")
    charset = _codec(declared or _html_charset(raw) or DEFAULT_CHARSET)
    pairs = []
    for name, value in raw:
        key = _text(name, charset, "a field name")
        pairs.append((key, _text(value, charset, f"field '{key}'")))
    return pairs


def encode_form(pairs: list[tuple[str, str]]) -> bytes:
    """Pairs as an ASCII urlencoded body: percent-escaped UTF-8, which Starlette reads exactly
    (an HTML form's ``_charset_`` now says so too)."""
    return b"&".join(_escape(n.encode()) + b"=" + _escape(b"UTF-8" if n == "_charset_" else v.encode())
                     for n, v in pairs)


_UNSAFE = re.compile(rb"[^A-Za-z0-9*\-._]+")


def _escape(raw: bytes) -> bytes:
    """Percent-escape a run of bytes at a time (bytes.hex in C): urllib's quote goes byte by byte in
    Python, 0.5 s for a 2 MB body of Chinese text."""
    return _UNSAFE.sub(lambda run: b"%" + run[0].hex("%").encode("ascii"), raw)


class FormBodies:
    """ASGI middleware: every form body is decoded here once (see the module docstring) and handed on
    as ``application/x-www-form-urlencoded; charset=utf-8`` in ASCII, or refused with a 400."""

    def __init__(self, app: ASGIApp, uploads: frozenset[tuple[str, str]] = frozenset()) -> None:
        self.app = app
        self.uploads = uploads  # (method, path) of routes that take files (POST /imports): parsed by the route

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        content_type = _header(scope, b"content-type")
        if scope["type"] != "http" or content_type is None or \
                (scope.get("method", ""), scope["path"].rstrip("/")) in self.uploads or \
                _parse_content_type(content_type)[0] not in (URLENCODED, MULTIPART):
            await self.app(scope, receive, send)
            return
        body = await _read_body(receive)  # an outer BodyLimit still counts these chunks
        if body is None:
            return  # the client went away before it finished sending: there is no one to answer
        try:
            if len(body) > IN_LOOP_BYTES:  # a big form is decoded off the event loop, which serves everyone
                encoded = await anyio.to_thread.run_sync(_recode, body, content_type)
            else:
                encoded = _recode(body, content_type)
        except FormError as exc:
            response = _refusal(scope, exc.detail)
            await response(scope, receive, send)
            return
        headers = [(k, v) for k, v in scope["headers"] if k not in (b"content-type", b"content-length")]
        headers += [(b"content-type", URLENCODED + b"; charset=utf-8"), (b"content-length", str(len(encoded)).encode())]
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if sent:
                return await receive()  # after the body: wait for the disconnect, as the server would
            sent = True
            return {"type": "http.request", "body": encoded, "more_body": False}

        await self.app({**scope, "headers": headers}, replay, send)


def _recode(body: bytes, content_type: bytes) -> bytes:
    return encode_form(decode_form(body, content_type))


def _refusal(scope: Scope, detail: str) -> problems.Response:
    request = Request(scope)
    for prefix, render in problems.ALTERNATE_FORMATS.items():
        if request.url.path.startswith(prefix):
            return render(request, 400, detail)  # type: ignore[no-any-return]
    return problems.problem(400, "Unreadable form", detail, instance=request.url.path)


async def _read_body(receive: Receive) -> bytes | None:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope.get("headers") or []:
        if key == name:
            return bytes(value)
    return None


def _parse_content_type(value: bytes) -> tuple[bytes, dict[str, str]]:
    media_type, *rest = value.split(b";")
    params: dict[str, str] = {}
    for item in rest:
        key, _, val = item.partition(b"=")
        params[key.strip().lower().decode("latin-1")] = val.strip().strip(b'"').decode("latin-1")
    return media_type.strip().lower(), params


def _codec(name: str) -> str:
    try:
        info = codecs.lookup(name)
    except LookupError:
        raise FormError(f"the form's charset {name!r} is not a known character encoding; send UTF-8") from None
    if not getattr(info, "_is_text_encoding", True):  # base64, rot13, zlib, ...: not a charset
        raise FormError(f"the form's charset {name!r} is not a character encoding; send UTF-8")
    return info.name


def _html_charset(raw: list[tuple[bytes, bytes]]) -> str | None:
    """An HTML form sends its page's encoding in a field named ``_charset_`` (WHATWG HTML)."""
    return next((v.decode("ascii", "replace") for n, v in raw if n == b"_charset_"), None)


def _text(value: bytes, charset: str, what: str) -> str:
    try:
        return value.decode(charset)
    except UnicodeDecodeError as exc:
        raise FormError(f"{what} is not valid {charset} text (byte {exc.start + 1} of the value); "
                        f"send UTF-8 or declare the charset in Content-Type") from None


def _multipart_fields(body: bytes, content_type: bytes) -> list[tuple[bytes, bytes]]:
    fields: list[tuple[bytes, bytes]] = []
    files: list[bytes] = []

    def on_field(field: object) -> None:
        fields.append((field.field_name or b"", field.value or b""))  # type: ignore[attr-defined]

    def on_file(file: object) -> None:
        files.append(file.field_name or b"")  # type: ignore[attr-defined]

    try:
        parse_form({"Content-Type": content_type, "Content-Length": str(len(body)).encode()}, io.BytesIO(body),
                   on_field, on_file)
    except (FormParserError, ValueError) as exc:
        raise FormError(f"the multipart form body is malformed: {exc}") from None
    if files:
        names = ", ".join(repr(n.decode("utf-8", "replace")) for n in files)
        raise FormError(f"field {names} is a file upload; this service takes text fields only")
    return fields
