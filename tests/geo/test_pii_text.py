"""Personal data inside free text and log records: what is masked, what is left alone (no database)."""

from __future__ import annotations

import logging

import pytest
from pii_scan import find_personal_data

from geo.privacy import logsafe
from geo.privacy.pii import id_check_character, mask_free_text

ID = "520111199001011236"
ID = ID[:17] + id_check_character(ID[:17])
ID_X = "11010519491231002X"  # a real check character X


@pytest.mark.parametrize("written, shown", [
    (f"请联系我 13812345678，身份证{ID}", f"请联系我 138****5678，身份证5201**********{ID[-4:]}"),
    ("电话 +86 138 1234 5678。", "电话 138****5678。"),
    ("手机：+86-138-1234-5678", "手机：138****5678"),
    ("(+86)13812345678 或 008613812345678", "138****5678 或 138****5678"),
    ("全角１３８１２３４５６７８", "全角138****5678"),
    (f"证件{ID_X.lower()}号", "证件1101**********002X号"),
    ("老身份证 520111900101123", "老身份证 5201*******1123"),
    ("座机 0851-85551234", "座机 085****1234"),
    ("座机（0851）8555 1234", "座机085****1234"),
    ("北京 010-62345678 转 8", "北京 010****5678 转 8"),
    ("ID" + ID, "ID5201**********" + ID[-4:]),
    # Found by the attack on issue 12: the separators and digits people (and their phones) really type.
    ("点 138.1234.5678", "点 138****5678"),
    ("两个空格 138  1234  5678", "两个空格 138****5678"),
    ("不换行空格 138\u00a01234\u00a05678", "不换行空格 138****5678"),
    ("零宽 138\u200b1234\u200b5678", "零宽 138****5678"),
    ("制表 138\t1234\t5678 / 138_1234_5678", "制表 138****5678 / 138****5678"),
    ("斜杠 138/1234/5678，短横 138–1234–5678", "斜杠 138****5678，短横 138****5678"),
    ("数学数字 𝟏𝟑𝟖𝟏𝟐𝟑𝟒𝟓𝟔𝟕𝟖", "数学数字 138****5678"),
    ("四位一组 " + " ".join(ID[i:i + 4] for i in range(0, 18, 4)), "四位一组 5201**********" + ID[-4:]),
    ("座机 0851 - 8555 1234", "座机 085****1234"),
    # Digits spelled in Chinese characters, as people write a number past a filter (issue 13's leftover).
    ("打我电话一三八一二三四五六七八", "打我电话138****5678"),
    ("幺三八 幺二三四 五六七八", "138****5678"),
    ("壹叁捌壹贰叁肆伍陆柒捌谢谢", "138****5678谢谢"),
])
def test_numbers_in_free_text_are_masked(written: str, shown: str) -> None:
    assert mask_free_text(written) == shown
    assert find_personal_data(shown, {ID, ID_X, "13812345678"}) == []


@pytest.mark.parametrize("kept", [
    "网格 52011100120101001 已调整",  # a 17-digit grid code
    "区划 520111001201",  # a 12-digit division code
    "2026-12-01 18:43 处理完毕",
    "坐标 106.7123456, 26.5123456",
    "编号 1234567890123456789",  # 19 digits: no ID number inside a longer number
    "垃圾堆放在路边",
    "一三组和二四组之间的路灯坏了三天",  # numerals in prose, no ten-digit number
    "十一月二十三日下午三点",
    "",
])
def test_other_numbers_and_words_are_left_as_written(kept: str) -> None:
    assert mask_free_text(kept) == kept


def test_the_scanner_finds_what_masking_must_remove() -> None:
    assert find_personal_data(f"x {ID} y", ())  # a valid ID number, unplanted
    assert find_personal_data("call 138 1234 5678", {"13812345678"})  # planted, with spaces
    assert find_personal_data("张三丰 was here", {"张三丰"})
    assert find_personal_data("138****5678 5201**********1236", {"13812345678", ID}) == []


def test_log_scrub_removes_database_and_validation_echoes() -> None:
    detail = (f'(psycopg2.errors.UniqueViolation) duplicate key value violates unique constraint "r_key"\n'
              f"DETAIL:  Key (id_number)=({ID}) already exists.\n"
              f"[SQL: INSERT INTO resident (name) VALUES (%(n)s)]\n[parameters: {{'n': '张三丰', 'i': '{ID}'}}]")
    clean = logsafe.scrub(detail)
    assert "Key (id_number)=(…) already exists" in clean and "[parameters hidden]" in clean
    assert find_personal_data(clean, {ID, "张三丰"}) == []
    row = "DETAIL:  Failing row contains (7, 12, 张三丰, 5201, 13812345678)."
    assert logsafe.scrub(row) == "DETAIL:  Failing row contains (…)"
    assert logsafe.scrub('invalid input syntax for type integer: "张三丰"') == \
        'invalid input syntax for type integer: "…"'
    pyd = "Input should be a valid integer [type=int_parsing, input_value='张三丰 13812345678', input_type=str]"
    assert "张三丰" not in logsafe.scrub(pyd)
    errors = ("1 validation error:\n"
              "  {'type': 'missing', 'loc': ('body', 'a'), 'msg': 'x', 'input': {'name': '张三丰'}}")
    assert "张三丰" not in logsafe.scrub(errors) and "'msg': 'x'" in logsafe.scrub(errors)


def test_every_record_is_scrubbed_message_args_and_exception(caplog: pytest.LogCaptureFixture) -> None:
    logsafe.install()
    logsafe.install()  # idempotent: one wrapper
    log = logging.getLogger("gridmap.test")
    caplog.set_level(logging.DEBUG)
    log.debug("resident %s phone %s", ID, 13812345678)  # a phone passed as an int
    log.info("dict %(p)s", {"p": "0851-85551234"})
    try:
        raise RuntimeError(f"DETAIL: Failing row contains (1, 张三丰, {ID})")
    except RuntimeError:
        log.exception("insert failed for %s", "13812345678")
    log.warning("stack", stack_info=True)
    assert find_personal_data(caplog.text, {ID, "13812345678", "张三丰", "0851-85551234"}) == []
    assert "Failing row contains (…)" in caplog.text and "RuntimeError" in caplog.text
