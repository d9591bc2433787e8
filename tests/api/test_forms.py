"""Form bodies are read as text in the client's charset, once for every route (api/forms.py):
raw UTF-8 bytes, percent-escapes, a declared GBK/GB18030 charset, multipart — or a 400 that says why."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from api.forms import FormError, decode_form, encode_form

FORM = b"application/x-www-form-urlencoded"
TEXT = "垃圾成堆，臭味很大 & 100% 真的"


def _raw(pairs: dict[str, str], charset: str = "utf-8") -> bytes:
    """A body as many gateways send it: the bytes of the text, only '&', '=', '%' and '+' escaped."""
    def esc(s: str) -> bytes:
        return s.replace("%", "%25").replace("&", "%26").replace("=", "%3D").replace("+", "%2B").encode(charset)
    return b"&".join(esc(k) + b"=" + esc(v) for k, v in pairs.items())


def _multipart(pairs: dict[str, str], boundary: str = "gm-boundary", charset: str = "utf-8") -> bytes:
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode(charset)
             for k, v in pairs.items()]
    return b"".join(parts) + f"--{boundary}--\r\n".encode()


@pytest.mark.parametrize(("body", "content_type"), [
    (_raw({"description": TEXT}), FORM),
    (_raw({"description": TEXT}), FORM + b"; charset=utf-8"),
    (_raw({"description": TEXT}), FORM + b"; charset=UTF8"),
    (("description=" + quote(TEXT)).encode(), FORM),  # percent-escaped UTF-8, the browsers' way
    (_raw({"description": TEXT}, "gbk"), FORM + b"; charset=GBK"),
    (_raw({"description": TEXT}, "gb18030"), FORM + b'; charset="gb18030"'),
    (("description=" + quote(TEXT, encoding="gbk")).encode(), FORM + b"; charset=gbk"),  # escapes are GBK too
    (_raw({"_charset_": "GB18030", "description": TEXT}, "gb18030"), FORM),  # an HTML form says it in _charset_
    (_multipart({"description": TEXT}), b"multipart/form-data; boundary=gm-boundary"),
    (_multipart({"description": TEXT}, charset="gbk"), b"multipart/form-data; charset=gbk; boundary=gm-boundary"),
], ids=["raw", "raw-declared", "raw-utf8-alias", "percent", "gbk", "gb18030", "gbk-percent", "_charset_",
        "multipart", "multipart-gbk"])
def test_text_is_decoded_in_the_declared_charset(body: bytes, content_type: bytes) -> None:
    pairs = dict(decode_form(body, content_type))
    assert pairs["description"] == TEXT
    again = dict(decode_form(encode_form(list(pairs.items())), FORM))  # what the route's parser is handed
    assert again["description"] == TEXT and encode_form(list(pairs.items())).isascii()


@pytest.mark.parametrize(("body", "content_type", "says"), [
    (_raw({"description": TEXT}, "gbk"), FORM, "field 'description' is not valid utf-8"),
    (_raw({"description": TEXT}, "gbk"), FORM + b"; charset=utf-8", "field 'description' is not valid utf-8"),
    (b"description=%B9%FE", FORM, "field 'description' is not valid utf-8"),  # escaped bytes are checked as well
    (_raw({"描述": "x"}, "gbk"), FORM, "a field name is not valid utf-8"),
    (b"a=b", FORM + b"; charset=klingon", "'klingon' is not a known character encoding"),
    (b"a=b", FORM + b"; charset=base64", "'base64' is not a character encoding"),
    (_multipart({"description": TEXT}, charset="gbk"), b"multipart/form-data; boundary=gm-boundary",
     "field 'description' is not valid utf-8"),
    (b'--b\r\nContent-Disposition: form-data; name="media"; filename="a.jpg"\r\n\r\nxx\r\n--b--\r\n',
     b"multipart/form-data; boundary=b", "field 'media' is a file upload"),
    (b"&".join([b"a=1"] * 1001), FORM, "at most 1000"),
])
def test_unreadable_forms_are_refused_saying_why(body: bytes, content_type: bytes, says: str) -> None:
    with pytest.raises(FormError) as refused:
        decode_form(body, content_type)
    assert says in refused.value.detail


@pytest.fixture
def chinese_user(session: Session) -> tuple[str, str]:
    from geo.access.permissions import Role
    from geo.access.security import create_user

    create_user(session, username="网格员张三", password="密码是长城-2026", role=Role.VIEWER)
    return "网格员张三", "密码是长城-2026"


@pytest.mark.parametrize("encoding", ["percent", "raw", "gbk", "multipart"])
def test_sign_in_form_reads_chinese_in_every_encoding(anonymous: TestClient, chinese_user: tuple[str, str],
                                                      encoding: str) -> None:
    username, password = chinese_user
    fields = {"username": username, "password": password}
    if encoding == "percent":
        r = anonymous.post("/auth/token", data=fields)
    elif encoding == "raw":
        r = anonymous.post("/auth/token", content=_raw(fields), headers={"Content-Type": FORM.decode()})
    elif encoding == "gbk":
        r = anonymous.post("/auth/token", content=_raw(fields, "gbk"),
                           headers={"Content-Type": "application/x-www-form-urlencoded; charset=gbk"})
    else:
        r = anonymous.post("/auth/token", content=_multipart(fields),
                           headers={"Content-Type": "multipart/form-data; boundary=gm-boundary"})
    assert r.status_code == 200, r.text
    assert r.json()["user"]["username"] == username


def test_sign_in_form_in_an_undeclared_charset_is_a_400_problem(anonymous: TestClient,
                                                                chinese_user: tuple[str, str]) -> None:
    username, password = chinese_user
    r = anonymous.post("/auth/token", content=_raw({"username": username, "password": password}, "gbk"),
                       headers={"Content-Type": FORM.decode()})
    assert r.status_code == 400 and r.headers["content-type"].startswith("application/problem+json")
    assert "field 'username' is not valid utf-8" in r.json()["detail"]
    assert password not in r.text and username not in r.text  # the refusal never repeats what was sent
